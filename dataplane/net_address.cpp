// Parsing, formatting, comparing and hashing of UDP endpoints.
#include "dataplane/net_address.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace shortline {
namespace {

std::optional<uint16_t> parse_port(std::string_view text) {
  unsigned value = 0;
  const auto* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc{} || ptr != end || value > 65535) return std::nullopt;
  return static_cast<uint16_t>(value);
}

uint64_t mix(uint64_t h, uint64_t v) {
  h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
  return h;
}

}  // namespace

std::optional<NetAddress> NetAddress::parse(std::string_view text) {
  std::string_view host;
  std::string_view port_text;
  bool bracketed = false;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return std::nullopt;
    host = text.substr(1, close - 1);
    port_text = text.substr(close + 2);
    bracketed = true;
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) return std::nullopt;  // v6 needs brackets
  }
  const auto port = parse_port(port_text);
  if (!port || host.empty() || host.size() >= INET6_ADDRSTRLEN) return std::nullopt;
  std::string host_z(host);
  if (host_z == "localhost") host_z = "127.0.0.1";
  NetAddress result;
  if (!bracketed) {
    auto* v4 = reinterpret_cast<sockaddr_in*>(&result.storage);
    if (inet_pton(AF_INET, host_z.c_str(), &v4->sin_addr) != 1) return std::nullopt;
    v4->sin_family = AF_INET;
    v4->sin_port = htons(*port);
    result.length = sizeof(sockaddr_in);
    return result;
  }
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&result.storage);
  if (inet_pton(AF_INET6, host_z.c_str(), &v6->sin6_addr) != 1) return std::nullopt;
  v6->sin6_family = AF_INET6;
  v6->sin6_port = htons(*port);
  result.length = sizeof(sockaddr_in6);
  return result;
}

NetAddress NetAddress::from_sockaddr(const sockaddr* address, socklen_t length) {
  NetAddress result;
  if (address == nullptr) return result;
  if (address->sa_family == AF_INET && length >= sizeof(sockaddr_in)) {
    std::memcpy(&result.storage, address, sizeof(sockaddr_in));
    result.length = sizeof(sockaddr_in);
  } else if (address->sa_family == AF_INET6 && length >= sizeof(sockaddr_in6)) {
    std::memcpy(&result.storage, address, sizeof(sockaddr_in6));
    result.length = sizeof(sockaddr_in6);
  }
  return result;
}

uint16_t NetAddress::port() const {
  if (family() == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&storage)->sin_port);
  if (family() == AF_INET6)
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_port);
  return 0;
}

void NetAddress::set_port(uint16_t port) {
  if (family() == AF_INET) reinterpret_cast<sockaddr_in*>(&storage)->sin_port = htons(port);
  if (family() == AF_INET6) reinterpret_cast<sockaddr_in6*>(&storage)->sin6_port = htons(port);
}

bool NetAddress::is_loopback() const {
  if (family() == AF_INET) {
    const auto addr = ntohl(reinterpret_cast<const sockaddr_in*>(&storage)->sin_addr.s_addr);
    return (addr >> 24) == 127;
  }
  if (family() == AF_INET6) {
    const auto& a6 = reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_addr;
    if (IN6_IS_ADDR_LOOPBACK(&a6)) return true;
    return IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127;
  }
  return false;
}

std::string NetAddress::to_string() const {
  // Built by append: gcc 12 warns falsely (-Wrestrict) on chained operator+ at -O3.
  char text[INET6_ADDRSTRLEN] = {};
  std::string result;
  if (family() == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage)->sin_addr, text,
              sizeof(text));
    result.append(text);
  } else if (family() == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_addr, text,
              sizeof(text));
    result.append("[").append(text).append("]");
  } else {
    return "(none)";
  }
  result.append(":").append(std::to_string(port()));
  return result;
}

std::string NetAddress::host() const {
  std::string text = to_string();
  text.resize(text.rfind(':'));
  if (text.size() >= 2 && text.front() == '[') text = text.substr(1, text.size() - 2);
  return text;
}

bool NetAddress::is_wildcard() const {
  if (family() == AF_INET)
    return reinterpret_cast<const sockaddr_in*>(&storage)->sin_addr.s_addr == htonl(INADDR_ANY);
  return family() == AF_INET6 &&
         IN6_IS_ADDR_UNSPECIFIED(&reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_addr);
}

uint64_t NetAddress::hash() const {
  uint64_t h = static_cast<uint64_t>(family());
  if (family() == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&storage);
    h = mix(h, v4->sin_addr.s_addr);
    return mix(h, v4->sin_port);
  }
  if (family() == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&storage);
    uint64_t words[2];
    std::memcpy(words, &v6->sin6_addr, sizeof(words));
    h = mix(mix(h, words[0]), words[1]);
    return mix(h, v6->sin6_port);
  }
  return h;
}

bool operator==(const NetAddress& a, const NetAddress& b) {
  if (a.family() != b.family()) return false;
  if (a.family() == AF_INET) {
    const auto* x = reinterpret_cast<const sockaddr_in*>(&a.storage);
    const auto* y = reinterpret_cast<const sockaddr_in*>(&b.storage);
    return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
  }
  if (a.family() == AF_INET6) {
    const auto* x = reinterpret_cast<const sockaddr_in6*>(&a.storage);
    const auto* y = reinterpret_cast<const sockaddr_in6*>(&b.storage);
    return x->sin6_port == y->sin6_port &&
           std::memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(in6_addr)) == 0;
  }
  return a.length == b.length;
}

std::optional<NetAddress> bound_udp_address(int fd) {
  int type = 0;
  socklen_t type_length = sizeof(type);
  NetAddress bound;
  socklen_t length = sizeof(bound.storage);
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &type_length) != 0 || type != SOCK_DGRAM ||
      getsockname(fd, bound.sockaddr_ptr(), &length) != 0)
    return std::nullopt;
  bound.length = length;
  return bound;
}

}  // namespace shortline

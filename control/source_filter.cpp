// Source prefixes: parsing with inet_pton, matching by leading bits.
#include "control/source_filter.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace shortline {
namespace {

constexpr std::size_t kTextCharsMax = 64;  // longer than any IPv6 literal with a prefix

// The address bytes of a source (4 or 16), v4-mapped IPv6 unwrapped; 0 when no family.
std::size_t source_bytes(const NetAddress& source, std::array<uint8_t, 16>& out) {
  if (source.family() == AF_INET) {
    const auto* in4 = reinterpret_cast<const sockaddr_in*>(&source.storage);
    std::memcpy(out.data(), &in4->sin_addr, 4);
    return 4;
  }
  if (source.family() == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&source.storage);
    if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
      std::memcpy(out.data(), &in6->sin6_addr.s6_addr[12], 4);
      return 4;
    }
    std::memcpy(out.data(), &in6->sin6_addr, 16);
    return 16;
  }
  return 0;
}

}  // namespace

std::optional<SourcePrefix> SourcePrefix::parse(std::string_view text) {
  if (text.empty() || text.size() > kTextCharsMax) return std::nullopt;
  const auto slash = text.find('/');
  const std::string host(text.substr(0, slash));
  SourcePrefix prefix;
  if (inet_pton(AF_INET, host.c_str(), prefix.bytes.data()) == 1) {
    prefix.family_version = 4;
    prefix.prefix_bits = 32;
  } else if (inet_pton(AF_INET6, host.c_str(), prefix.bytes.data()) == 1) {
    prefix.family_version = 6;
    prefix.prefix_bits = 128;
  } else {
    return std::nullopt;
  }
  if (slash == std::string_view::npos) return prefix;
  const std::string_view bits_text = text.substr(slash + 1);
  unsigned bits = 0;
  const auto [end, error] =
      std::from_chars(bits_text.data(), bits_text.data() + bits_text.size(), bits);
  if (bits_text.empty() || error != std::errc{} || end != bits_text.data() + bits_text.size() ||
      bits > prefix.prefix_bits)
    return std::nullopt;
  prefix.prefix_bits = static_cast<uint8_t>(bits);
  return prefix;
}

bool SourcePrefix::matches(const NetAddress& source) const {
  std::array<uint8_t, 16> address{};
  const std::size_t length = source_bytes(source, address);
  if (length != (family_version == 4 ? 4u : 16u)) return false;
  const std::size_t whole = prefix_bits / 8u;
  if (std::memcmp(address.data(), bytes.data(), whole) != 0) return false;
  const unsigned rest = prefix_bits % 8u;
  if (rest == 0) return true;
  const auto mask = static_cast<uint8_t>(0xffu << (8u - rest));
  return (address[whole] & mask) == (bytes[whole] & mask);
}

std::string SourcePrefix::to_string() const {
  char text[INET6_ADDRSTRLEN] = {};
  inet_ntop(family_version == 4 ? AF_INET : AF_INET6, bytes.data(), text, sizeof(text));
  std::string out(text);
  return out.append("/").append(std::to_string(prefix_bits));
}

std::vector<SourcePrefix> loopback_sources() {
  return {*SourcePrefix::parse("127.0.0.0/8"), *SourcePrefix::parse("::1/128")};
}

bool within_loopback(const SourcePrefix& prefix) {
  if (prefix.family_version == 4) return prefix.prefix_bits >= 8 && prefix.bytes[0] == 127;
  return prefix == *SourcePrefix::parse("::1/128");
}

bool source_allowed(std::span<const SourcePrefix> allowed, const NetAddress& source) {
  for (const auto& prefix : allowed)
    if (prefix.matches(source)) return true;
  return false;
}

}  // namespace shortline

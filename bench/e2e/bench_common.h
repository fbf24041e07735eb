// Helpers shared by the end-to-end benchmark binaries: flag parsing,
// UDP socket setup and a fixed batch of datagram buffers for recvmmsg/sendmmsg.
#pragma once

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "dataplane/monotonic_clock.h"
#include "dataplane/net_address.h"

namespace shortline::bench {

inline constexpr size_t kBatchMax = 64;             // datagrams per recvmmsg/sendmmsg call
inline constexpr size_t kDatagramMax = 2048;        // larger datagrams are truncated
inline constexpr int kSocketBufferBytes = 4 << 20;  // capped by net.core.[rw]mem_max

[[noreturn]] inline void die(std::string_view what) {
  std::fprintf(stderr, "error: %.*s (%s)\n", static_cast<int>(what.size()), what.data(),
               errno != 0 ? std::strerror(errno) : "no errno");
  std::exit(2);
}

[[noreturn]] inline void usage_error(std::string_view what) {
  std::fprintf(stderr, "usage error: %.*s\n", static_cast<int>(what.size()), what.data());
  std::exit(2);
}

// "--name value" or "--name=value" pairs; a name may repeat. Names listed in `switches` take
// no value ("--churn"; has() tells whether one was given). Unknown names are an error.
class Flags {
 public:
  Flags(int argc, char** argv, std::initializer_list<std::string_view> known,
        std::initializer_list<std::string_view> switches = {}) {
    for (int i = 1; i < argc; ++i) {
      std::string_view arg = argv[i];
      if (arg.substr(0, 2) != "--") usage_error(std::string("unexpected argument ") + argv[i]);
      arg.remove_prefix(2);
      std::string name(arg.substr(0, arg.find('=')));
      if (contains(switches, name)) {
        if (arg.find('=') != std::string_view::npos) usage_error("--" + name + " takes no value");
        pairs_.emplace_back(std::move(name), "1");
        continue;
      }
      std::string value;
      if (arg.find('=') != std::string_view::npos) {
        value = std::string(arg.substr(arg.find('=') + 1));
      } else if (i + 1 < argc) {
        value = argv[++i];
      } else {
        usage_error("--" + name + " needs a value");
      }
      if (!contains(known, name)) usage_error("unknown flag --" + name);
      pairs_.emplace_back(std::move(name), std::move(value));
    }
  }

  [[nodiscard]] bool has(std::string_view name) const { return !all(name).empty(); }

  [[nodiscard]] std::vector<std::string> all(std::string_view name) const {
    std::vector<std::string> values;
    for (const auto& [k, v] : pairs_)
      if (k == name) values.push_back(v);
    return values;
  }

  [[nodiscard]] std::string text(std::string_view name, std::string fallback) const {
    auto values = all(name);
    return values.empty() ? fallback : values.back();
  }

  [[nodiscard]] uint64_t count(std::string_view name, uint64_t fallback) const {
    auto values = all(name);
    if (values.empty()) return fallback;
    uint64_t value = 0;
    const auto& t = values.back();
    auto [ptr, ec] = std::from_chars(t.data(), t.data() + t.size(), value);
    if (ec != std::errc{} || ptr != t.data() + t.size())
      usage_error("--" + std::string(name) + " wants a whole number, not " + t);
    return value;
  }

  [[nodiscard]] double seconds(std::string_view name, double fallback) const {
    return number(name, fallback, "seconds");
  }

  // A decimal number >= 0 ("1.5"); `what` names it in the error message.
  [[nodiscard]] double number(std::string_view name, double fallback,
                              std::string_view what = "a number") const {
    auto values = all(name);
    if (values.empty()) return fallback;
    char* end = nullptr;
    const double value = std::strtod(values.back().c_str(), &end);
    if (end == values.back().c_str() || *end != '\0' || !(value >= 0))
      usage_error("--" + std::string(name) + " wants " + std::string(what) + " >= 0, not " +
                  values.back());
    return value;
  }

 private:
  static bool contains(std::initializer_list<std::string_view> names, std::string_view name) {
    for (auto n : names)
      if (n == name) return true;
    return false;
  }

  std::vector<std::pair<std::string, std::string>> pairs_;
};

inline NetAddress parse_address_or_die(std::string_view text) {
  auto address = NetAddress::parse(text);
  if (!address) usage_error("bad address " + std::string(text) + " (want HOST:PORT or [V6]:PORT)");
  return *address;
}

// Splits "a,b,c" into its parts (empty parts dropped).
inline std::vector<std::string> split_commas(std::string_view text) {
  std::vector<std::string> parts;
  while (!text.empty()) {
    const auto comma = text.find(',');
    if (comma != 0) parts.emplace_back(text.substr(0, comma));
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return parts;
}

// A non-blocking UDP socket with large buffers, bound to `local` when it has a family.
inline int open_udp_socket(int family, const NetAddress* local) {
  const int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket");
  const int bytes = kSocketBufferBytes;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes));
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof(bytes));
  if (local != nullptr && bind(fd, local->sockaddr_ptr(), local->length) != 0)
    die("bind " + local->to_string());
  return fd;
}

inline NetAddress local_address_of(int fd) {
  sockaddr_storage storage{};
  socklen_t length = sizeof(storage);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&storage), &length) != 0) die("getsockname");
  return NetAddress::from_sockaddr(reinterpret_cast<const sockaddr*>(&storage), length);
}

// kBatchMax datagram buffers with their headers, allocated once by the owner.
struct DatagramBatch {
  std::array<mmsghdr, kBatchMax> msgs{};
  std::array<iovec, kBatchMax> iovs{};
  std::array<sockaddr_storage, kBatchMax> peers{};
  std::array<std::array<char, kDatagramMax>, kBatchMax> buffers{};

  // Readies slot i to receive a datagram (and its source address when with_peer).
  void arm_receive(size_t i, bool with_peer) {
    iovs[i] = {buffers[i].data(), kDatagramMax};
    msgs[i].msg_hdr = {};
    msgs[i].msg_hdr.msg_iov = &iovs[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
    if (with_peer) {
      msgs[i].msg_hdr.msg_name = &peers[i];
      msgs[i].msg_hdr.msg_namelen = sizeof(sockaddr_storage);
    }
    msgs[i].msg_len = 0;
  }

  // Receives up to `count` datagrams into slots [first, first + count); returns how many.
  int receive(int fd, size_t first, size_t count, bool with_peer) {
    for (size_t i = first; i < first + count; ++i) arm_receive(i, with_peer);
    return recvmmsg(fd, &msgs[first], static_cast<unsigned>(count), MSG_DONTWAIT, nullptr);
  }
};

// Sends msgs[0, count) on fd, retrying the remainder a bounded number of times while the
// socket buffer is full. A datagram that fails hard (e.g. ECONNREFUSED left by an earlier
// ICMP error) is skipped. Returns how many were sent; the caller counts the rest as dropped.
inline size_t send_all(int fd, mmsghdr* msgs, size_t count) {
  size_t done = 0;
  size_t sent = 0;
  for (int attempt = 0; done < count && attempt < 64; ++attempt) {
    const int n = sendmmsg(fd, msgs + done, static_cast<unsigned>(count - done), MSG_DONTWAIT);
    if (n > 0) {
      done += static_cast<size_t>(n);
      sent += static_cast<size_t>(n);
    } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOBUFS &&
               errno != EINTR) {
      ++done;
    }
  }
  return sent;
}

}  // namespace shortline::bench

// An IPv4 or IPv6 UDP endpoint held in a sockaddr_storage, with parsing and formatting.
// Plain value type: copied into sessions and pool snapshots, never allocated per packet.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace shortline {

struct NetAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;

  // Parses "1.2.3.4:53", "[::1]:53" or "localhost:53" (numeric hosts and "localhost" only,
  // no DNS: a balancer must not block on a resolver). Returns nullopt when malformed.
  [[nodiscard]] static std::optional<NetAddress> parse(std::string_view text);
  [[nodiscard]] static NetAddress from_sockaddr(const sockaddr* address, socklen_t length);

  [[nodiscard]] int family() const { return storage.ss_family; }
  [[nodiscard]] uint16_t port() const;
  void set_port(uint16_t port);
  [[nodiscard]] const sockaddr* sockaddr_ptr() const {
    return reinterpret_cast<const sockaddr*>(&storage);
  }
  [[nodiscard]] sockaddr* sockaddr_ptr() { return reinterpret_cast<sockaddr*>(&storage); }
  [[nodiscard]] bool is_loopback() const;
  // 0.0.0.0 or [::]: a listen on every local address.
  [[nodiscard]] bool is_wildcard() const;
  // "1.2.3.4:53" or "[::1]:53".
  [[nodiscard]] std::string to_string() const;
  // The address without port or brackets: "1.2.3.4" or "::1".
  [[nodiscard]] std::string host() const;
  // Hash of family, address and port; equal addresses hash equally.
  [[nodiscard]] uint64_t hash() const;

  friend bool operator==(const NetAddress& a, const NetAddress& b);
};

// Where the UDP socket `fd` is bound; nullopt when fd is not a UDP socket (sockets passed
// in by a predecessor or the service manager are checked with it).
[[nodiscard]] std::optional<NetAddress> bound_udp_address(int fd);

}  // namespace shortline

// A compact, hashable key for a client endpoint plus the server slot it talks to
// (packet affinity) or kAnyServer (flow affinity), and the client's socket name kept
// for sending replies back.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <cstring>

namespace shortline {

struct ClientName {
  sockaddr_in6 storage{};  // large enough for sockaddr_in too
  socklen_t length = 0;
};

// The local address a client sent to (from IP_PKTINFO / IPV6_PKTINFO), where its replies
// must leave from. family 0: not recorded (a listen on one address needs none).
struct LocalAddress {
  in6_pktinfo info{};  // for IPv4 the address is in the first 4 bytes of ipi6_addr
  uint16_t family = 0;
};

struct FlowKey {
  static constexpr uint32_t kAnyServer = UINT32_MAX;

  uint64_t address_high = 0;  // IPv6 bytes 0..7 (0 for IPv4)
  uint64_t address_low = 0;   // IPv6 bytes 8..15, or the IPv4 address
  uint32_t server_slot = kAnyServer;
  uint16_t port = 0;          // network byte order
  uint16_t family = 0;

  // Returns a key with family 0 when the name is neither IPv4 nor IPv6.
  [[nodiscard]] static FlowKey from_name(const sockaddr* name, socklen_t length,
                                         uint32_t server_slot) {
    FlowKey key;
    key.server_slot = server_slot;
    if (name == nullptr) return key;
    if (name->sa_family == AF_INET && length >= sizeof(sockaddr_in)) {
      sockaddr_in v4;
      std::memcpy(&v4, name, sizeof(v4));
      key.address_low = v4.sin_addr.s_addr;
      key.port = v4.sin_port;
      key.family = AF_INET;
    } else if (name->sa_family == AF_INET6 && length >= sizeof(sockaddr_in6)) {
      sockaddr_in6 v6;
      std::memcpy(&v6, name, sizeof(v6));
      std::memcpy(&key.address_high, &v6.sin6_addr, 8);
      std::memcpy(&key.address_low, reinterpret_cast<const char*>(&v6.sin6_addr) + 8, 8);
      key.port = v6.sin6_port;
      key.family = AF_INET6;
    }
    return key;
  }

  // Keyed with a per-process seed: without it, clients who choose their addresses and
  // ports could aim every session at one probe chain. Each word goes through the
  // splitmix64 finaliser (a bijection) chained on the seed.
  [[nodiscard]] uint64_t hash(uint64_t seed = 0) const {
    uint64_t h = mix(seed ^ 0x9e3779b97f4a7c15ULL);
    h = mix(h ^ address_high);
    h = mix(h ^ address_low);
    return mix(h ^ (uint64_t{family} << 48 | uint64_t{port} << 32 | server_slot));
  }

  friend bool operator==(const FlowKey&, const FlowKey&) = default;

 private:
  [[nodiscard]] static uint64_t mix(uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
  }
};

}  // namespace shortline

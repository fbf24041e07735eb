// Which source addresses may send control messages: a list of IPv4/IPv6 prefixes (CIDR)
// parsed once at start-up and matched per datagram without allocating.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/net_address.h"

namespace shortline {

struct SourcePrefix {
  uint8_t family_version = 4;           // 4 or 6
  std::array<uint8_t, 16> bytes{};      // network order; IPv4 uses the first 4
  uint8_t prefix_bits = 32;             // 0..32 (IPv4) or 0..128 (IPv6)

  // "127.0.0.0/8", "10.1.2.3" (= /32), "::1/128", "::1" (= /128). Brackets are not
  // accepted: a prefix is not an endpoint. Returns nullopt when malformed.
  [[nodiscard]] static std::optional<SourcePrefix> parse(std::string_view text);
  // A source matches when its address (ports are ignored) lies inside the prefix. An
  // IPv4-mapped IPv6 source (::ffff:a.b.c.d, from a dual-stack socket) is matched as IPv4.
  [[nodiscard]] bool matches(const NetAddress& source) const;
  [[nodiscard]] std::string to_string() const;

  friend bool operator==(const SourcePrefix&, const SourcePrefix&) = default;
};

// The default allow list: loopback only ("127.0.0.0/8", "::1/128").
[[nodiscard]] std::vector<SourcePrefix> loopback_sources();

// True when every address the prefix matches is a loopback one (inside 127.0.0.0/8, or
// ::1/128 itself): such a source is a process on this host.
[[nodiscard]] bool within_loopback(const SourcePrefix& prefix);

// True when any prefix matches (an empty list allows nothing).
[[nodiscard]] bool source_allowed(std::span<const SourcePrefix> allowed, const NetAddress& source);

}  // namespace shortline

// Recognising a DNS query in a UDP payload, and the 16-bit message ID at its start. Replay
// matches DNS replies to requests by that ID (which it rewrites per send), and anything else
// by flow in send order.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace shortline::replay {

inline constexpr size_t kDnsHeaderBytes = 12;

// True when payload is a well-formed standard DNS query: a 12-byte header with QR clear,
// exactly one question and no answers or authority records, and the question's name and
// type/class inside the payload. Strict on purpose: other UDP protocols (RADIUS, DHCP, ...)
// with random bytes where DNS keeps its counts almost never pass.
[[nodiscard]] bool is_dns_query(std::span<const std::byte> payload);

// The message ID (first two bytes, network order); payload must hold at least two bytes.
[[nodiscard]] inline uint16_t dns_message_id(std::span<const std::byte> payload) {
  return static_cast<uint16_t>((std::to_integer<unsigned>(payload[0]) << 8) |
                               std::to_integer<unsigned>(payload[1]));
}

}  // namespace shortline::replay

// Pure decoding of one captured frame (link layer, VLAN tags, IPv4/IPv6, UDP) into a datagram.
// No I/O and no allocation: unit-tested on byte arrays, fuzzed through the capture reader.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "dataplane/net_address.h"

namespace shortline::replay {

// Why a captured record did not yield a UDP datagram. kOk is not a skip.
enum class DecodeStatus : uint8_t {
  kOk,
  kNotUdp,             // another protocol (ARP, TCP, ICMP, ESP, 802.3 LLC frames ...)
  kFragment,           // an IP fragment: reassembly is out of scope
  kTruncated,          // cut short by the capture's snapshot length, complete on the wire
  kMalformed,          // headers that contradict each other or the wire length
  kUnsupportedLink,    // a link type this decoder does not know
};

[[nodiscard]] std::string_view to_string(DecodeStatus status);

// One UDP datagram as recorded. payload points into the caller's frame buffer.
struct Datagram {
  uint64_t timestamp_ns = 0;
  NetAddress src;
  NetAddress dst;
  std::span<const std::byte> payload;
};

// Limits of the decoder, documented where they live.
struct DecodeLimits {
  static constexpr int kVlanTagsMax = 4;          // 802.1Q, QinQ and a little more
  static constexpr int kIpv6ExtHeadersMax = 16;   // a longer chain is treated as malformed
};

// Link types (libpcap DLT_* values as pcap_datalink returns them) that decode_frame accepts.
[[nodiscard]] bool link_type_supported(int dlt);

// Decodes one frame of link type `dlt`. `frame` holds the captured bytes, `wire_length` the
// original length on the wire (>= frame.size() in a sane capture). On kOk fills out.src,
// out.dst and out.payload (a subspan of frame); never reads outside frame.
[[nodiscard]] DecodeStatus decode_frame(int dlt, std::span<const std::byte> frame,
                                        uint32_t wire_length, Datagram& out);

// Decodes from an IP header onwards (version 4 or 6 taken from the first nibble).
[[nodiscard]] DecodeStatus decode_ip(std::span<const std::byte> packet, uint32_t wire_length,
                                     Datagram& out);

}  // namespace shortline::replay

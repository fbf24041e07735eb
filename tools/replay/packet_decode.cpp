// Decoding of captured frames: Ethernet/SLL/SLL2/NULL/raw link headers, VLAN tags, IPv4,
// IPv6 with its extension-header chain, and UDP. Every read is bounds-checked first.
#include "tools/replay/packet_decode.h"

#include <pcap/dlt.h>

#include <algorithm>
#include <cstring>

namespace shortline::replay {
namespace {

constexpr uint16_t kEtherTypeIpv4 = 0x0800;
constexpr uint16_t kEtherTypeIpv6 = 0x86DD;
constexpr uint16_t kEtherTypeVlan = 0x8100;   // 802.1Q
constexpr uint16_t kEtherTypeQinQ = 0x88A8;   // 802.1ad
constexpr uint16_t kEtherTypeQinQOld = 0x9100;
constexpr uint8_t kProtoUdp = 17;
constexpr size_t kUdpHeaderBytes = 8;
constexpr size_t kIpv4HeaderBytesMin = 20;
constexpr size_t kIpv6HeaderBytes = 40;
// Raw IP is DLT 12 or 14 depending on the platform's headers; 101 is LINKTYPE_RAW as stored.
constexpr int kDltRawA = 12;
constexpr int kDltRawB = 14;
constexpr int kLinktypeRaw = 101;

// The bytes from some header onwards: what was captured, and how many the wire carried.
struct View {
  std::span<const std::byte> captured;
  uint64_t wire = 0;  // >= captured.size()

  // kOk when n bytes were captured; kTruncated when only the capture cut them off.
  [[nodiscard]] DecodeStatus need(uint64_t n) const {
    if (n <= captured.size()) return DecodeStatus::kOk;
    return n <= wire ? DecodeStatus::kTruncated : DecodeStatus::kMalformed;
  }
  // The view from offset on; offset must have been checked with need().
  [[nodiscard]] View from(size_t offset) const {
    return View{captured.subspan(offset), wire - offset};
  }
  // The first n bytes (n <= wire): trims link-layer padding after an IP packet.
  [[nodiscard]] View limit(uint64_t n) const {
    const auto kept = static_cast<size_t>(std::min<uint64_t>(n, captured.size()));
    return View{captured.first(kept), n};
  }
  [[nodiscard]] uint8_t u8(size_t offset) const {
    return std::to_integer<uint8_t>(captured[offset]);
  }
  [[nodiscard]] uint16_t be16(size_t offset) const {
    return static_cast<uint16_t>((u8(offset) << 8) | u8(offset + 1));
  }
};

NetAddress make_v4(const View& v, size_t offset, uint16_t port) {
  NetAddress address;
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(port);
  std::memcpy(&sin.sin_addr, v.captured.data() + offset, 4);
  std::memcpy(&address.storage, &sin, sizeof(sin));
  address.length = sizeof(sin);
  return address;
}

NetAddress make_v6(const View& v, size_t offset, uint16_t port) {
  NetAddress address;
  sockaddr_in6 sin6{};
  sin6.sin6_family = AF_INET6;
  sin6.sin6_port = htons(port);
  std::memcpy(&sin6.sin6_addr, v.captured.data() + offset, 16);
  std::memcpy(&address.storage, &sin6, sizeof(sin6));
  address.length = sizeof(sin6);
  return address;
}

// UDP header and payload. `udp` starts at the UDP header, its wire length is what the IP
// header left for it; `ip_header` holds the addresses (IPv4 at 12/16, IPv6 at 8/24).
DecodeStatus decode_udp(const View& udp, const View& ip_header, bool v6, Datagram& out) {
  if (auto s = udp.need(kUdpHeaderBytes); s != DecodeStatus::kOk) return s;
  const uint16_t udp_length = udp.be16(4);
  if (udp_length < kUdpHeaderBytes || udp_length > udp.wire) return DecodeStatus::kMalformed;
  if (auto s = udp.need(udp_length); s != DecodeStatus::kOk) return s;
  const uint16_t src_port = udp.be16(0);
  const uint16_t dst_port = udp.be16(2);
  if (v6) {
    out.src = make_v6(ip_header, 8, src_port);
    out.dst = make_v6(ip_header, 24, dst_port);
  } else {
    out.src = make_v4(ip_header, 12, src_port);
    out.dst = make_v4(ip_header, 16, dst_port);
  }
  out.payload = udp.captured.subspan(kUdpHeaderBytes, udp_length - kUdpHeaderBytes);
  return DecodeStatus::kOk;
}

DecodeStatus decode_ipv4(const View& v, Datagram& out) {
  if (auto s = v.need(kIpv4HeaderBytesMin); s != DecodeStatus::kOk) return s;
  if ((v.u8(0) >> 4) != 4) return DecodeStatus::kMalformed;
  const size_t header_bytes = static_cast<size_t>(v.u8(0) & 0x0F) * 4;
  const uint16_t total_length = v.be16(2);
  if (header_bytes < kIpv4HeaderBytesMin || total_length < header_bytes ||
      total_length > v.wire)
    return DecodeStatus::kMalformed;
  const uint16_t fragment = v.be16(6);
  const bool more_fragments = (fragment & 0x2000) != 0;
  if (more_fragments || (fragment & 0x1FFF) != 0) return DecodeStatus::kFragment;
  if (v.u8(9) != kProtoUdp) return DecodeStatus::kNotUdp;
  const View packet = v.limit(total_length);
  if (auto s = packet.need(header_bytes); s != DecodeStatus::kOk) return s;
  return decode_udp(packet.from(header_bytes), packet, false, out);
}

// Length of the IPv6 extension header `next` at offset, 0 when `next` is not one we walk.
// Returns kOk and sets length, or the reason to stop.
DecodeStatus ipv6_ext_length(const View& packet, uint8_t next, size_t offset, size_t& length) {
  switch (next) {
    case 0:    // hop-by-hop options
    case 43:   // routing
    case 60:   // destination options
    case 135:  // mobility
    case 139:  // HIP
    case 140:  // shim6
      if (auto s = packet.need(offset + 2); s != DecodeStatus::kOk) return s;
      length = (static_cast<size_t>(packet.u8(offset + 1)) + 1) * 8;
      return DecodeStatus::kOk;
    case 51:  // authentication header: length in 4-byte units, minus 2
      if (auto s = packet.need(offset + 2); s != DecodeStatus::kOk) return s;
      length = (static_cast<size_t>(packet.u8(offset + 1)) + 2) * 4;
      return DecodeStatus::kOk;
    case 44: {  // fragment: a real fragment stops here, an atomic one is walked over
      if (auto s = packet.need(offset + 8); s != DecodeStatus::kOk) return s;
      const uint16_t offset_flags = packet.be16(offset + 2);
      if ((offset_flags & 0xFFF9) != 0) return DecodeStatus::kFragment;  // offset or M set
      length = 8;
      return DecodeStatus::kOk;
    }
    default:
      return DecodeStatus::kNotUdp;  // TCP, ICMPv6, ESP, no-next-header, ...
  }
}

DecodeStatus decode_ipv6(const View& v, Datagram& out) {
  if (auto s = v.need(kIpv6HeaderBytes); s != DecodeStatus::kOk) return s;
  if ((v.u8(0) >> 4) != 6) return DecodeStatus::kMalformed;
  const uint16_t payload_length = v.be16(4);
  // 0 means a jumbogram (hop-by-hop jumbo option); a UDP jumbogram is not replayable.
  if (payload_length == 0 || kIpv6HeaderBytes + payload_length > v.wire)
    return DecodeStatus::kMalformed;
  const View packet = v.limit(kIpv6HeaderBytes + payload_length);
  uint8_t next = packet.u8(6);
  size_t offset = kIpv6HeaderBytes;
  for (int walked = 0; next != kProtoUdp; ++walked) {
    if (walked == DecodeLimits::kIpv6ExtHeadersMax) return DecodeStatus::kMalformed;
    size_t length = 0;
    if (auto s = ipv6_ext_length(packet, next, offset, length); s != DecodeStatus::kOk)
      return s;
    if (offset + length > packet.wire) return DecodeStatus::kMalformed;
    next = packet.u8(offset);
    offset += length;
  }
  if (auto s = packet.need(offset); s != DecodeStatus::kOk) return s;
  return decode_udp(packet.from(offset), packet, true, out);
}

DecodeStatus decode_ethertype(uint16_t type, const View& v, Datagram& out) {
  if (type == kEtherTypeIpv4) return decode_ipv4(v, out);
  if (type == kEtherTypeIpv6) return decode_ipv6(v, out);
  return DecodeStatus::kNotUdp;
}

bool is_vlan(uint16_t type) {
  return type == kEtherTypeVlan || type == kEtherTypeQinQ || type == kEtherTypeQinQOld;
}

// `type` is the ethertype at the end of the link header, `v` the bytes after it: walks
// VLAN tags (each 2 bytes TCI + 2 bytes inner type) and decodes what follows.
DecodeStatus decode_after_ethertype(uint16_t type, const View& v, Datagram& out) {
  size_t offset = 0;
  for (int tags = 0; is_vlan(type); ++tags) {
    if (tags == DecodeLimits::kVlanTagsMax) return DecodeStatus::kMalformed;
    if (auto s = v.need(offset + 4); s != DecodeStatus::kOk) return s;
    type = v.be16(offset + 2);
    offset += 4;
  }
  return decode_ethertype(type, v.from(offset), out);
}

DecodeStatus decode_link_header(const View& v, size_t header_bytes, size_t type_offset,
                                Datagram& out) {
  if (auto s = v.need(header_bytes); s != DecodeStatus::kOk) return s;
  return decode_after_ethertype(v.be16(type_offset), v.from(header_bytes), out);
}

// BSD loopback: a 4-byte address family in the capturing host's byte order (DLT_NULL) or
// network order (DLT_LOOP). AF_INET6 differs between systems: 10, 24, 28 or 30.
DecodeStatus decode_null(const View& v, Datagram& out) {
  if (auto s = v.need(4); s != DecodeStatus::kOk) return s;
  const uint32_t be = (static_cast<uint32_t>(v.be16(0)) << 16) | v.be16(2);
  const uint32_t le = __builtin_bswap32(be);
  const uint32_t family = std::min(be, le);
  if (family == 2) return decode_ipv4(v.from(4), out);
  if (family == 10 || family == 24 || family == 28 || family == 30)
    return decode_ipv6(v.from(4), out);
  return DecodeStatus::kNotUdp;
}

}  // namespace

std::string_view to_string(DecodeStatus status) {
  switch (status) {
    case DecodeStatus::kOk: return "ok";
    case DecodeStatus::kNotUdp: return "not_udp";
    case DecodeStatus::kFragment: return "fragment";
    case DecodeStatus::kTruncated: return "truncated";
    case DecodeStatus::kMalformed: return "malformed";
    case DecodeStatus::kUnsupportedLink: return "unsupported_link";
  }
  return "unknown";
}

bool link_type_supported(int dlt) {
  switch (dlt) {
    case DLT_EN10MB: case DLT_LINUX_SLL: case DLT_LINUX_SLL2: case DLT_NULL: case DLT_LOOP:
    case kDltRawA: case kDltRawB: case kLinktypeRaw: case DLT_IPV4: case DLT_IPV6:
      return true;
    default:
      return false;
  }
}

DecodeStatus decode_ip(std::span<const std::byte> packet, uint32_t wire_length,
                       Datagram& out) {
  const View v{packet, std::max<uint64_t>(packet.size(), wire_length)};
  if (auto s = v.need(1); s != DecodeStatus::kOk) return s;
  const int version = v.u8(0) >> 4;
  if (version == 4) return decode_ipv4(v, out);
  if (version == 6) return decode_ipv6(v, out);
  return DecodeStatus::kMalformed;
}

DecodeStatus decode_frame(int dlt, std::span<const std::byte> frame, uint32_t wire_length,
                          Datagram& out) {
  const View v{frame, std::max<uint64_t>(frame.size(), wire_length)};
  switch (dlt) {
    case DLT_EN10MB: return decode_link_header(v, 14, 12, out);
    case DLT_LINUX_SLL: return decode_link_header(v, 16, 14, out);
    case DLT_LINUX_SLL2: return decode_link_header(v, 20, 0, out);
    case DLT_NULL: case DLT_LOOP: return decode_null(v, out);
    case kDltRawA: case kDltRawB: case kLinktypeRaw:
      return decode_ip(frame, static_cast<uint32_t>(v.wire), out);
    case DLT_IPV4: return decode_ipv4(v, out);
    case DLT_IPV6: return decode_ipv6(v, out);
    default: return DecodeStatus::kUnsupportedLink;
  }
}

}  // namespace shortline::replay

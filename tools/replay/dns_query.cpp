// DNS query recognition: header counts, then the question name walked label by label.
#include "tools/replay/dns_query.h"

namespace shortline::replay {
namespace {

constexpr size_t kNameBytesMax = 255;   // RFC 1035 3.1
constexpr unsigned kLabelBytesMax = 63;
constexpr size_t kTypeAndClassBytes = 4;

unsigned byte_at(std::span<const std::byte> payload, size_t i) {
  return std::to_integer<unsigned>(payload[i]);
}

unsigned u16_at(std::span<const std::byte> payload, size_t i) {
  return (byte_at(payload, i) << 8) | byte_at(payload, i + 1);
}

// Offset just past the question name that starts at kDnsHeaderBytes, or 0 when the name is
// cut short, too long, or uses a compression pointer (a query has nothing to point back to).
size_t question_name_end(std::span<const std::byte> payload) {
  size_t at = kDnsHeaderBytes;
  size_t name_bytes = 0;
  while (at < payload.size()) {
    const unsigned length = byte_at(payload, at);
    if (length > kLabelBytesMax) return 0;
    name_bytes += length + 1;
    if (name_bytes > kNameBytesMax) return 0;
    at += length + 1;
    if (length == 0) return at;
  }
  return 0;
}

}  // namespace

bool is_dns_query(std::span<const std::byte> payload) {
  if (payload.size() < kDnsHeaderBytes + 1 + kTypeAndClassBytes) return false;
  const bool is_response = (byte_at(payload, 2) & 0x80U) != 0;
  const unsigned question_count = u16_at(payload, 4);
  const unsigned answer_count = u16_at(payload, 6);
  const unsigned authority_count = u16_at(payload, 8);
  const unsigned additional_count = u16_at(payload, 10);
  // Additional records in a query: an EDNS OPT, perhaps a TSIG or COOKIE-carrying pair.
  if (is_response || question_count != 1 || answer_count != 0 || authority_count != 0 ||
      additional_count > 2)
    return false;
  const size_t name_end = question_name_end(payload);
  return name_end != 0 && name_end + kTypeAndClassBytes <= payload.size();
}

}  // namespace shortline::replay

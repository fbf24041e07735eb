// The few DNS wire-format pieces the balancing-quality benchmark's `plain` mode needs
// (RFC 1035 section 4.1): a query with one question, and a response that echoes it with the
// QR bit set and, optionally, one A record 127.0.0.ID naming the server that answered, so
// that the load generator can count each server's share through any balancer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace shortline::bench::dns {

inline constexpr size_t kHeaderBytes = 12;
inline constexpr size_t kAnswerBytes = 16;  // name pointer, type, class, TTL, length, address
inline constexpr uint8_t kFlagQr = 0x80;    // header byte 2: a response
inline constexpr uint8_t kOpcodeMask = 0x78;
inline constexpr uint8_t kFlagRd = 0x01;  // header byte 2: recursion desired
inline constexpr uint8_t kFlagRa = 0x80;  // header byte 3: recursion available (RCODE 0)
inline constexpr uint16_t kTypeA = 1;
inline constexpr uint16_t kClassIn = 1;
inline constexpr size_t kNameBytesMax = 255;

[[nodiscard]] inline uint16_t read16(const uint8_t* p) {
  return static_cast<uint16_t>((p[0] << 8) | p[1]);
}

inline void write16(uint8_t* p, uint16_t value) {
  p[0] = static_cast<uint8_t>(value >> 8);
  p[1] = static_cast<uint8_t>(value & 0xFF);
}

[[nodiscard]] inline uint16_t id_of(const uint8_t* p) { return read16(p); }
inline void set_id(uint8_t* p, uint16_t id) { write16(p, id); }

// Writes a recursive query for `name` ("q.shortline.test"), type A, class IN, ID 0, into
// out[0, capacity); returns its length, or 0 when the name is malformed or does not fit.
[[nodiscard]] inline size_t build_query(std::string_view name, uint8_t* out, size_t capacity) {
  if (name.empty() || name.size() + 2 > kNameBytesMax) return 0;
  if (capacity < kHeaderBytes + name.size() + 2 + 4) return 0;
  std::memset(out, 0, kHeaderBytes);
  out[2] = kFlagRd;
  write16(out + 4, 1);  // QDCOUNT
  size_t at = kHeaderBytes;
  while (!name.empty()) {
    const size_t dot = name.find('.');
    const std::string_view label = name.substr(0, dot);
    if (label.empty() || label.size() > 63) return 0;
    out[at++] = static_cast<uint8_t>(label.size());
    std::memcpy(out + at, label.data(), label.size());
    at += label.size();
    name.remove_prefix(dot == std::string_view::npos ? name.size() : dot + 1);
  }
  out[at++] = 0;  // the root label
  write16(out + at, kTypeA);
  write16(out + at + 2, kClassIn);
  return at + 4;
}

// Whether p[0, n) is a standard query (QR clear, opcode 0) with exactly one question.
[[nodiscard]] inline bool is_query(const uint8_t* p, size_t n) {
  return n >= kHeaderBytes + 5 && (p[2] & kFlagQr) == 0 && (p[2] & kOpcodeMask) == 0 &&
         read16(p + 4) == 1;
}

// Turns the query in buf[0, n) into its response in place: QR and RA set, RCODE 0, the
// question echoed. With server_id != 0, and when the query has no other sections (an answer
// must come before them) and room is left, appends "A 127.0.0.<server_id>" for the question's
// name. Returns the response's length.
[[nodiscard]] inline size_t make_response(uint8_t* buf, size_t n, size_t capacity,
                                          uint8_t server_id) {
  buf[2] = static_cast<uint8_t>((buf[2] & (kOpcodeMask | kFlagRd)) | kFlagQr);
  buf[3] = kFlagRa;
  const bool bare = read16(buf + 6) == 0 && read16(buf + 8) == 0 && read16(buf + 10) == 0;
  if (server_id == 0 || !bare || n + kAnswerBytes > capacity) return n;
  // The name is a pointer (0xC0) to offset 12, the question's name; TTL 0, 4 address bytes.
  const uint8_t answer[kAnswerBytes] = {0xC0, 0x0C, 0, kTypeA, 0,   kClassIn, 0, 0,
                                        0,    0,    0, 4,      127, 0,        0, server_id};
  std::memcpy(buf + n, answer, kAnswerBytes);
  write16(buf + 6, 1);  // ANCOUNT
  return n + kAnswerBytes;
}

// The server id in the answer make_response appended to a query of query_bytes, or 0.
[[nodiscard]] inline uint8_t answering_server(const uint8_t* p, size_t n, size_t query_bytes) {
  if (n != query_bytes + kAnswerBytes || read16(p + 6) != 1) return 0;
  return p[n - 1];
}

}  // namespace shortline::bench::dns

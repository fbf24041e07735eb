// Encoding and decoding of every wire message, field by field, in network byte order.
#include "control/wire/messages.h"

#include <arpa/inet.h>

#include <cassert>
#include <cstring>

#include "control/wire/byte_codec.h"

namespace shortline::wire {
namespace {

constexpr uint8_t kFamilyNone = 0;
constexpr uint8_t kFamilyV4 = 4;
constexpr uint8_t kFamilyV6 = 6;
constexpr std::size_t kLengthOffset = 6;
constexpr std::size_t kBodyBytesMax = 0xFFFF;
// The signed part of the auth trailer: sender id u32 and auth sequence u64 (the tag follows).
constexpr std::size_t kTrailerStampBytes = kAuthTrailerBytes - kAuthTagBytes;

bool is_control(MessageType type) {
  return type == MessageType::server_report || type == MessageType::scale_request ||
         type == MessageType::scale_reply;
}

bool known_type(uint8_t type) { return type >= 1 && type <= 5; }

// --- addresses: family u8 (0, 4 or 6) | address (0, 4 or 16 bytes) | port u16 (not for 0)

void write_address(ByteWriter& out, const NetAddress& address) {
  if (address.family() == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&address.storage);
    out.u8(kFamilyV4);
    out.u32(ntohl(v4->sin_addr.s_addr));
    out.u16(address.port());
  } else if (address.family() == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&address.storage);
    out.u8(kFamilyV6);
    out.bytes(std::span<const uint8_t>(v6->sin6_addr.s6_addr, 16));
    out.u16(address.port());
  } else {
    out.u8(kFamilyNone);
  }
}

// Returns false for an unknown family; the reader's ok() reports running out of bytes.
bool read_address(ByteReader& in, NetAddress& address) {
  const uint8_t family = in.u8();
  if (family == kFamilyNone) {
    address = NetAddress{};
    return true;
  }
  if (family == kFamilyV4) {
    sockaddr_in v4{};
    v4.sin_family = AF_INET;
    v4.sin_addr.s_addr = htonl(in.u32());
    v4.sin_port = htons(in.u16());
    address = NetAddress::from_sockaddr(reinterpret_cast<const sockaddr*>(&v4), sizeof(v4));
    return true;
  }
  if (family == kFamilyV6) {
    sockaddr_in6 v6{};
    v6.sin6_family = AF_INET6;
    in.bytes(std::span<uint8_t>(v6.sin6_addr.s6_addr, 16));
    v6.sin6_port = htons(in.u16());
    address = NetAddress::from_sockaddr(reinterpret_cast<const sockaddr*>(&v6), sizeof(v6));
    return true;
  }
  return false;
}

// --- header and trailer

void write_header(ByteWriter& out, MessageType type, uint8_t flags) {
  out.u16(kMagic);
  out.u8(kVersion);
  out.u8(static_cast<uint8_t>(type));
  out.u8(flags);
  out.u8(0);
  out.u16(0);  // length, patched by finish()
}

// Patches the body length and appends the auth trailer when signing.
std::size_t finish(ByteWriter& out, std::span<uint8_t> buffer, const SignOptions& sign) {
  if (!out.ok()) return 0;
  const std::size_t body_bytes = out.position() - kHeaderBytes;
  if (body_bytes > kBodyBytesMax) return 0;
  out.patch_u16(kLengthOffset, static_cast<uint16_t>(body_bytes));
  if (sign.key != nullptr) {
    out.u32(sign.stamp.sender_id);
    out.u64(sign.stamp.sequence);
    if (!out.ok()) return 0;
    const auto tag = compute_tag(*sign.key, buffer.first(out.position()));
    out.bytes(tag);
  }
  return out.ok() ? out.position() : 0;
}

// --- bodies

void write_body(ByteWriter& out, const ServerReport& m) {
  out.u32(m.server_id);
  write_address(out, m.address);
  out.u32(m.queue_length);
  out.u16(m.workers);
  out.u8(static_cast<uint8_t>(m.state));
  out.u64(m.sequence);
  out.u64(m.timestamp_ns);
  out.u32(m.service_time_mean_us);
}

void write_body(ByteWriter& out, const ScaleRequest& m) {
  out.u8(static_cast<uint8_t>(m.action));
  out.u32(m.server_id);
  out.u8(static_cast<uint8_t>(m.reason));
  out.u32(m.load.servers);
  out.u32(m.load.queue_total);
  out.u32(m.load.queue_max);
  out.u64(m.sequence);
}

void write_body(ByteWriter& out, const ScaleReply& m) {
  out.u64(m.sequence);
  out.u8(static_cast<uint8_t>(m.result));
  out.u32(m.server_id);
  write_address(out, m.address);
}

void write_client_fields(ByteWriter& out, uint32_t client_id, uint64_t request_id,
                         uint64_t send_time_ns, uint32_t work_us) {
  out.u32(client_id);
  out.u64(request_id);
  out.u64(send_time_ns);
  out.u32(work_us);
}

WireError read_body(ByteReader& in, ServerReport& m) {
  m.server_id = in.u32();
  if (!read_address(in, m.address)) return WireError::bad_field;
  m.queue_length = in.u32();
  m.workers = in.u16();
  const uint8_t state = in.u8();
  m.sequence = in.u64();
  m.timestamp_ns = in.u64();
  m.service_time_mean_us = in.u32();
  if (!in.ok()) return WireError::bad_length;
  if (state < 1 || state > 3) return WireError::bad_field;
  if (m.address.family() == AF_UNSPEC || m.address.port() == 0) return WireError::bad_field;
  m.state = static_cast<ServerState>(state);
  return WireError::ok;
}

WireError read_body(ByteReader& in, ScaleRequest& m) {
  const uint8_t action = in.u8();
  m.server_id = in.u32();
  const uint8_t reason = in.u8();
  m.load.servers = in.u32();
  m.load.queue_total = in.u32();
  m.load.queue_max = in.u32();
  m.sequence = in.u64();
  if (!in.ok()) return WireError::bad_length;
  if (action < 1 || action > 2 || reason < 1 || reason > 6) return WireError::bad_field;
  m.action = static_cast<ScaleAction>(action);
  m.reason = static_cast<ScaleReason>(reason);
  return WireError::ok;
}

WireError read_body(ByteReader& in, ScaleReply& m) {
  m.sequence = in.u64();
  const uint8_t result = in.u8();
  m.server_id = in.u32();
  if (!read_address(in, m.address)) return WireError::bad_field;
  if (!in.ok()) return WireError::bad_length;
  if (result < 1 || result > 5) return WireError::bad_field;
  m.result = static_cast<ScaleResult>(result);
  return WireError::ok;
}

// Client payloads may carry zero padding after their fields; it is skipped.
WireError read_body(ByteReader& in, ClientRequest& m) {
  m.client_id = in.u32();
  m.request_id = in.u64();
  m.send_time_ns = in.u64();
  m.work_us = in.u32();
  if (!in.ok()) return WireError::bad_length;
  in.skip(in.remaining());
  return WireError::ok;
}

WireError read_body(ByteReader& in, ClientResponse& m) {
  m.client_id = in.u32();
  m.request_id = in.u64();
  m.send_time_ns = in.u64();
  m.work_us = in.u32();
  m.server_id = in.u32();
  m.queue_wait_us = in.u32();
  m.service_time_us = in.u32();
  if (!in.ok()) return WireError::bad_length;
  in.skip(in.remaining());
  return WireError::ok;
}

template <typename T>
WireError read_message(std::span<const uint8_t> body, Message& message) {
  T typed;
  ByteReader in(body);
  const WireError error = read_body(in, typed);
  if (error != WireError::ok) return error;
  if (in.remaining() != 0) return WireError::bad_length;
  message = typed;
  return WireError::ok;
}

WireError read_any(MessageType type, std::span<const uint8_t> body, Message& message) {
  switch (type) {
    case MessageType::server_report: return read_message<ServerReport>(body, message);
    case MessageType::scale_request: return read_message<ScaleRequest>(body, message);
    case MessageType::scale_reply: return read_message<ScaleReply>(body, message);
    case MessageType::client_request: return read_message<ClientRequest>(body, message);
    case MessageType::client_response: return read_message<ClientResponse>(body, message);
  }
  return WireError::bad_type;
}

template <typename T>
std::size_t encode_control(const T& message, MessageType type, std::span<uint8_t> out,
                           const SignOptions& sign) {
  ByteWriter writer(out);
  write_header(writer, type, sign.key != nullptr ? kFlagAuthenticated : 0);
  write_body(writer, message);
  return finish(writer, out, sign);
}

std::size_t pad_and_finish(ByteWriter& writer, std::span<uint8_t> out, std::size_t size_bytes) {
  if (size_bytes > writer.position()) writer.zeros(size_bytes - writer.position());
  return finish(writer, out, SignOptions{});
}

}  // namespace

std::string_view name(MessageType type) {
  switch (type) {
    case MessageType::server_report: return "server_report";
    case MessageType::scale_request: return "scale_request";
    case MessageType::scale_reply: return "scale_reply";
    case MessageType::client_request: return "client_request";
    case MessageType::client_response: return "client_response";
  }
  return "unknown";
}

std::string_view name(ServerState state) {
  switch (state) {
    case ServerState::up: return "UP";
    case ServerState::draining: return "DRAINING";
    case ServerState::leaving: return "LEAVING";
  }
  return "unknown";
}

std::string_view name(ScaleAction action) {
  return action == ScaleAction::add ? "ADD" : action == ScaleAction::remove ? "REMOVE" : "unknown";
}

std::string_view name(ScaleReason reason) {
  switch (reason) {
    case ScaleReason::queue_high: return "queue_high";
    case ScaleReason::queue_empty: return "queue_empty";
    case ScaleReason::server_down: return "server_down";
    case ScaleReason::below_min: return "below_min";
    case ScaleReason::above_max: return "above_max";
    case ScaleReason::operator_request: return "operator_request";
  }
  return "unknown";
}

std::string_view name(ScaleResult result) {
  switch (result) {
    case ScaleResult::ok: return "ok";
    case ScaleResult::at_limit: return "at_limit";
    case ScaleResult::unknown_server: return "unknown_server";
    case ScaleResult::failed: return "failed";
    case ScaleResult::in_progress: return "in_progress";
  }
  return "unknown";
}

std::size_t encode(const ServerReport& message, std::span<uint8_t> out, const SignOptions& sign) {
  if (message.address.family() != AF_INET && message.address.family() != AF_INET6) return 0;
  return encode_control(message, MessageType::server_report, out, sign);
}

std::size_t encode(const ScaleRequest& message, std::span<uint8_t> out, const SignOptions& sign) {
  return encode_control(message, MessageType::scale_request, out, sign);
}

std::size_t encode(const ScaleReply& message, std::span<uint8_t> out, const SignOptions& sign) {
  return encode_control(message, MessageType::scale_reply, out, sign);
}

std::size_t encode(const ClientRequest& message, std::span<uint8_t> out, std::size_t size_bytes) {
  ByteWriter writer(out);
  write_header(writer, MessageType::client_request, 0);
  write_client_fields(writer, message.client_id, message.request_id, message.send_time_ns,
                      message.work_us);
  return pad_and_finish(writer, out, size_bytes);
}

std::size_t encode(const ClientResponse& message, std::span<uint8_t> out,
                   std::size_t size_bytes) {
  ByteWriter writer(out);
  write_header(writer, MessageType::client_response, 0);
  write_client_fields(writer, message.client_id, message.request_id, message.send_time_ns,
                      message.work_us);
  writer.u32(message.server_id);
  writer.u32(message.queue_wait_us);
  writer.u32(message.service_time_us);
  return pad_and_finish(writer, out, size_bytes);
}

std::optional<MessageType> peek_type(std::span<const uint8_t> datagram) {
  ByteReader in(datagram);
  const uint16_t magic = in.u16();
  const uint8_t version = in.u8();
  const uint8_t type = in.u8();
  if (!in.ok() || magic != kMagic || version != kVersion || !known_type(type)) return std::nullopt;
  return static_cast<MessageType>(type);
}

Decoded decode(std::span<const uint8_t> datagram, const DecodeOptions& options) {
  Decoded result;
  auto fail = [&result](WireError error) -> Decoded& {
    result.error = error;
    return result;
  };
  if (datagram.size() < kHeaderBytes) return fail(WireError::truncated);
  ByteReader header(datagram.first(kHeaderBytes));
  const uint16_t magic = header.u16();
  const uint8_t version = header.u8();
  const uint8_t type_value = header.u8();
  const uint8_t flags = header.u8();
  const uint8_t reserved = header.u8();
  const uint16_t body_bytes = header.u16();
  assert(header.ok());
  if (magic != kMagic) return fail(WireError::bad_magic);
  if (version != kVersion) return fail(WireError::bad_version);
  if (!known_type(type_value)) return fail(WireError::bad_type);
  const auto type = static_cast<MessageType>(type_value);
  if ((flags & ~kFlagAuthenticated) != 0 || reserved != 0) return fail(WireError::bad_field);
  const bool has_trailer = (flags & kFlagAuthenticated) != 0;
  const std::size_t signed_bytes = kHeaderBytes + body_bytes + (has_trailer ? kTrailerStampBytes : 0);
  const std::size_t expected = signed_bytes + (has_trailer ? kAuthTagBytes : 0);
  if (datagram.size() < expected) return fail(WireError::truncated);
  if (datagram.size() > expected) return fail(WireError::bad_length);
  if (has_trailer && !is_control(type)) return fail(WireError::bad_field);

  const bool must_verify = options.key != nullptr && is_control(type);
  if (must_verify) {
    if (!has_trailer) return fail(WireError::bad_tag);
    if (!verify_tag(*options.key, datagram.first(signed_bytes),
                    datagram.subspan(signed_bytes, kAuthTagBytes)))
      return fail(WireError::bad_tag);
  }
  const WireError body_error =
      read_any(type, datagram.subspan(kHeaderBytes, body_bytes), result.message);
  if (body_error != WireError::ok) return fail(body_error);
  if (has_trailer) {
    ByteReader trailer(datagram.subspan(kHeaderBytes + body_bytes, kTrailerStampBytes));
    result.stamp.sender_id = trailer.u32();
    result.stamp.sequence = trailer.u64();
  }
  if (must_verify) {
    result.authenticated = true;
    if (options.replay_guard != nullptr) {
      const auto verdict = options.replay_guard->check(result.stamp);
      if (verdict == ReplayGuard::Verdict::replayed) return fail(WireError::replayed);
      if (verdict == ReplayGuard::Verdict::table_full) return fail(WireError::sender_table_full);
      options.replay_guard->commit(result.stamp);
    }
  }
  return result;
}

}  // namespace shortline::wire

// The control-plane messages and the reference client/server payloads: binary, versioned,
// network byte order, encoded and decoded field by field with bounds checks.
//
// Every message starts with an 8-byte header:
//   magic u16 (0x534C "SL") | version u8 (1) | type u8 | flags u8 | reserved u8 (0) |
//   length u16 (body bytes, excluding header and auth trailer)
// then the body, then, when flags has kFlagAuthenticated, the auth trailer described in
// message_auth.h. Control messages (report, scale request, scale reply) may be
// authenticated; client payloads never are (the balancer does not read them).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <variant>

#include "control/wire/message_auth.h"
#include "dataplane/net_address.h"

namespace shortline::wire {

inline constexpr uint16_t kMagic = 0x534C;  // "SL"
inline constexpr uint8_t kVersion = 1;
inline constexpr std::size_t kHeaderBytes = 8;
inline constexpr uint8_t kFlagAuthenticated = 0x01;

enum class MessageType : uint8_t {
  server_report = 1,
  scale_request = 2,
  scale_reply = 3,
  client_request = 4,
  client_response = 5,
};

enum class ServerState : uint8_t { up = 1, draining = 2, leaving = 3 };
enum class ScaleAction : uint8_t { add = 1, remove = 2 };
enum class ScaleReason : uint8_t {
  queue_high = 1,    // a queue passed the add threshold
  queue_empty = 2,   // a server sat idle while more than the minimum run
  server_down = 3,   // a server stopped reporting
  below_min = 4,     // fewer servers than the configured minimum
  above_max = 5,     // more servers than the configured maximum
  operator_request = 6,
};
enum class ScaleResult : uint8_t {
  ok = 1,
  at_limit = 2,        // the pool is already at its min or max
  unknown_server = 3,  // REMOVE named a server the controller did not start
  failed = 4,          // the controller could not start or stop the server
  in_progress = 5,     // an earlier request with this sequence is still being executed
};

// Server -> balancer, every report interval and on every state change.
struct ServerReport {
  uint32_t server_id = 0;
  NetAddress address;  // where the server receives data-plane requests
  uint32_t queue_length = 0;  // queued + in service
  uint16_t workers = 1;
  ServerState state = ServerState::up;
  uint64_t sequence = 0;
  uint64_t timestamp_ns = 0;  // CLOCK_REALTIME at the sender
  uint32_t service_time_mean_us = 0;  // recent mean, so the balancer can learn speed
};

struct LoadSummary {
  uint32_t servers = 0;
  uint32_t queue_total = 0;
  uint32_t queue_max = 0;
};

// Balancer -> controller.
struct ScaleRequest {
  ScaleAction action = ScaleAction::add;
  uint32_t server_id = 0;  // the server to remove; 0 for ADD (controller picks)
  ScaleReason reason = ScaleReason::queue_high;
  LoadSummary load;
  uint64_t sequence = 0;
};

// Controller -> balancer; `sequence` echoes the request's.
struct ScaleReply {
  uint64_t sequence = 0;
  ScaleResult result = ScaleResult::ok;
  uint32_t server_id = 0;
  NetAddress address;  // the added server's data address; family 0 when none
};

// Client -> reference server (through the balancer, which does not read it).
struct ClientRequest {
  uint32_t client_id = 0;
  uint64_t request_id = 0;
  uint64_t send_time_ns = 0;  // client's clock, echoed back
  uint32_t work_us = 0;       // requested service time; 0 = server default
};

// Reference server -> client.
struct ClientResponse {
  uint32_t client_id = 0;
  uint64_t request_id = 0;
  uint64_t send_time_ns = 0;
  uint32_t work_us = 0;
  uint32_t server_id = 0;
  uint32_t queue_wait_us = 0;
  uint32_t service_time_us = 0;
};

using Message = std::variant<ServerReport, ScaleRequest, ScaleReply, ClientRequest, ClientResponse>;

// Encoded sizes of the fixed-size messages (header included, no auth trailer).
inline constexpr std::size_t kClientRequestBytes = kHeaderBytes + 24;
inline constexpr std::size_t kClientResponseBytes = kHeaderBytes + 36;
inline constexpr std::size_t kScaleRequestBytes = kHeaderBytes + 26;
// Largest control message with its auth trailer (ServerReport with an IPv6 address).
inline constexpr std::size_t kControlMessageBytesMax = kHeaderBytes + 50 + kAuthTrailerBytes;

// X(name, help): why a datagram was rejected. The balancer counts each under its name.
#define SHORTLINE_WIRE_ERRORS(X)                                                      \
  X(truncated, "shorter than the header, or than its declared length and trailer")   \
  X(bad_magic, "magic is not 0x534C")                                                 \
  X(bad_version, "unsupported version")                                               \
  X(bad_type, "unknown message type")                                                 \
  X(bad_length, "declared length does not match the message type or datagram size") \
  X(bad_field, "a field holds a value outside its range (state, family, flags, ...)") \
  X(bad_tag, "authentication tag missing or wrong")                                   \
  X(replayed, "auth sequence not above the sender's highest")                         \
  X(sender_table_full, "replay guard full: too many distinct senders")

enum class WireError : uint8_t {
  ok = 0,
#define SHORTLINE_WIRE_ERROR_ENUM(name, help) name,
  SHORTLINE_WIRE_ERRORS(SHORTLINE_WIRE_ERROR_ENUM)
#undef SHORTLINE_WIRE_ERROR_ENUM
      count
};

inline constexpr std::size_t kWireErrorCount = static_cast<std::size_t>(WireError::count);

struct WireErrorInfo {
  std::string_view name;
  std::string_view help;
};

// Indexed by WireError (entry 0 is "ok").
inline constexpr std::array<WireErrorInfo, kWireErrorCount> kWireErrorInfo = {{
    {"ok", "accepted"},
#define SHORTLINE_WIRE_ERROR_INFO(name, help) {#name, help},
    SHORTLINE_WIRE_ERRORS(SHORTLINE_WIRE_ERROR_INFO)
#undef SHORTLINE_WIRE_ERROR_INFO
}};

[[nodiscard]] constexpr std::string_view name(WireError error) {
  return kWireErrorInfo[static_cast<std::size_t>(error)].name;
}
[[nodiscard]] std::string_view name(MessageType type);
[[nodiscard]] std::string_view name(ServerState state);
[[nodiscard]] std::string_view name(ScaleAction action);
[[nodiscard]] std::string_view name(ScaleReason reason);
[[nodiscard]] std::string_view name(ScaleResult result);

// Signs a control message when `key` is non-null.
struct SignOptions {
  const AuthKey* key = nullptr;
  AuthStamp stamp;
};

// Each encode writes the whole datagram into `out` and returns its size, or 0 when `out`
// is too small (or an address has no family where one is required: ServerReport).
[[nodiscard]] std::size_t encode(const ServerReport& message, std::span<uint8_t> out,
                                 const SignOptions& sign = {});
[[nodiscard]] std::size_t encode(const ScaleRequest& message, std::span<uint8_t> out,
                                 const SignOptions& sign = {});
[[nodiscard]] std::size_t encode(const ScaleReply& message, std::span<uint8_t> out,
                                 const SignOptions& sign = {});
// Client payloads are padded with zeros to `size_bytes` when that exceeds their own size.
[[nodiscard]] std::size_t encode(const ClientRequest& message, std::span<uint8_t> out,
                                 std::size_t size_bytes = 0);
[[nodiscard]] std::size_t encode(const ClientResponse& message, std::span<uint8_t> out,
                                 std::size_t size_bytes = 0);

struct DecodeOptions {
  // When set, control messages must carry a valid tag (client payloads need none).
  const AuthKey* key = nullptr;
  // When set (with a key), a control message must carry a fresh auth sequence; a fully
  // valid message records its sequence here.
  ReplayGuard* replay_guard = nullptr;
};

struct Decoded {
  WireError error = WireError::ok;
  Message message;
  AuthStamp stamp;             // meaningful when `authenticated`
  bool authenticated = false;  // the tag was present and verified with the key
  [[nodiscard]] bool ok() const { return error == WireError::ok; }
};

// Decodes one datagram. Never reads outside `datagram`; every rejection names its reason.
[[nodiscard]] Decoded decode(std::span<const uint8_t> datagram,
                             const DecodeOptions& options = {});

// The type of a datagram whose header is well formed (magic, version, known type), else
// nullopt. Cheap: for routing a datagram before a full decode.
[[nodiscard]] std::optional<MessageType> peek_type(std::span<const uint8_t> datagram);

}  // namespace shortline::wire

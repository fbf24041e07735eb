// The active health check's settings (load_balancer.health_check in config.json), their
// validation, the reply matcher and hex parsing. Shared by the config loader and the
// checker (control/health_check.h), below both.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace shortline {

// Every key below lives under this path in config.json; validate_health_check names it.
inline constexpr std::string_view kHealthCheckPath = "load_balancer.health_check";

struct HealthCheckConfig {
  std::vector<uint8_t> payload;      // the probe datagram; empty = active checks off
  uint32_t interval_ms = 1000;       // from the end of one probe (reply, timeout) to the next
  uint32_t timeout_ms = 500;         // a probe unanswered this long failed
  uint32_t rise = 2;                 // successes in a row: unhealthy -> healthy
  uint32_t fall = 3;                 // failures in a row: healthy -> unhealthy
  std::vector<uint8_t> expect;       // empty = any reply (even an empty one) is a success
  uint32_t expect_offset = 0;        // where `expect` must appear in the reply
  std::vector<uint8_t> expect_mask;  // empty = every bit; else one byte per byte of expect

  // The ranges validate_health_check enforces.
  static constexpr uint32_t kIntervalMsMin = 10;  // the control thread ticks every ~1 ms
  static constexpr uint32_t kIntervalMsMax = 3'600'000;
  static constexpr uint32_t kTimeoutMsMin = 1;
  // Not tied to the interval: the interval starts when a probe ends, so probes never overlap.
  static constexpr uint32_t kTimeoutMsMax = 60'000;
  static constexpr uint32_t kRiseFallMax = 100;
  static constexpr std::size_t kPayloadBytesMax = 4096;
  static constexpr std::size_t kExpectBytesMax = 4096;
  static constexpr std::size_t kReplyBytesMax = 65'507;  // the largest UDP payload over IPv4

  [[nodiscard]] bool enabled() const { return !payload.empty(); }
  friend bool operator==(const HealthCheckConfig&, const HealthCheckConfig&) = default;
};

// Whether `reply` satisfies the expectation: reply[offset + i] & mask[i] == expect[i] &
// mask[i] for every i (mask all ones when empty). A reply shorter than offset + expect fails.
[[nodiscard]] bool health_reply_matches(const HealthCheckConfig& config,
                                        std::span<const uint8_t> reply);
// "" when valid, else one line naming the key, e.g.
// "load_balancer.health_check.fall: 0 is not in 1..100". An empty payload is valid (off).
[[nodiscard]] std::string validate_health_check(const HealthCheckConfig& config);
// "0a0B ff" -> {0x0a, 0x0b, 0xff}: hex digits in either case, pairs may be grouped with
// spaces between bytes (never inside one). "" -> {}. nullopt for anything else.
[[nodiscard]] std::optional<std::vector<uint8_t>> parse_hex_bytes(std::string_view text);

}  // namespace shortline

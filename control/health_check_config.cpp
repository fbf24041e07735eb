// Active health check settings: validation, reply matching and hex parsing.
#include "control/health_check_config.h"

#include <cassert>
#include <string>

namespace shortline {
namespace {

std::string key_path(std::string_view key) {
  return std::string(kHealthCheckPath).append(".").append(key);
}

// "load_balancer.health_check.fall: 0 is not in 1..100" (unit, when given, after each number).
std::string range_error(std::string_view key, uint64_t value, uint64_t min, uint64_t max,
                        std::string_view unit = "") {
  std::string error = key_path(key);
  error.append(": ").append(std::to_string(value)).append(unit).append(" is not in ");
  error.append(std::to_string(min)).append("..").append(std::to_string(max)).append(unit);
  return error;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

bool health_reply_matches(const HealthCheckConfig& config, std::span<const uint8_t> reply) {
  const auto& expect = config.expect;
  const auto& mask = config.expect_mask;
  if (expect.empty()) return true;
  assert(mask.empty() || mask.size() == expect.size());
  if (!mask.empty() && mask.size() != expect.size()) return false;  // invalid config: no match
  if (reply.size() < config.expect_offset || reply.size() - config.expect_offset < expect.size())
    return false;
  const auto window = reply.subspan(config.expect_offset, expect.size());
  for (std::size_t i = 0; i < expect.size(); ++i) {
    const uint8_t bits = mask.empty() ? uint8_t{0xff} : mask[i];
    if ((window[i] & bits) != (expect[i] & bits)) return false;
  }
  return true;
}

std::string validate_health_check(const HealthCheckConfig& config) {
  using C = HealthCheckConfig;
  if (config.payload.size() > C::kPayloadBytesMax)
    return range_error("payload", config.payload.size(), 1, C::kPayloadBytesMax, " bytes");
  if (config.interval_ms < C::kIntervalMsMin || config.interval_ms > C::kIntervalMsMax)
    return range_error("interval_ms", config.interval_ms, C::kIntervalMsMin, C::kIntervalMsMax);
  if (config.timeout_ms < C::kTimeoutMsMin || config.timeout_ms > C::kTimeoutMsMax)
    return range_error("timeout_ms", config.timeout_ms, C::kTimeoutMsMin, C::kTimeoutMsMax);
  if (config.rise < 1 || config.rise > C::kRiseFallMax)
    return range_error("rise", config.rise, 1, C::kRiseFallMax);
  if (config.fall < 1 || config.fall > C::kRiseFallMax)
    return range_error("fall", config.fall, 1, C::kRiseFallMax);
  if (config.expect.size() > C::kExpectBytesMax)
    return range_error("expect", config.expect.size(), 0, C::kExpectBytesMax, " bytes");
  const uint64_t offset_max = C::kReplyBytesMax - config.expect.size();
  if (config.expect_offset > offset_max)
    return range_error("expect_offset", config.expect_offset, 0, offset_max);
  if (!config.expect_mask.empty() && config.expect_mask.size() != config.expect.size()) {
    std::string error = key_path("expect_mask");
    error.append(": ").append(std::to_string(config.expect_mask.size())).append(" bytes, ");
    error.append("expected none or as many as expect (")
        .append(std::to_string(config.expect.size()));
    return error.append(")");
  }
  return {};
}

std::optional<std::vector<uint8_t>> parse_hex_bytes(std::string_view text) {
  std::vector<uint8_t> bytes;
  bytes.reserve(text.size() / 2);
  std::size_t i = 0;
  while (i < text.size()) {
    if (text[i] == ' ') {
      ++i;
      continue;
    }
    if (i + 1 >= text.size()) return std::nullopt;  // an odd digit out
    const int high = hex_digit(text[i]);
    const int low = hex_digit(text[i + 1]);
    if (high < 0 || low < 0) return std::nullopt;
    bytes.push_back(static_cast<uint8_t>(high * 16 + low));
    i += 2;
  }
  return bytes;
}

}  // namespace shortline

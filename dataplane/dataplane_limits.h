// Every numeric limit of the data plane in one table: its config key, its DataplaneConfig
// field, default, range and meaning. control/ reads config.json through this table, the
// README's key table is tested against it, and validate_limits() checks a whole config.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string>
#include <string_view>

#include "dataplane/dataplane_config.h"

namespace shortline {

// Ranges not already held by DataplaneConfig (whose k...Max constants the data plane asserts).
inline constexpr uint32_t kRequestTimeoutMsMax = 3'600'000;       // an hour
inline constexpr uint32_t kSessionIdleTimeoutMsMax = 86'400'000;  // a day
inline constexpr uint32_t kLateReplyQuarantineMsMax = 600'000;    // ten minutes
inline constexpr uint32_t kDrainTimeoutMsMax = 600'000;           // ten minutes
inline constexpr uint32_t kBuffersPerWorkerMin = 64;

// What a value must be besides lying in [min, max].
enum class LimitRule : uint8_t {
  range,         // any integer from min to max
  power_of_two,  // a power of two from min to max (io_uring buffer rings need one)
};

struct DataplaneLimit {
  std::string_view key;                  // load_balancer key in config.json
  uint32_t DataplaneConfig::*field;      // the field it sets
  uint32_t default_value;                // equal to DataplaneConfig{}'s (a unit test holds it)
  uint32_t min;
  uint32_t max;
  LimitRule rule;
  std::string_view meaning;              // one line; the README's key table says more
};

// In DataplaneConfig's field order. Rows: key, field, default, min, max, rule, meaning.
namespace limit_rows {
using Dp = DataplaneConfig;  // keeps each row short
// clang-format off
inline constexpr DataplaneLimit kRows[] = {
  {"workers", &Dp::workers, 0, 0, Dp::kWorkersMax, LimitRule::range,
   "worker threads; 0 = one per online CPU"},
  {"responses_per_request", &Dp::responses_per_request, 1, 0, Dp::kResponsesPerRequestMax,
   LimitRule::range, "replies a request expects; 0 = one-way traffic (syslog, statsd)"},
  {"request_timeout_ms", &Dp::request_timeout_ms, 1000, 1, kRequestTimeoutMsMax,
   LimitRule::range, "an unanswered request stops counting as in flight after this"},
  {"session_idle_timeout_ms", &Dp::session_idle_timeout_ms, 30000, 1,
   kSessionIdleTimeoutMsMax, LimitRule::range,
   "flow affinity: an answered session idle this long expires"},
  {"session_unreplied_timeout_ms", &Dp::session_unreplied_timeout_ms, 3000, 1,
   kSessionIdleTimeoutMsMax, LimitRule::range,
   "flow affinity: a session never answered expires when idle this long"},
  {"max_sessions", &Dp::max_sessions, 65536, 1, Dp::kSessionsMax, LimitRule::range,
   "session table size, all workers together"},
  {"upstream_sockets", &Dp::upstream_sockets, 0, 0, Dp::kSessionsMax, LimitRule::range,
   "upstream sockets opened at start, all workers together; 0 = as many as RLIMIT_NOFILE "
   "leaves room for (at most max_sessions)"},
  {"late_reply_quarantine_ms", &Dp::late_reply_quarantine_ms, 2000, 0,
   kLateReplyQuarantineMsMax, LimitRule::range,
   "a socket whose request went unanswered is not reused towards that server for this long"},
  {"source_requests_per_s", &Dp::source_requests_per_s, 0, 0, Dp::kRateMax, LimitRule::range,
   "requests per second per source address, per worker; 0 = no limit"},
  {"source_requests_burst", &Dp::source_requests_burst, 0, 0, Dp::kRateMax, LimitRule::range,
   "burst of source_requests_per_s (bucket depth); 0 = one second's worth"},
  {"source_sessions_per_s", &Dp::source_sessions_per_s, 0, 0, Dp::kRateMax, LimitRule::range,
   "new sessions per second per source address, per worker; 0 = no limit"},
  {"prefix_requests_per_s", &Dp::prefix_requests_per_s, 0, 0, Dp::kRateMax, LimitRule::range,
   "requests per second per /24 (IPv4) or /56 (IPv6) prefix, per worker; 0 = no limit"},
  {"source_sessions_max", &Dp::source_sessions_max, 0, 0, Dp::kSessionsMax, LimitRule::range,
   "open sessions per source address, per worker; 0 = a quarter of a worker's sessions"},
  {"peer_balancers", &Dp::peer_balancers, 0, 0, Dp::kPeerBalancersMax, LimitRule::range,
   "other balancers in front of the same reporting servers; each placement since a server's "
   "last report counts this many more times (theirs likely went there too); 0 = alone"},
  {"socket_buffer_bytes", &Dp::socket_buffer_bytes, 4u << 20, Dp::kSocketBufferBytesMin,
   Dp::kSocketBufferBytesMax, LimitRule::range, "SO_RCVBUF and SO_SNDBUF of each listen socket"},
  {"timer_work_max", &Dp::timer_work_max, 256, 1, Dp::kTimerWorkMax, LimitRule::range,
   "sessions a timer pass may close per loop iteration"},
  {"max_servers", &Dp::max_servers, 1024, 1, Dp::kServersMax, LimitRule::range,
   "server table slots; at least the number of backends"},
  {"max_datagram_bytes", &Dp::max_datagram_bytes, 4096, 1, Dp::kDatagramBytesMax,
   LimitRule::range, "larger datagrams are counted and dropped"},
  {"buffers_per_worker", &Dp::buffers_per_worker, 4096, kBuffersPerWorkerMin,
   Dp::kBuffersPerWorkerMax, LimitRule::power_of_two, "provided-buffer ring entries per worker"},
  {"batch_size_max", &Dp::batch_size_max, 64, 1, Dp::kBatchSizeMax, LimitRule::range,
   "completions handled per loop iteration"},
  {"drain_timeout_ms", &Dp::drain_timeout_ms, 2000, 0, kDrainTimeoutMsMax, LimitRule::range,
   "on SIGTERM, how long to wait for outstanding replies"},
};
// clang-format on
}  // namespace limit_rows
inline constexpr auto& kDataplaneLimits = limit_rows::kRows;

[[nodiscard]] constexpr bool limit_allows(const DataplaneLimit& limit, uint64_t value) {
  if (value < limit.min || value > limit.max) return false;
  return limit.rule != LimitRule::power_of_two || (value & (value - 1)) == 0;
}

namespace detail {
[[nodiscard]] consteval bool limits_table_is_sound() {
  for (size_t i = 0; i < std::size(kDataplaneLimits); ++i) {
    const DataplaneLimit& limit = kDataplaneLimits[i];
    if (limit.min > limit.max || !limit_allows(limit, limit.default_value)) return false;
    if (limit.rule == LimitRule::power_of_two && !limit_allows(limit, limit.min)) return false;
    if (limit.key.empty() || limit.meaning.empty() || limit.field == nullptr) return false;
    for (size_t j = 0; j < i; ++j)
      if (kDataplaneLimits[j].key == limit.key || kDataplaneLimits[j].field == limit.field)
        return false;
  }
  return true;
}
}  // namespace detail
static_assert(detail::limits_table_is_sound(),
              "each default within its range, keys and fields unique, rows complete");

// What a limit allows, as errors say it: "an integer from 0 to 256" or "a power of two
// from 64 to 32768".
[[nodiscard]] std::string limit_allowed(const DataplaneLimit& limit);

// "" when every limit and relation holds, else one line naming the first bad key, its value
// and what is allowed: "workers: 300 is not allowed: expected an integer from 0 to 256".
// Relations checked besides the table: at most max_servers backends.
[[nodiscard]] std::string validate_limits(const DataplaneConfig& config);

// Capacities derived from the table's limits, never configured on their own; the worker
// sizes its ring and send state from these and the README's Sizing section names them.
struct DerivedCapacities {
  uint32_t submission_entries;   // bit_ceil(4 x batch_size_max), at least 64: one send and
                                 // one re-arm per completion, plus slack
  uint32_t completion_entries;   // 8 x submission_entries: multishot bursts do not overflow
  uint32_t sends_per_iteration;  // 2 x batch_size_max: a request and its reply per completion
  uint32_t send_groups;          // GSO groups in flight: buffers_per_worker / 4, at least 64
};
[[nodiscard]] DerivedCapacities derived_capacities(const DataplaneConfig& config);

}  // namespace shortline

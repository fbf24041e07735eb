// What a replay measured (sends, replies, and latency and schedule lateness in the client's
// LatencyHistogram) and the end-of-run summary as text or JSON.
#pragma once

#include <cstdint>
#include <string>

#include "tools/client/latency_histogram.h"
#include "tools/replay/capture_reader.h"
#include "tools/replay/outstanding_requests.h"
#include "tools/replay/ramp_intervals.h"
#include "tools/replay/replay_options.h"

namespace shortline::replay {

enum class StopReason : uint8_t { kCompleted, kDuration, kInterrupted };

struct ReplayResult {
  uint64_t sent = 0;
  uint64_t send_errors = 0;       // datagrams the kernel refused (e.g. ECONNREFUSED)
  uint64_t send_calls = 0;        // sendmmsg calls
  uint64_t replies = 0;           // replies matched to a request (by flow, and DNS ID)
  uint64_t unmatched_replies = 0; // replies to no outstanding request: late, duplicate, bad ID
  uint64_t expired = 0;           // requests unanswered after --timeout-ms (lost)
  uint64_t evicted = 0;           // requests given up to make room (--outstanding-max; lost)
  uint64_t outstanding_max = 0;   // most requests outstanding at once
  MatchMode match = MatchMode::kFlow;
  uint64_t refused = 0;           // ICMP port-unreachable reports: nothing listens at target
  uint64_t loops_started = 0;
  uint64_t load_elapsed_ns = 0;   // reading and decoding the capture (both passes)
  uint64_t send_elapsed_ns = 0;   // start to the last send
  uint64_t total_elapsed_ns = 0;  // start to the end of the reply wait
  uint64_t gaps_clamped = 0;
  uint64_t timestamps_backwards = 0;
  double intended_rate_pps = 0;
  StopReason stop = StopReason::kCompleted;
  tools::LatencyHistogram latency_ns;        // request sent → its reply received
  tools::LatencyHistogram lateness_ns;       // actual send time − scheduled send time
  IntervalTable intervals;                   // per interval of send time (one row unless a ramp)
};

[[nodiscard]] const char* to_string(StopReason reason);

// The summary: capture counts, selection, sends, replies, loss, latency, rates, lateness.
[[nodiscard]] std::string format_text(const ReplayOptions& options, const CapturePlan& plan,
                                      const ReplayResult& result);
[[nodiscard]] std::string format_json(const ReplayOptions& options, const CapturePlan& plan,
                                      const ReplayResult& result);
// "recorded", "max_rate", "rate" or "ramp".
[[nodiscard]] const char* pace_name(const ReplayOptions& options);
// printf into a std::string (pieces of a summary line; at most 511 characters).
[[nodiscard]] std::string format_line(const char* format, ...)
    __attribute__((format(printf, 1, 2)));
// JSON string literal with quotes and escapes.
[[nodiscard]] std::string json_quote(const std::string& text);

}  // namespace shortline::replay

// What a replay measured (sends, replies, and latency and schedule lateness in the client's
// LatencyHistogram) and the end-of-run summary as text or JSON.
#pragma once

#include <cstdint>
#include <string>

#include "tools/client/latency_histogram.h"
#include "tools/replay/capture_reader.h"
#include "tools/replay/replay_options.h"

namespace shortline::replay {

enum class StopReason : uint8_t { kCompleted, kDuration, kInterrupted };

struct ReplayResult {
  uint64_t sent = 0;
  uint64_t send_errors = 0;       // datagrams the kernel refused (e.g. ECONNREFUSED)
  uint64_t send_calls = 0;        // sendmmsg calls
  uint64_t replies = 0;           // replies matched to a request of the same flow
  uint64_t unmatched_replies = 0; // replies with no request outstanding on their flow
  uint64_t refused = 0;           // ICMP port-unreachable reports: nothing listens at target
  uint64_t loops_started = 0;
  uint64_t load_elapsed_ns = 0;   // reading and decoding the capture (both passes)
  uint64_t send_elapsed_ns = 0;   // start to the last send
  uint64_t total_elapsed_ns = 0;  // start to the end of the reply wait
  uint64_t gaps_clamped = 0;
  uint64_t timestamps_backwards = 0;
  double intended_rate_pps = 0;
  StopReason stop = StopReason::kCompleted;
  tools::LatencyHistogram latency_ns;        // request sent → reply received, FIFO-matched per flow
  tools::LatencyHistogram lateness_ns;       // actual send time − scheduled send time
};

[[nodiscard]] const char* to_string(StopReason reason);

// The summary: capture counts, selection, sends, replies, loss, latency, rates, lateness.
[[nodiscard]] std::string format_text(const ReplayOptions& options, const CapturePlan& plan,
                                      const ReplayResult& result);
[[nodiscard]] std::string format_json(const ReplayOptions& options, const CapturePlan& plan,
                                      const ReplayResult& result);
// JSON string literal with quotes and escapes.
[[nodiscard]] std::string json_quote(const std::string& text);

}  // namespace shortline::replay

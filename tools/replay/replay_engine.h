// The replay loop: sends each due datagram on its flow's socket (sendmmsg batches against
// absolute due times, at most a window outstanding), receives replies through epoll, matches
// them to their requests, and measures latency, loss per interval and lateness.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "tools/replay/capture_reader.h"
#include "tools/replay/flow_map.h"
#include "tools/replay/outstanding_requests.h"
#include "tools/replay/replay_schedule.h"
#include "tools/replay/replay_stats.h"

namespace shortline::replay {

struct EngineConfig {
  uint64_t loops_max = 1;       // 0: until duration or stop
  uint64_t duration_ns = 0;     // 0: no bound
  uint32_t timeout_ms = 1000;   // a request unanswered this long is lost; the final wait
  uint32_t batch_max = 64;      // datagrams per sendmmsg
  uint32_t window = 0;          // most requests outstanding (0: no bound)
  uint64_t outstanding_max = 262144;  // requests tracked at once
  MatchMode match = MatchMode::kFlow;  // kDns: every payload is a DNS query (IDs rewritten)
  bool progress = false;        // a progress line on stderr once a second
  const std::atomic<bool>* stop = nullptr;  // set by a signal handler: stop sending
};

// Runs the replay of plan on sockets (one per flow, already connected); result.intervals must
// be sized by the caller (one interval unless a ramp). Returns false with a message only when
// the event machinery itself fails (epoll, timerfd).
[[nodiscard]] bool run_replay(const CapturePlan& plan, const ReplaySchedule& schedule,
                              const FlowSockets& sockets, const EngineConfig& config,
                              ReplayResult& result, std::string& error);

}  // namespace shortline::replay

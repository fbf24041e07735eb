// A server's service time as one worker learns it from the replies it forwards, for
// servers that send no reports. A reply tells how long its request took (latency) and how
// many of ours were already in flight at that server when it was sent (queue_ahead); at a
// FIFO server the latency grows with that count, so
//
//     sample = latency / (queue_ahead + 1)
//
// is one request's share of the time, service separated from queueing. (At a server with
// k workers and a queue of q >= k, latency is about S/k x (q + k), so the sample reads
// S/k x (q + k) / (q + 1): its per-request cost, a little above S/k, and (load + 1) x
// sample is still the delay a request should expect there at that depth.)
//
// Samples are exponential-like (CV near 1 at an empty queue), so the estimate is a slow
// exponential average (about 512 samples: four identical servers read within 14 % of each
// other on synthetic M/M/1 traces, 7 % at the median) beside a fast one (about 32
// samples). When the fast one rises past 1.6x the slow, the server slowed down and the
// slow estimate jumps to it at once, then follows with a higher gain for a while, so a
// 4x slowdown shows within about 15 replies (2x the old estimate; 25 at the 90th
// percentile) and a 2x slowdown within about 35, and a false alarm (a run of long
// samples) is undone as fast. Each sample is clipped at 8x the estimate before it enters,
// so one reply that took almost the request timeout cannot throw the estimate off.
// Timeouts are never samples: a request that got no reply says nothing about speed
// (passive health looks at those). A server that got no sample for a second (at light
// load shortest expected delay may leave a slower-looking one idle) re-learns as if young
// when traffic returns, so an estimate that noise made look slow is corrected within a
// few dozen replies.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>

#include "dataplane/server_table.h"

namespace shortline {

class ServiceEstimate {
 public:
  static constexpr double kSlowGain = 1.0 / 512;
  static constexpr double kFastGain = 1.0 / 32;
  static constexpr double kBoostGain = 1.0 / 16;  // after a jump, for kBoostSamples
  static constexpr uint32_t kBoostSamples = 64;
  static constexpr double kJumpRatio = 1.6;
  static constexpr double kClipRatio = 8;         // a sample counts at most this x the estimate

  // One reply: `latency_ns` from send to reply, `queue_ahead` ours in flight there before it.
  void add(uint64_t latency_ns, uint32_t queue_ahead);
  // Nanoseconds per request; below 0 until the first sample.
  [[nodiscard]] double service_ns() const { return slow_; }
  [[nodiscard]] uint64_t samples() const { return samples_; }
  void reset() { *this = ServiceEstimate{}; }
  // Trust the estimate as if it had only kRelearnSamples behind it (it is old).
  void relearn() { young_ = std::min<uint64_t>(young_, kRelearnSamples); }
  static constexpr uint64_t kRelearnSamples = 16;

 private:
  double slow_ = -1;
  double fast_ = -1;
  uint64_t samples_ = 0;  // every sample ever
  uint64_t young_ = 0;    // the samples its running-mean gain counts (relearn() cuts it)
  uint32_t boost_left_ = 0;
};

// A worker's estimates of every slot, published to the server table once per loop for the
// control thread (which merges the workers' figures into the server's weight). Sized once;
// nothing allocated after construction.
class WorkerServiceEstimates {
 public:
  explicit WorkerServiceEstimates(uint32_t max_servers);

  // `generation` is the slot's ServerSlot::generation when the request was sent: a slot
  // reused for another server starts from nothing.
  void add(uint32_t slot, uint32_t generation, uint64_t latency_ns, uint32_t queue_ahead,
           uint64_t now_ns);
  static constexpr uint64_t kRelearnAfterNs = 1'000'000'000;  // no sample this long: relearn
  // Stores the estimates changed since the last call into the table's cells for `worker`.
  void publish(ServerTable& table, uint32_t worker);
  [[nodiscard]] const ServiceEstimate& at(uint32_t slot) const { return estimates_[slot]; }

 private:
  std::unique_ptr<ServiceEstimate[]> estimates_;
  std::unique_ptr<uint32_t[]> generations_;
  std::unique_ptr<uint64_t[]> last_sample_ns_;
  std::unique_ptr<uint32_t[]> touched_;
  std::unique_ptr<bool[]> is_touched_;
  uint32_t touched_count_ = 0;
};

}  // namespace shortline

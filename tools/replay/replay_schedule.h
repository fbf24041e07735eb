// Pacing maths for replay: monotone send offsets from capture timestamps, loops, speed
// scaling, a fixed rate, a linear ramp, and the cursor that walks (loop, datagram) pairs in
// send order. Pure, no clocks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace shortline::replay {

struct Offsets {
  std::vector<uint64_t> offsets_ns;  // from the first datagram, never decreasing
  uint64_t gaps_clamped = 0;         // gaps longer than gap_max_ns, shortened to it
  uint64_t backwards = 0;            // timestamps earlier than their predecessor, held level
};

// Offsets of each datagram after the first one. A timestamp that goes backwards (merged
// captures) is held at its predecessor's; with gap_max_ns > 0 a longer idle gap (or a corrupt
// timestamp) is shortened to gap_max_ns so that replay never waits for hours.
[[nodiscard]] Offsets build_offsets(std::span<const uint64_t> timestamps_ns,
                                    uint64_t gap_max_ns);

// When each datagram of each loop is due, in ns after the replay starts: at the recorded pace
// (scaled), all at once (max rate), or the capture looped in order at a rate of its own.
class ReplaySchedule {
 public:
  enum class Pace : uint8_t { kRecorded, kMaxRate, kFixedRate, kRamp };

  // speed > 0 scales recorded time (2 = twice as fast); speed == 0 means as fast as possible.
  ReplaySchedule(std::vector<uint64_t> offsets_ns, double speed);
  // count datagrams per loop, the k-th send (over all loops) due at k / rate_pps seconds.
  [[nodiscard]] static ReplaySchedule fixed_rate(size_t count, double rate_pps);
  // The rate climbs linearly from from_pps to to_pps over seconds (and keeps climbing after):
  // the k-th send is due when the integral of the rate reaches k.
  [[nodiscard]] static ReplaySchedule ramp(size_t count, double from_pps, double to_pps,
                                           double seconds);

  [[nodiscard]] Pace pace() const { return pace_; }
  [[nodiscard]] size_t size() const { return offsets_ns_.size(); }
  [[nodiscard]] bool max_rate() const { return pace_ == Pace::kMaxRate; }
  // The offered rate the schedule intends at elapsed_s (recorded pace: its mean rate).
  [[nodiscard]] double intended_rate_at(double elapsed_s) const;
  // One loop on the recorded clock: the capture's span plus its mean gap, so that loops
  // follow each other at the capture's own pace (0 for a single datagram).
  [[nodiscard]] uint64_t period_ns() const { return period_ns_; }
  // Due time of datagram index in loop (0-based); 0 for every datagram at max rate.
  [[nodiscard]] uint64_t due_ns(uint64_t loop, size_t index) const;
  // The recorded rate scaled by speed, or the fixed rate, or the ramp's final rate, in
  // datagrams per second; 0 when not defined (max rate, one datagram at recorded pace).
  [[nodiscard]] double intended_rate_pps() const;

 private:
  ReplaySchedule(Pace pace, size_t count, double from_pps, double slope_pps_per_s);
  [[nodiscard]] uint64_t due_at_rate_ns(uint64_t send_index) const;

  Pace pace_ = Pace::kRecorded;
  std::vector<uint64_t> offsets_ns_;  // recorded pace; zeros otherwise (size() is the count)
  double speed_ = 1.0;
  uint64_t period_ns_ = 0;
  double rate_pps_ = 0.0;             // fixed rate, or the ramp's rate at 0
  double slope_pps_per_s_ = 0.0;      // ramp: how fast the rate climbs
  double ramp_seconds_ = 0.0;
};

// Walks (loop, index) in send order for loops_max loops (0: no limit).
class ScheduleCursor {
 public:
  ScheduleCursor(const ReplaySchedule& schedule, uint64_t loops_max)
      : schedule_(&schedule), loops_max_(loops_max) {}

  [[nodiscard]] bool done() const {
    return schedule_->size() == 0 || (loops_max_ != 0 && loop_ >= loops_max_);
  }
  [[nodiscard]] uint64_t loop() const { return loop_; }
  [[nodiscard]] size_t index() const { return index_; }
  [[nodiscard]] uint64_t due_ns() const { return schedule_->due_ns(loop_, index_); }
  void advance() {
    if (++index_ == schedule_->size()) {
      index_ = 0;
      ++loop_;
    }
  }

 private:
  const ReplaySchedule* schedule_;
  uint64_t loops_max_;
  uint64_t loop_ = 0;
  size_t index_ = 0;
};

}  // namespace shortline::replay

// Offsets, loop period and due times for paced replay.
#include "tools/replay/replay_schedule.h"

#include <cassert>
#include <cmath>
#include <limits>

namespace shortline::replay {

Offsets build_offsets(std::span<const uint64_t> timestamps_ns, uint64_t gap_max_ns) {
  Offsets result;
  result.offsets_ns.reserve(timestamps_ns.size());
  uint64_t offset = 0;
  for (size_t i = 0; i < timestamps_ns.size(); ++i) {
    if (i > 0) {
      const uint64_t previous = timestamps_ns[i - 1];
      const uint64_t current = timestamps_ns[i];
      uint64_t gap = 0;
      if (current < previous) {
        ++result.backwards;
      } else {
        gap = current - previous;
      }
      if (gap_max_ns > 0 && gap > gap_max_ns) {
        gap = gap_max_ns;
        ++result.gaps_clamped;
      }
      offset += gap;
    }
    result.offsets_ns.push_back(offset);
  }
  return result;
}

ReplaySchedule::ReplaySchedule(std::vector<uint64_t> offsets_ns, double speed)
    : pace_(speed == 0.0 ? Pace::kMaxRate : Pace::kRecorded), offsets_ns_(std::move(offsets_ns)),
      speed_(speed) {
  assert(speed >= 0.0);
  if (offsets_ns_.size() > 1) {
    const uint64_t span = offsets_ns_.back();
    period_ns_ = span + span / (offsets_ns_.size() - 1);
  }
}

ReplaySchedule::ReplaySchedule(Pace pace, size_t count, double from_pps, double slope_pps_per_s)
    : pace_(pace), offsets_ns_(count, 0), rate_pps_(from_pps), slope_pps_per_s_(slope_pps_per_s) {}

ReplaySchedule ReplaySchedule::fixed_rate(size_t count, double rate_pps) {
  assert(rate_pps > 0.0);
  return ReplaySchedule(Pace::kFixedRate, count, rate_pps, 0.0);
}

ReplaySchedule ReplaySchedule::ramp(size_t count, double from_pps, double to_pps,
                                    double seconds) {
  assert(from_pps >= 0.0 && to_pps > 0.0 && seconds > 0.0);
  ReplaySchedule schedule(Pace::kRamp, count, from_pps, (to_pps - from_pps) / seconds);
  schedule.ramp_seconds_ = seconds;
  return schedule;
}

// Solves rate * t + slope * t^2 / 2 = send_index for t (the sends so far at time t).
uint64_t ReplaySchedule::due_at_rate_ns(uint64_t send_index) const {
  if (send_index == 0) return 0;
  const auto k = static_cast<long double>(send_index);
  const auto a = static_cast<long double>(rate_pps_);
  const auto b = static_cast<long double>(slope_pps_per_s_);
  long double seconds = 0.0L;
  if (b == 0.0L) {
    seconds = k / a;
  } else {
    // The stable form of (-a + sqrt(a^2 + 2bk)) / b, also right for a falling rate (b < 0).
    const long double root_term = a * a + 2.0L * b * k;
    if (root_term <= 0.0L) return std::numeric_limits<uint64_t>::max() / 2;  // never reached
    seconds = 2.0L * k / (a + std::sqrt(root_term));
  }
  constexpr auto kMax = static_cast<long double>(std::numeric_limits<uint64_t>::max() / 2);
  const long double ns = seconds * 1e9L;
  return ns >= kMax ? static_cast<uint64_t>(kMax) : static_cast<uint64_t>(ns + 0.5L);
}

double ReplaySchedule::intended_rate_at(double elapsed_s) const {
  switch (pace_) {
    case Pace::kFixedRate: return rate_pps_;
    case Pace::kRamp: return rate_pps_ + slope_pps_per_s_ * elapsed_s;
    default: return intended_rate_pps();
  }
}

uint64_t ReplaySchedule::due_ns(uint64_t loop, size_t index) const {
  assert(index < offsets_ns_.size());
  if (pace_ == Pace::kMaxRate) return 0;
  if (pace_ == Pace::kFixedRate || pace_ == Pace::kRamp) {
    const long double k = static_cast<long double>(loop) * offsets_ns_.size() + index;
    constexpr auto kIndexMax = static_cast<long double>(std::numeric_limits<uint64_t>::max() / 4);
    return due_at_rate_ns(k >= kIndexMax ? static_cast<uint64_t>(kIndexMax)
                                         : static_cast<uint64_t>(k));
  }
  // long double: loop * period may pass 2^64 ns in a very long run.
  const long double recorded = static_cast<long double>(loop) * period_ns_ + offsets_ns_[index];
  const long double due = recorded / static_cast<long double>(speed_);
  constexpr auto kMax = static_cast<long double>(std::numeric_limits<uint64_t>::max() / 2);
  return due >= kMax ? static_cast<uint64_t>(kMax) : static_cast<uint64_t>(due + 0.5L);
}

double ReplaySchedule::intended_rate_pps() const {
  if (pace_ == Pace::kFixedRate) return rate_pps_;
  if (pace_ == Pace::kRamp) return rate_pps_ + slope_pps_per_s_ * ramp_seconds_;
  if (pace_ == Pace::kMaxRate || period_ns_ == 0) return 0.0;
  return static_cast<double>(offsets_ns_.size()) * 1e9 * speed_ /
         static_cast<double>(period_ns_);
}

}  // namespace shortline::replay

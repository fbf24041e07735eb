// Offsets, loop period and due times for paced replay.
#include "tools/replay/replay_schedule.h"

#include <cassert>
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
    : offsets_ns_(std::move(offsets_ns)), speed_(speed) {
  assert(speed >= 0.0);
  if (offsets_ns_.size() > 1) {
    const uint64_t span = offsets_ns_.back();
    period_ns_ = span + span / (offsets_ns_.size() - 1);
  }
}

uint64_t ReplaySchedule::due_ns(uint64_t loop, size_t index) const {
  assert(index < offsets_ns_.size());
  if (speed_ == 0.0) return 0;
  // long double: loop * period may pass 2^64 ns in a very long run.
  const long double recorded = static_cast<long double>(loop) * period_ns_ + offsets_ns_[index];
  const long double due = recorded / static_cast<long double>(speed_);
  constexpr auto kMax = static_cast<long double>(std::numeric_limits<uint64_t>::max() / 2);
  return due >= kMax ? static_cast<uint64_t>(kMax) : static_cast<uint64_t>(due + 0.5L);
}

double ReplaySchedule::intended_rate_pps() const {
  if (speed_ == 0.0 || period_ns_ == 0) return 0.0;
  return static_cast<double>(offsets_ns_.size()) * 1e9 * speed_ /
         static_cast<double>(period_ns_);
}

}  // namespace shortline::replay

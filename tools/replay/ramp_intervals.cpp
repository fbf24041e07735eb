// Interval bookkeeping of a ramp, its rows and the knee.
#include "tools/replay/ramp_intervals.h"

#include <algorithm>
#include <cassert>

namespace shortline::replay {

IntervalTable::IntervalTable(uint64_t interval_ns, uint32_t count)
    : interval_ns_(interval_ns), intervals_(std::clamp<uint32_t>(count, 1, kIntervalsMax)) {
  assert(interval_ns > 0);
}

uint32_t IntervalTable::index_at(uint64_t elapsed_ns) const {
  const uint64_t index = elapsed_ns / interval_ns_;
  const auto last = static_cast<uint64_t>(intervals_.size() - 1);
  return static_cast<uint32_t>(std::min(index, last));
}

IntervalRow make_row(const IntervalCounts& counts, double start_s, double length_s,
                     double intended_pps) {
  assert(length_s > 0);
  IntervalRow row;
  row.start_s = start_s;
  row.end_s = start_s + length_s;
  row.intended_pps = intended_pps;
  row.sent = counts.sent;
  row.answered = counts.answered;
  row.offered_pps = static_cast<double>(counts.sent) / length_s;
  row.answered_pps = static_cast<double>(counts.answered) / length_s;
  row.loss = counts.sent == 0 ? 0.0
                              : 1.0 - static_cast<double>(counts.answered) /
                                          static_cast<double>(counts.sent);
  row.p50_ns = counts.latency_ns.percentile_ns(0.50);
  row.p99_ns = counts.latency_ns.percentile_ns(0.99);
  return row;
}

std::optional<size_t> find_knee(std::span<const IntervalRow> rows, KneeBounds bounds) {
  std::optional<size_t> knee;
  const double p99_max_ns = bounds.p99_max_ms * 1e6;
  const double length_min_s = rows.empty() ? 0.0 : (rows[0].end_s - rows[0].start_s) / 2;
  for (size_t i = 0; i < rows.size(); ++i) {
    const IntervalRow& row = rows[i];
    const bool good = row.sent > 0 && row.end_s - row.start_s >= length_min_s && row.loss <= bounds.loss_max &&
                      static_cast<double>(row.p99_ns) <= p99_max_ns;
    if (good && (!knee || row.offered_pps > rows[*knee].offered_pps)) knee = i;
  }
  return knee;
}

}  // namespace shortline::replay

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

namespace {

// What a row says about the bounds: nothing (no sends, or a cut-short last row), or within
// them or not.
enum class RowVerdict : uint8_t { kNoEvidence, kWithin, kBreaks };

RowVerdict judge(const IntervalRow& row, double length_min_s, KneeBounds bounds) {
  if (row.sent == 0 || row.end_s - row.start_s < length_min_s) return RowVerdict::kNoEvidence;
  const bool within = row.loss <= bounds.loss_max &&
                      static_cast<double>(row.p99_ns) <= bounds.p99_max_ms * 1e6;
  return within ? RowVerdict::kWithin : RowVerdict::kBreaks;
}

// Rows shorter than half the first are cut short (the ramp's last, at its end).
double length_min_s(std::span<const IntervalRow> rows) {
  return rows.empty() ? 0.0 : (rows[0].end_s - rows[0].start_s) / 2;
}

}  // namespace

std::optional<size_t> find_knee(std::span<const IntervalRow> rows, KneeBounds bounds) {
  std::optional<size_t> knee;
  const double length_min = length_min_s(rows);
  for (size_t i = 0; i < rows.size(); ++i) {
    if (judge(rows[i], length_min, bounds) != RowVerdict::kWithin) continue;
    if (!knee || rows[i].offered_pps > rows[*knee].offered_pps) knee = i;
  }
  return knee;
}

std::optional<size_t> find_best_before_first_break(std::span<const IntervalRow> rows,
                                                   KneeBounds bounds) {
  std::optional<size_t> best;
  const double length_min = length_min_s(rows);
  for (size_t i = 0; i < rows.size(); ++i) {
    const RowVerdict verdict = judge(rows[i], length_min, bounds);
    if (verdict == RowVerdict::kBreaks) break;
    if (verdict != RowVerdict::kWithin) continue;
    if (!best || rows[i].answered_pps > rows[*best].answered_pps) best = i;
  }
  return best;
}

}  // namespace shortline::replay

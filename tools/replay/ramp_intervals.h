// What a ramp measured per interval of send time (requests sent, answered, latency), the
// table rows derived from it, and the knee: the highest offered rate at which the target
// still answered well enough (loss and p99 within bounds).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "tools/client/latency_histogram.h"

namespace shortline::replay {

// Requests are counted in the interval they were sent in, answered or not, so that a slow
// answer is charged to the rate that caused it.
struct IntervalCounts {
  uint64_t sent = 0;
  uint64_t answered = 0;
  tools::LatencyHistogram latency_ns;
};

class IntervalTable {
 public:
  static constexpr uint32_t kIntervalsMax = 1000;  // ~30 KiB of histogram each

  IntervalTable() : IntervalTable(1'000'000'000, 1) {}
  // count intervals of interval_ns each (1 <= count <= kIntervalsMax).
  IntervalTable(uint64_t interval_ns, uint32_t count);

  // The interval that elapsed_ns falls in; past the end, the last one.
  [[nodiscard]] uint32_t index_at(uint64_t elapsed_ns) const;
  [[nodiscard]] IntervalCounts& at(uint32_t index) { return intervals_[index]; }
  [[nodiscard]] const std::vector<IntervalCounts>& intervals() const { return intervals_; }
  [[nodiscard]] uint64_t interval_ns() const { return interval_ns_; }

 private:
  uint64_t interval_ns_;
  std::vector<IntervalCounts> intervals_;
};

struct IntervalRow {
  double start_s = 0;
  double end_s = 0;
  double intended_pps = 0;  // the schedule's rate at the interval's middle
  double offered_pps = 0;   // sent / length
  double answered_pps = 0;  // answered (of those sent in it) / length
  double loss = 0;          // fraction of those sent that went unanswered
  uint64_t sent = 0;
  uint64_t answered = 0;
  uint64_t p50_ns = 0;
  uint64_t p99_ns = 0;
};

// Rows of the intervals that began before send_span_ns (the last one cut at it). intended_at
// gives the schedule's rate at a time in seconds.
template <typename RateAt>
std::vector<IntervalRow> interval_rows(const IntervalTable& table, uint64_t send_span_ns,
                                       RateAt intended_at);

struct KneeBounds {
  double loss_max = 0.01;   // fraction
  double p99_max_ms = 100;  // milliseconds
};

// The row with the highest offered rate among those with loss <= loss_max and p99 <= p99_max
// (and at least one request); nothing when no row qualifies. A cut-short last row (under half
// the first row's length) is left out: its rate rests on too few sends.
[[nodiscard]] std::optional<size_t> find_knee(std::span<const IntervalRow> rows, KneeBounds bounds);

// resperf's "Maximum throughput" rule, with both bounds: the row with the highest answered
// rate among those before the first row that breaks a bound (rows without sends and a
// cut-short last row count as neither). The knee takes the best row anywhere; this stops at
// the first bad one, so a single noisy early row lowers it. Reported beside the knee so that
// a ramp can be put next to resperf's own figure.
[[nodiscard]] std::optional<size_t> find_best_before_first_break(std::span<const IntervalRow> rows,
                                                                 KneeBounds bounds);

// One row from its counts; length_s > 0.
[[nodiscard]] IntervalRow make_row(const IntervalCounts& counts, double start_s, double length_s,
                                   double intended_pps);

template <typename RateAt>
std::vector<IntervalRow> interval_rows(const IntervalTable& table, uint64_t send_span_ns,
                                       RateAt intended_at) {
  std::vector<IntervalRow> rows;
  const double interval_s = static_cast<double>(table.interval_ns()) / 1e9;
  const double span_s = static_cast<double>(send_span_ns) / 1e9;
  for (size_t i = 0; i < table.intervals().size(); ++i) {
    const double start_s = static_cast<double>(i) * interval_s;
    if (start_s >= span_s && i > 0) break;
    // The last interval also holds sends past the table's end; every row lasts > 0.
    double end_s = std::min(start_s + interval_s, span_s);
    if (i + 1 == table.intervals().size()) end_s = std::max(end_s, span_s);
    if (end_s <= start_s) end_s = start_s + interval_s;
    rows.push_back(make_row(table.intervals()[i], start_s, end_s - start_s,
                            intended_at((start_s + end_s) / 2)));
  }
  return rows;
}

}  // namespace shortline::replay

// Text table and JSON of a ramp.
#include "tools/replay/ramp_report.h"

#include <cinttypes>

namespace shortline::replay {
namespace {

double ms(uint64_t ns) { return static_cast<double>(ns) / 1e6; }
double us(uint64_t ns) { return static_cast<double>(ns) / 1e3; }

KneeBounds bounds_of(const ReplayOptions& o) { return KneeBounds{o.knee_loss, o.knee_p99_ms}; }

}  // namespace

std::vector<IntervalRow> ramp_rows(const ReplayOptions& o, const ReplayResult& r) {
  const double slope = (o.ramp_to_pps - o.ramp_from_pps) / o.ramp_seconds;
  const auto span_ns = static_cast<uint64_t>(o.ramp_seconds * 1e9);
  return interval_rows(r.intervals, span_ns,
                       [&o, slope](double t) { return o.ramp_from_pps + slope * t; });
}

std::string ramp_text(const ReplayOptions& o, const ReplayResult& r) {
  const std::vector<IntervalRow> rows = ramp_rows(o, r);
  const auto knee = find_knee(rows, bounds_of(o));
  std::string out = "  ramp:      interval  intended pps  offered pps  answered pps    loss %"
                    "    p50 ms    p99 ms\n";
  for (size_t i = 0; i < rows.size(); ++i) {
    const IntervalRow& row = rows[i];
    out += format_line("  %s %6.2f-%-6.2f %13.1f %12.1f %13.1f %9.2f %9.3f %9.3f\n",
                       knee && *knee == i ? "knee >" : "      ", row.start_s, row.end_s,
                       row.intended_pps, row.offered_pps, row.answered_pps, 100.0 * row.loss,
                       ms(row.p50_ns), ms(row.p99_ns));
  }
  if (knee)
    out += format_line("  knee:      %.1f pps offered (%.1f answered) at %.2f-%.2f s: the highest "
                       "rate with loss <= %.2f%% and p99 <= %.3f ms\n",
                       rows[*knee].offered_pps, rows[*knee].answered_pps, rows[*knee].start_s,
                       rows[*knee].end_s, 100.0 * o.knee_loss, o.knee_p99_ms);
  else
    out += format_line("  knee:      none: no interval had loss <= %.2f%% and p99 <= %.3f ms\n",
                       100.0 * o.knee_loss, o.knee_p99_ms);
  return out;
}

std::string ramp_json(const ReplayOptions& o, const ReplayResult& r) {
  const std::vector<IntervalRow> rows = ramp_rows(o, r);
  const auto knee = find_knee(rows, bounds_of(o));
  std::string out = format_line(",\"ramp\":{\"from_pps\":%.3f,\"to_pps\":%.3f,\"seconds\":%.3f,"
                                "\"interval_s\":%.3f},\"intervals\":[",
                                o.ramp_from_pps, o.ramp_to_pps, o.ramp_seconds, o.interval_s);
  for (size_t i = 0; i < rows.size(); ++i) {
    const IntervalRow& row = rows[i];
    out += format_line("%s{\"start_s\":%.3f,\"end_s\":%.3f,\"intended_pps\":%.1f,"
                       "\"offered_pps\":%.1f,\"answered_pps\":%.1f,\"sent\":%" PRIu64
                       ",\"answered\":%" PRIu64 ",\"loss\":%.6f,\"p50_us\":%.1f,\"p99_us\":%.1f}",
                       i == 0 ? "" : ",", row.start_s, row.end_s, row.intended_pps,
                       row.offered_pps, row.answered_pps, row.sent, row.answered, row.loss,
                       us(row.p50_ns), us(row.p99_ns));
  }
  out += format_line("],\"knee\":{\"loss_max\":%.6f,\"p99_max_ms\":%.3f", o.knee_loss,
                     o.knee_p99_ms);
  if (knee)
    out += format_line(",\"pps\":%.1f,\"answered_pps\":%.1f,\"interval\":%zu}",
                       rows[*knee].offered_pps, rows[*knee].answered_pps, *knee);
  else
    out += ",\"pps\":null,\"answered_pps\":null,\"interval\":null}";
  return out;
}

}  // namespace shortline::replay

// Text table and JSON of a ramp.
#include "tools/replay/ramp_report.h"

#include <cinttypes>
#include <filesystem>

#include "tools/replay/ramp_plot.h"

namespace shortline::replay {
namespace {

double ms(uint64_t ns) { return static_cast<double>(ns) / 1e6; }
double us(uint64_t ns) { return static_cast<double>(ns) / 1e3; }

KneeBounds bounds_of(const ReplayOptions& o) { return KneeBounds{o.knee_loss, o.knee_p99_ms}; }

// ",\"max_throughput\":{...}": resperf's figure, by the knee's bounds.
std::string max_throughput_json(std::span<const IntervalRow> rows, KneeBounds bounds) {
  const auto best = find_best_before_first_break(rows, bounds);
  if (!best)
    return ",\"max_throughput\":{\"answered_pps\":null,\"offered_pps\":null,\"interval\":null}";
  return format_line(",\"max_throughput\":{\"answered_pps\":%.1f,\"offered_pps\":%.1f,"
                     "\"interval\":%zu}",
                     rows[*best].answered_pps, rows[*best].offered_pps, *best);
}

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
  if (const auto best = find_best_before_first_break(rows, bounds_of(o)))
    out += format_line("  max throughput: %.1f pps answered at %.2f-%.2f s: the highest answered "
                       "rate before the first interval over a bound (resperf's rule)\n",
                       rows[*best].answered_pps, rows[*best].start_s, rows[*best].end_s);
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
  return out + max_throughput_json(rows, bounds_of(o));
}

bool write_ramp_plot(const ReplayOptions& o, const ReplayResult& r, std::string& error) {
  const std::vector<IntervalRow> rows = ramp_rows(o, r);
  RampPlot plot;
  plot.output_path = o.plot_path;
  plot.format = plot_format_of(o.plot_path).value_or(PlotFormat::kSvg);
  plot.bounds = bounds_of(o);
  plot.knee = find_knee(rows, plot.bounds);
  plot.max_throughput = find_best_before_first_break(rows, plot.bounds);
  const std::string capture = std::filesystem::path(o.capture_path).filename().string();
  plot.title = format_line("shortline-replay %s to %s: %.0f to %.0f datagrams/s over %g s, "
                           "knee at loss <= %g %%, p99 <= %g ms",
                           capture.c_str(), o.target_text.c_str(), o.ramp_from_pps,
                           o.ramp_to_pps, o.ramp_seconds, 100.0 * o.knee_loss, o.knee_p99_ms);
  return run_gnuplot(ramp_plot_script(rows, plot), error);
}

}  // namespace shortline::replay

// The replay summary (text for people, JSON for machines).
#include "tools/replay/replay_stats.h"

#include <cinttypes>
#include <cstdarg>
#include <cstdio>

#include "tools/replay/ramp_report.h"

namespace shortline::replay {

const char* to_string(StopReason reason) {
  switch (reason) {
    case StopReason::kCompleted: return "completed";
    case StopReason::kDuration: return "duration";
    case StopReason::kInterrupted: return "interrupted";
  }
  return "unknown";
}

std::string json_quote(const std::string& text) {
  std::string out = "\"";
  for (const char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buffer[8];
      std::snprintf(buffer, sizeof(buffer), "\\u%04x", static_cast<unsigned>(c));
      out += buffer;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

namespace {

// Derived numbers shared by both formats.
struct Derived {
  uint64_t loss = 0;
  double loss_pct = 0;
  double send_s = 0;
  double achieved_pps = 0;
  double answered_pps = 0;  // replies per second of sending: what the target sustained
  double read_pps = 0;
};

Derived derive(const CaptureCounts& c, const ReplayResult& r) {
  Derived d;
  d.loss = r.sent > r.replies ? r.sent - r.replies : 0;
  d.loss_pct = r.sent == 0 ? 0.0 : 100.0 * static_cast<double>(d.loss) / static_cast<double>(r.sent);
  d.send_s = static_cast<double>(r.send_elapsed_ns) / 1e9;
  // Intervals over time, as the intended rate counts them: n sends span n - 1 intervals.
  d.achieved_pps = d.send_s > 0 && r.sent > 1 ? static_cast<double>(r.sent - 1) / d.send_s : 0.0;
  d.answered_pps = d.send_s > 0 ? static_cast<double>(r.replies) / d.send_s : 0.0;
  const double load_s = static_cast<double>(r.load_elapsed_ns) / 1e9;
  d.read_pps = load_s > 0 ? static_cast<double>(c.records_read) / load_s : 0.0;
  return d;
}

double ms(uint64_t ns) { return static_cast<double>(ns) / 1e6; }
double us(uint64_t ns) { return static_cast<double>(ns) / 1e3; }

// How the run was paced, for the text summary.
std::string pace_text(const ReplayOptions& o, const ReplayResult& r) {
  std::string text;
  if (o.ramp) text = format_line("ramp %.0f -> %.0f pps over %.1f s", o.ramp_from_pps, o.ramp_to_pps,
                          o.ramp_seconds);
  else if (o.rate_pps > 0) text = format_line("fixed rate %.1f pps", o.rate_pps);
  else if (o.max_rate) text = "max rate";
  else text = format_line("recorded pace x%g (%.1f pps)", o.speed, r.intended_rate_pps);
  if (o.window > 0) text += format_line(", window %u", o.window);
  return text;
}

}  // namespace

std::string format_line(const char* format, ...) {
  char buffer[512];
  va_list args;
  va_start(args, format);
  std::vsnprintf(buffer, sizeof(buffer), format, args);
  va_end(args);
  return buffer;
}

const char* pace_name(const ReplayOptions& o) {
  if (o.ramp) return "ramp";
  if (o.rate_pps > 0) return "rate";
  if (o.max_rate) return "max_rate";
  return "recorded";
}

std::string format_text(const ReplayOptions& o, const CapturePlan& plan, const ReplayResult& r) {
  const CaptureCounts& c = plan.counts;
  const Derived d = derive(c, r);
  auto skip = [&c](SkipReason s) { return c.skipped[static_cast<size_t>(s)]; };
  std::string out = "shortline-replay: " + o.capture_path + " (" + plan.link_type_name +
                    ") -> " + o.target_text + "\n";
  out += "  selection: " + plan.selection + "\n";
  out += format_line("  capture:   read %" PRIu64 ", udp %" PRIu64 ", selected %" PRIu64
              "; skipped not_udp %" PRIu64 ", fragment %" PRIu64 ", truncated %" PRIu64
              ", malformed %" PRIu64 ", filtered %" PRIu64 "\n",
              c.records_read, c.udp_datagrams, c.selected, skip(SkipReason::kNotUdp),
              skip(SkipReason::kFragment), skip(SkipReason::kTruncated),
              skip(SkipReason::kMalformed), skip(SkipReason::kFiltered));
  out += format_line("  reading:   %.3f s, %.0f records/s\n", static_cast<double>(r.load_elapsed_ns) / 1e9,
              d.read_pps);
  if (c.file_damaged) out += "  warning:   capture damaged, read stopped: " + c.file_warning + "\n";
  out += format_line("  flows:     %u sockets for %" PRIu64 " sources (%" PRIu64 " folded)\n",
              plan.flows.flow_count(), plan.flows.distinct_sources(), plan.flows.folded_sources());
  out += "  pace:      " + pace_text(o, r) + "\n";
  out += format_line("  sent:      %" PRIu64 " in %.3f s (%" PRIu64 " loops, %s), %.1f pps achieved",
              r.sent, d.send_s, r.loops_started, to_string(r.stop), d.achieved_pps);
  out += o.max_rate || o.ramp ? std::string() : format_line(", %.1f pps intended", r.intended_rate_pps);
  out += format_line("; send errors %" PRIu64 "\n", r.send_errors);
  out += format_line("  replies:   %" PRIu64 " (%.1f pps answered), matched by %s; loss %" PRIu64
              " (%.2f%%: timed out %" PRIu64 ", evicted %" PRIu64 "); unmatched %" PRIu64
              ", refused (ICMP unreachable) %" PRIu64 "; outstanding max %" PRIu64 "\n",
              r.replies, d.answered_pps, to_string(r.match), d.loss, d.loss_pct, r.expired,
              r.evicted, r.unmatched_replies, r.refused, r.outstanding_max);
  if (r.latency_ns.count() == 0) out += "  latency:   no replies\n";
  else out += format_line("  latency:   p50 %.3f ms, p99 %.3f ms, p999 %.3f ms, max %.3f ms\n",
                   ms(r.latency_ns.percentile_ns(0.5)), ms(r.latency_ns.percentile_ns(0.99)),
                   ms(r.latency_ns.percentile_ns(0.999)), ms(r.latency_ns.max_ns()));
  if (!o.max_rate)
    out += format_line("  schedule:  lateness mean %.3f ms, p99 %.3f ms, max %.3f ms; gaps clamped %"
                PRIu64 ", timestamps backwards %" PRIu64 "\n",
                r.lateness_ns.mean_ns() / 1e6, ms(r.lateness_ns.percentile_ns(0.99)),
                ms(r.lateness_ns.max_ns()), r.gaps_clamped, r.timestamps_backwards);
  if (o.ramp) out += ramp_text(o, r);
  return out;
}

std::string format_json(const ReplayOptions& o, const CapturePlan& plan, const ReplayResult& r) {
  const CaptureCounts& c = plan.counts;
  const Derived d = derive(c, r);
  std::string out = "{\"capture\":" + json_quote(o.capture_path) +
                    ",\"link_type\":" + json_quote(plan.link_type_name) +
                    ",\"target\":" + json_quote(o.target_text) +
                    ",\"selection\":" + json_quote(plan.selection) +
                    format_line(",\"dst_port\":%d", plan.dst_port);
  out += format_line(",\"read\":%" PRIu64 ",\"udp\":%" PRIu64 ",\"selected\":%" PRIu64 ",\"skipped\":{",
              c.records_read, c.udp_datagrams, c.selected);
  for (size_t i = 0; i < c.skipped.size(); ++i)
    out += format_line("%s\"%s\":%" PRIu64, i == 0 ? "" : ",", to_string(static_cast<SkipReason>(i)),
                c.skipped[i]);
  out += format_line("},\"capture_damaged\":%s", c.file_damaged ? "true" : "false");
  if (c.file_damaged) out += ",\"capture_warning\":" + json_quote(c.file_warning);
  out += format_line(",\"flows\":%u,\"sources\":%" PRIu64 ",\"sources_folded\":%" PRIu64,
              plan.flows.flow_count(), plan.flows.distinct_sources(), plan.flows.folded_sources());
  out += format_line(",\"mode\":\"%s\",\"window\":%u,\"match\":\"%s\"", pace_name(o), o.window,
              to_string(r.match));
  out += format_line(",\"sent\":%" PRIu64 ",\"send_errors\":%" PRIu64 ",\"send_calls\":%" PRIu64
              ",\"loops\":%" PRIu64 ",\"stop\":\"%s\"",
              r.sent, r.send_errors, r.send_calls, r.loops_started, to_string(r.stop));
  out += format_line(",\"replies\":%" PRIu64 ",\"unmatched_replies\":%" PRIu64 ",\"loss\":%" PRIu64
              ",\"loss_pct\":%.4f,\"refused\":%" PRIu64, r.replies, r.unmatched_replies, d.loss,
              d.loss_pct, r.refused);
  out += format_line(",\"timed_out\":%" PRIu64 ",\"evicted\":%" PRIu64 ",\"outstanding_max\":%" PRIu64
              ",\"answered_pps\":%.1f", r.expired, r.evicted, r.outstanding_max, d.answered_pps);
  out += format_line(",\"load_seconds\":%.6f,\"read_pps\":%.1f",
              static_cast<double>(r.load_elapsed_ns) / 1e9, d.read_pps);
  out += format_line(",\"send_seconds\":%.6f,\"achieved_pps\":%.1f,\"intended_pps\":%.1f,\"max_rate\":%s",
              d.send_s, d.achieved_pps, r.intended_rate_pps, o.max_rate ? "true" : "false");
  out += format_line(",\"latency_us\":{\"p50\":%.1f,\"p99\":%.1f,\"p999\":%.1f,\"max\":%.1f}",
              us(r.latency_ns.percentile_ns(0.5)), us(r.latency_ns.percentile_ns(0.99)),
              us(r.latency_ns.percentile_ns(0.999)), us(r.latency_ns.max_ns()));
  out += format_line(",\"lateness_us\":{\"mean\":%.1f,\"p99\":%.1f,\"max\":%.1f}",
              r.lateness_ns.mean_ns() / 1e3, us(r.lateness_ns.percentile_ns(0.99)),
              us(r.lateness_ns.max_ns()));
  out += format_line(",\"gaps_clamped\":%" PRIu64 ",\"timestamps_backwards\":%" PRIu64,
              r.gaps_clamped, r.timestamps_backwards);
  if (o.ramp) out += ramp_json(o, r);
  return out + "}\n";
}

}  // namespace shortline::replay

// shortline-replay: replays the UDP payloads of a pcap/pcapng capture to a target (usually
// shortline-lb) at recorded pace, scaled, at a fixed rate, in a ramp or in a closed loop, and
// summarises what came back (a ramp: per interval, and the knee).
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "control/common/event_log_file.h"
#include "tools/replay/capture_reader.h"
#include "tools/replay/dns_query.h"
#include "tools/replay/flow_map.h"
#include "tools/replay/ramp_plot.h"
#include "tools/replay/ramp_report.h"
#include "tools/replay/replay_engine.h"
#include "tools/replay/replay_options.h"
#include "tools/replay/replay_schedule.h"
#include "tools/replay/replay_stats.h"

namespace {

using namespace shortline::replay;

constexpr int kExitRuntime = 1;
constexpr int kExitUsage = 2;

std::atomic<bool> g_stop{false};
static_assert(std::atomic<bool>::is_always_lock_free);

void on_signal(int) { g_stop.store(true); }

void install_signal_handlers() {
  struct sigaction action {};
  action.sa_handler = on_signal;  // no SA_RESTART: epoll_wait returns EINTR at once
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

int fail(int code, const std::string& message) {
  std::fprintf(stderr, "shortline-replay: %s\n", message.c_str());
  return code;
}

// ", skipped: malformed 1, ..." for the reasons that occurred.
std::string skip_text(const CaptureCounts& counts) {
  std::string text;
  for (size_t i = 0; i < counts.skipped.size(); ++i) {
    if (counts.skipped[i] == 0) continue;
    text += (text.empty() ? ", skipped: " : ", ");
    text += std::string(to_string(static_cast<SkipReason>(i))) + " " +
            std::to_string(counts.skipped[i]);
  }
  if (counts.file_damaged) text += ", damaged: " + counts.file_warning;
  return text;
}

ReplaySchedule make_schedule(ReplayOptions& options, const CapturePlan& plan,
                             ReplayResult& result) {
  if (options.rate_pps > 0) return ReplaySchedule::fixed_rate(plan.datagrams.size(), options.rate_pps);
  if (options.ramp)
    return ReplaySchedule::ramp(plan.datagrams.size(), options.ramp_from_pps, options.ramp_to_pps,
                                options.ramp_seconds);
  std::vector<uint64_t> timestamps;
  timestamps.reserve(plan.datagrams.size());
  for (const auto& d : plan.datagrams) timestamps.push_back(d.timestamp_ns);
  const auto gap_max_ns = static_cast<uint64_t>(options.gap_max_s * 1e9);
  Offsets offsets = build_offsets(timestamps, gap_max_ns);
  result.gaps_clamped = offsets.gaps_clamped;
  result.timestamps_backwards = offsets.backwards;
  if (!options.max_rate && !offsets.offsets_ns.empty() && offsets.offsets_ns.back() == 0) {
    // One datagram, or all at one instant: there is no recorded pace to keep.
    std::fputs("shortline-replay: the selection spans no time (one timestamp): sending at "
               "full speed\n", stderr);
    options.max_rate = true;
  }
  return ReplaySchedule(std::move(offsets.offsets_ns), options.max_rate ? 0.0 : options.speed);
}

// The matching the options ask for; DNS only where every selected payload is a DNS query
// (auto) or at least holds a DNS header (forced), since replay rewrites each message's ID.
bool choose_match(const ReplayOptions& options, const CapturePlan& plan, MatchMode& mode,
                  std::string& error) {
  mode = MatchMode::kFlow;
  if (options.match == MatchChoice::kFlow) return true;
  for (size_t i = 0; i < plan.datagrams.size(); ++i) {
    const PlannedDatagram& d = plan.datagrams[i];
    const std::span payload(plan.payload_bytes.data() + d.payload_offset, d.payload_length);
    if (options.match == MatchChoice::kAuto && !is_dns_query(payload)) return true;
    if (payload.size() < kDnsHeaderBytes) {
      error = "--match dns: selected datagram " + std::to_string(i + 1) + " holds " +
              std::to_string(payload.size()) + " bytes, less than a DNS header";
      return false;
    }
  }
  mode = MatchMode::kDns;
  return true;
}

// One interval for the whole run, or the ramp's rows.
IntervalTable make_intervals(const ReplayOptions& options) {
  if (!options.ramp) return IntervalTable(1'000'000'000, 1);
  const auto interval_ns = static_cast<uint64_t>(options.interval_s * 1e9);
  const auto count = static_cast<uint32_t>(std::ceil(options.ramp_seconds / options.interval_s - 1e-9));
  return IntervalTable(interval_ns, count);
}

EngineConfig engine_config(const ReplayOptions& options, MatchMode match) {
  EngineConfig config;
  config.loops_max = options.loops;
  config.duration_ns = static_cast<uint64_t>((options.ramp ? options.ramp_seconds : options.duration_s) * 1e9);
  config.timeout_ms = options.timeout_ms;
  config.batch_max = options.batch_max;
  config.window = options.window;
  config.outstanding_max = options.outstanding_max;
  config.match = match;
  config.progress = options.progress == 1 || (options.progress < 0 && isatty(STDERR_FILENO));
  config.stop = &g_stop;
  return config;
}

}  // namespace

int main(int argc, char** argv) {
  ReplayOptions options;
  std::string error;
  switch (parse_options(argc, argv, options, error)) {
    case ParseOutcome::kHelp: std::fputs(usage_text().c_str(), stdout); return 0;
    case ParseOutcome::kError: return fail(kExitUsage, error);
    case ParseOutcome::kRun: break;
  }
  // Before the capture is read and the ramp run: a picture that cannot be drawn fails now.
  if (!options.plot_path.empty() && !gnuplot_found())
    return fail(kExitRuntime, "--plot needs gnuplot on PATH (Debian: apt install gnuplot-nox)");
  if (!options.plot_path.empty() && !plot_folder_writable(options.plot_path, error))
    return fail(kExitRuntime, error);
  LoadOptions load;
  load.filter = options.filter;
  load.dst_port = options.dst_port;
  load.flows_max = options.flows_max;
  CapturePlan plan;
  const auto load_start = std::chrono::steady_clock::now();
  if (!load_capture(options.capture_path, load, plan, error)) {
    // libpcap's own messages often start with the path already.
    const bool has_path = error.rfind(options.capture_path, 0) == 0;
    return fail(kExitUsage, has_path ? error : options.capture_path + ": " + error);
  }
  if (plan.counts.file_damaged)
    std::fprintf(stderr, "shortline-replay: warning: %s is damaged after %llu records (%s); "
                 "replaying what came before\n", options.capture_path.c_str(),
                 static_cast<unsigned long long>(plan.counts.records_read),
                 plan.counts.file_warning.c_str());
  std::fprintf(stderr, "shortline-replay: selection: %s\n", plan.selection.c_str());
  if (plan.datagrams.empty())
    return fail(kExitUsage, options.capture_path + ": no UDP datagrams to replay (" +
                                std::to_string(plan.counts.records_read) + " records read" +
                                skip_text(plan.counts) + ")");
  MatchMode match = MatchMode::kFlow;
  if (!choose_match(options, plan, match, error)) return fail(kExitUsage, error);
  ReplayResult result;
  result.intervals = make_intervals(options);
  result.load_elapsed_ns = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
      std::chrono::steady_clock::now() - load_start).count());
  const ReplaySchedule schedule = make_schedule(options, plan, result);
  if (!ensure_fd_limit(plan.flows.flow_count()))
    return fail(kExitRuntime, "the open-file limit is too low for " +
                                  std::to_string(plan.flows.flow_count()) +
                                  " flow sockets; lower --flows-max or raise ulimit -n");
  FlowSockets sockets;
  if (!sockets.open(plan.flows.flow_count(), options.target, error))
    return fail(kExitRuntime, error);
  shortline::EventLog log;
  if (!options.log_dir.empty()) {
    log.set_source("replay");
    const std::string folder = options.log_dir + "/" + std::string(shortline::kReplayLogFolder);
    if (!log.open(folder, "replay.log", error)) return fail(kExitRuntime, error);
  }
  log.write("started: " + options.capture_path + " to " + options.target.to_string() + ", " +
            std::to_string(plan.datagrams.size()) + " datagrams, " + plan.selection);
  install_signal_handlers();
  const EngineConfig config = engine_config(options, match);
  if (!run_replay(plan, schedule, sockets, config, result, error)) {
    log.write("failed: " + error);
    return fail(kExitRuntime, error);
  }
  std::string finished = "finished: " + format_json(options, plan, result);
  while (finished.ends_with('\n')) finished.pop_back();  // one line per event
  log.write(finished);
  const std::string summary =
      options.json ? format_json(options, plan, result) : format_text(options, plan, result);
  std::fputs(summary.c_str(), stdout);
  if (!options.plot_path.empty()) {
    std::fflush(stdout);
    if (!write_ramp_plot(options, result, error)) return fail(kExitRuntime, error);
    std::fprintf(stderr, "shortline-replay: picture: %s\n", options.plot_path.c_str());
  }
  return 0;
}

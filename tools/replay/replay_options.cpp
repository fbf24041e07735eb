// Parsing of shortline-replay's command line: "--flag value" or "--flag=value", one capture.
#include "tools/replay/replay_options.h"

#include <charconv>
#include <string_view>

#include "tools/replay/ramp_intervals.h"
#include "tools/replay/ramp_plot.h"

namespace shortline::replay {
namespace {

bool parse_double(std::string_view text, double low, double high, double& out) {
  double value = 0.0;
  const auto* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc{} || ptr != end || !(value >= low && value <= high))
    return false;
  out = value;
  return true;
}

bool parse_uint(std::string_view text, uint64_t low, uint64_t high, uint64_t& out) {
  uint64_t value = 0;
  const auto* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc{} || ptr != end || value < low || value > high)
    return false;
  out = value;
  return true;
}

bool takes_value(std::string_view name) {
  return name != "--max-rate" && name != "--json" && name != "--progress" &&
         name != "--no-progress";
}

bool bad(std::string& error, std::string_view name, std::string_view value,
         std::string_view allowed) {
  error = std::string(name) + " '" + std::string(value) + "': " + std::string(allowed);
  return false;
}

// "FROM:TO:SECONDS" of --ramp: rates >= 0, TO > 0, seconds > 0.
bool parse_ramp(std::string_view text, ReplayOptions& o) {
  const auto first = text.find(':');
  const auto second = first == std::string_view::npos ? first : text.find(':', first + 1);
  if (second == std::string_view::npos) return false;
  return parse_double(text.substr(0, first), 0.0, 1e9, o.ramp_from_pps) &&
         parse_double(text.substr(first + 1, second - first - 1), 1e-3, 1e9, o.ramp_to_pps) &&
         parse_double(text.substr(second + 1), 1e-3, 1e6, o.ramp_seconds);
}

enum class Applied : uint8_t { kNotMine, kOk, kBad };

Applied applied(bool ok) { return ok ? Applied::kOk : Applied::kBad; }

// The offered-load flags of benchmark runs: --rate, --ramp and what the ramp reports, --window.
Applied apply_load_flag(std::string_view name, std::string_view value, ReplayOptions& o,
                        std::string& error) {
  uint64_t n = 0;
  if (name == "--rate") {
    return applied(parse_double(value, 1e-3, 1e9, o.rate_pps) ||
                   bad(error, name, value, "expected datagrams per second in 0.001..1000000000"));
  }
  if (name == "--ramp") {
    o.ramp = true;
    return applied(parse_ramp(value, o) ||
                   bad(error, name, value, "expected FROM:TO:SECONDS, e.g. 1000:50000:30"));
  }
  if (name == "--interval") {
    return applied(parse_double(value, 0.01, 3600, o.interval_s) ||
                   bad(error, name, value, "expected seconds in 0.01..3600"));
  }
  if (name == "--knee-loss") {
    return applied(parse_double(value, 0.0, 1.0, o.knee_loss) ||
                   bad(error, name, value, "expected a fraction in 0..1, e.g. 0.01"));
  }
  if (name == "--knee-p99-ms") {
    return applied(parse_double(value, 1e-3, 3.6e6, o.knee_p99_ms) ||
                   bad(error, name, value, "expected milliseconds in 0.001..3600000"));
  }
  if (name == "--plot") {
    o.plot_path = std::string(value);
    return applied(plot_format_of(value).has_value() ||
                   bad(error, name, value, "expected a file name ending in .svg or .png"));
  }
  if (name == "--window") {
    if (!parse_uint(value, 1, ReplayOptions::kWindowLimit, n))
      return applied(bad(error, name, value, "expected 1..1000000 requests outstanding"));
    o.window = static_cast<uint32_t>(n);
    return Applied::kOk;
  }
  if (name == "--outstanding-max") {
    if (!parse_uint(value, 1, ReplayOptions::kOutstandingLimit, n))
      return applied(bad(error, name, value, "expected 1..16777216"));
    o.outstanding_max = n;
    return Applied::kOk;
  }
  if (name == "--match") {
    if (value == "auto") o.match = MatchChoice::kAuto;
    else if (value == "dns") o.match = MatchChoice::kDns;
    else if (value == "flow") o.match = MatchChoice::kFlow;
    else return applied(bad(error, name, value, "expected auto, dns or flow"));
    return Applied::kOk;
  }
  return Applied::kNotMine;
}

// Applies one flag; false with a message when the flag or its value is not allowed.
bool apply_flag(std::string_view name, std::string_view value, ReplayOptions& o,
                std::string& error) {
  if (const Applied load = apply_load_flag(name, value, o, error); load != Applied::kNotMine)
    return load == Applied::kOk;
  uint64_t n = 0;
  if (name == "--target") {
    auto target = NetAddress::parse(value);
    if (!target) return bad(error, name, value, "expected HOST:PORT, e.g. 127.0.0.1:5300");
    o.target = *target;
    o.target_text = std::string(value);
  } else if (name == "--filter") {
    if (value.empty()) return bad(error, name, value, "expected a BPF expression");
    o.filter = std::string(value);
  } else if (name == "--port") {
    if (!parse_uint(value, 0, 65535, n)) return bad(error, name, value, "expected 0..65535");
    o.dst_port = static_cast<int>(n);
  } else if (name == "--speed") {
    if (!parse_double(value, 1e-3, 1e6, o.speed))
      return bad(error, name, value, "expected a factor in 0.001..1000000");
  } else if (name == "--loop") {
    if (!parse_uint(value, 0, UINT32_MAX, o.loops))
      return bad(error, name, value, "expected a count (0: until --duration or Ctrl-C)");
  } else if (name == "--duration") {
    if (!parse_double(value, 1e-3, 1e7, o.duration_s))
      return bad(error, name, value, "expected seconds in 0.001..10000000");
  } else if (name == "--timeout-ms") {
    if (!parse_uint(value, 0, 3'600'000, n)) return bad(error, name, value, "expected 0..3600000");
    o.timeout_ms = static_cast<uint32_t>(n);
  } else if (name == "--gap-max") {
    if (!parse_double(value, 0.0, 1e7, o.gap_max_s))
      return bad(error, name, value, "expected seconds (0: keep every gap)");
  } else if (name == "--flows-max") {
    if (!parse_uint(value, 1, ReplayOptions::kFlowsLimit, n))
      return bad(error, name, value, "expected 1..65536");
    o.flows_max = static_cast<uint32_t>(n);
  } else if (name == "--batch") {
    if (!parse_uint(value, 1, ReplayOptions::kBatchLimit, n))
      return bad(error, name, value, "expected 1..1024");
    o.batch_max = static_cast<uint32_t>(n);
  } else if (name == "--max-rate") {
    o.max_rate = true;
  } else if (name == "--json") {
    o.json = true;
  } else if (name == "--progress" || name == "--no-progress") {
    o.progress = name == "--progress" ? 1 : 0;
  } else if (name == "--log-dir") {
    if (value.empty()) error = "--log-dir: empty";
    o.log_dir = std::string(value);
    return error.empty();
  } else {
    error = "unknown option " + std::string(name) + " (see --help)";
    return false;
  }
  return true;
}

// Which flags set the pace: at most one of them may be given.
struct PaceFlags {
  bool speed = false;
  bool loop = false;
  bool duration = false;
  [[nodiscard]] int count(const ReplayOptions& o) const {
    return int{speed} + int{o.max_rate} + int{o.rate_pps > 0} + int{o.ramp};
  }
};

bool check_ramp(const ReplayOptions& o, const PaceFlags& given, std::string& error) {
  if (!o.ramp) {
    if (!o.plot_path.empty()) error = "--plot draws a ramp's rows; it needs --ramp";
    return o.plot_path.empty();
  }
  if (given.duration) error = "--ramp FROM:TO:SECONDS sets the duration; drop --duration";
  else if (o.ramp_seconds / o.interval_s > IntervalTable::kIntervalsMax)
    error = "--ramp over --interval gives more than 1000 rows; use a longer --interval";
  else return true;
  return false;
}

bool check_combination(const ReplayOptions& o, const PaceFlags& given, std::string& error) {
  if (o.capture_path.empty()) error = "missing the CAPTURE file argument (see --help)";
  else if (o.target_text.empty()) error = "missing --target HOST:PORT (see --help)";
  else if (given.count(o) > 1)
    error = "--speed, --max-rate, --rate and --ramp exclude each other (pick one pace)";
  else if (!o.filter.empty() && o.dst_port >= 0) error = "--filter and --port exclude each other";
  else return check_ramp(o, given, error);
  return false;
}

}  // namespace

ParseOutcome parse_options(int argc, const char* const* argv, ReplayOptions& options,
                           std::string& error) {
  options = ReplayOptions{};
  PaceFlags given;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "-h" || arg == "--help") return ParseOutcome::kHelp;
    if (arg.size() < 2 || arg.substr(0, 2) != "--" || arg == "--") {
      if (!options.capture_path.empty()) {
        error = "more than one capture given: '" + std::string(arg) + "'";
        return ParseOutcome::kError;
      }
      options.capture_path = std::string(arg);
      continue;
    }
    std::string_view name = arg;
    std::string_view value;
    if (const auto eq = arg.find('='); eq != std::string_view::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
    } else if (takes_value(name)) {
      if (i + 1 >= argc) {
        error = std::string(name) + " needs a value";
        return ParseOutcome::kError;
      }
      value = argv[++i];
    }
    given.speed = given.speed || name == "--speed";
    given.loop = given.loop || name == "--loop";
    given.duration = given.duration || name == "--duration";
    if (!apply_flag(name, value, options, error)) return ParseOutcome::kError;
  }
  if (!check_combination(options, given, error)) return ParseOutcome::kError;
  if (options.ramp && !given.loop) options.loops = 0;  // a ramp loops the capture until it ends
  return ParseOutcome::kRun;
}

std::string usage_text() {
  return R"(usage: shortline-replay CAPTURE --target HOST:PORT [options]

Replays the UDP payloads of a pcap or pcapng capture to HOST:PORT (typically shortline-lb),
one local socket per recorded source ip:port, and measures the replies.

Link types: Ethernet (with 802.1Q/QinQ tags), Linux cooked SLL and SLL2, raw IPv4/IPv6
(LINKTYPE_RAW, LINKTYPE_IPV4, LINKTYPE_IPV6), BSD loopback. IPv4 and IPv6 (extension
headers walked); IP fragments are skipped and counted.

Selection (default: datagrams to the capture's busiest UDP destination port):
  --filter EXPR      BPF filter (tcpdump syntax), e.g. 'udp dst port 53'
  --port N           datagrams to UDP destination port N
Pace (pick one; default: the recorded pace):
  --speed X          scale recorded time: 1 = recorded pace (default), 10 = ten times faster
  --max-rate         ignore timestamps, send as fast as possible (fills buffers; says little)
  --rate R           a fixed offered rate: R datagrams per second, the capture looped in order
  --ramp FROM:TO:S   the offered rate climbs linearly from FROM to TO datagrams/s over S
                     seconds, looping the capture; prints a table per --interval (offered,
                     answered, loss, p50/p99) and the knee: the highest offered rate of a row
                     with loss <= --knee-loss and p99 <= --knee-p99-ms; also the max
                     throughput, resperf's rule: the highest answered rate of the rows
                     before the first one over either bound
  --loop N           play the capture N times (default 1, with --ramp 0; 0 = until --duration,
                     the ramp's end or Ctrl-C)
  --duration S       stop sending after S seconds
  --gap-max S        shorten recorded idle gaps above S seconds (default 60, 0 = keep)
Closed loop and the knee:
  --window N         at most N requests outstanding: the next is sent when a reply comes or a
                     request times out (alone: as fast as the target answers)
  --interval S       the ramp table's row length (default 1 s)
  --knee-loss F      loss bound of the knee, a fraction (default 0.01)
  --knee-p99-ms MS   p99 bound of the knee (default 100)
Replies and output:
  --timeout-ms N     a request unanswered after N ms is lost; also the wait for replies after
                     the last send (default 1000)
  --match MODE       auto (default): DNS message IDs when every selected payload is a DNS
                     query, else flow; dns: always by ID; flow: each reply answers its flow's
                     oldest outstanding request. With IDs, replay writes a per-flow sequence
                     number into each query's ID, so IDs stay unique when the capture loops
  --json             print the summary as JSON on stdout
  --plot FILE        with --ramp: a picture of the answered rate and the p99 against the
                     offered rate, the knee and the max throughput marked; FILE.svg or
                     FILE.png, drawn by gnuplot (Debian's gnuplot-nox), checked before the run
  --log-dir DIR      start and finish events to DIR/replay/replay.log (default: none)
  --progress / --no-progress
                     progress line on stderr (default: when stderr is a terminal)
Limits:
  --flows-max N      distinct source sockets (default 1024, at most 65536); sources
                     beyond it share sockets and are counted
  --batch N          datagrams per sendmmsg (default 64, at most 1024)
  --outstanding-max N
                     requests tracked at once (default 262144); past it the oldest is
                     given up and counted as lost (evicted). One flow holds at most 65536
                     (the DNS IDs) and its share of the capture's sends (at least 64)

Exit status: 0 replayed, 1 runtime error (sockets), 2 usage or capture file error.
)";
}

}  // namespace shortline::replay

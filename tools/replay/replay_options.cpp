// Parsing of shortline-replay's command line: "--flag value" or "--flag=value", one capture.
#include "tools/replay/replay_options.h"

#include <charconv>
#include <string_view>

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

// Applies one flag; false with a message when the flag or its value is not allowed.
bool apply_flag(std::string_view name, std::string_view value, ReplayOptions& o,
                std::string& error) {
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

bool check_combination(const ReplayOptions& o, bool speed_given, std::string& error) {
  if (o.capture_path.empty()) error = "missing the CAPTURE file argument (see --help)";
  else if (o.target_text.empty()) error = "missing --target HOST:PORT (see --help)";
  else if (o.max_rate && speed_given) error = "--speed and --max-rate exclude each other";
  else if (!o.filter.empty() && o.dst_port >= 0) error = "--filter and --port exclude each other";
  else return true;
  return false;
}

}  // namespace

ParseOutcome parse_options(int argc, const char* const* argv, ReplayOptions& options,
                           std::string& error) {
  options = ReplayOptions{};
  bool speed_given = false;
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
    speed_given = speed_given || name == "--speed";
    if (!apply_flag(name, value, options, error)) return ParseOutcome::kError;
  }
  if (!check_combination(options, speed_given, error)) return ParseOutcome::kError;
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
Pace:
  --speed X          scale recorded time: 1 = recorded pace (default), 10 = ten times faster
  --max-rate         ignore timestamps, send as fast as possible (benchmark)
  --loop N           play the capture N times (default 1; 0 = until --duration or Ctrl-C)
  --duration S       stop sending after S seconds
  --gap-max S        shorten recorded idle gaps above S seconds (default 60, 0 = keep)
Replies and output:
  --timeout-ms N     wait for outstanding replies after the last send (default 1000)
  --json             print the summary as JSON on stdout
  --log-dir DIR      start and finish events to DIR/replay/replay.log (default: none)
  --progress / --no-progress
                     progress line on stderr (default: when stderr is a terminal)
Limits:
  --flows-max N      distinct source sockets (default 1024, at most 65536); sources
                     beyond it share sockets and are counted
  --batch N          datagrams per sendmmsg (default 64, at most 1024)

Exit status: 0 replayed, 1 runtime error (sockets), 2 usage or capture file error.
)";
}

}  // namespace shortline::replay

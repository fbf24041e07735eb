// Command-line options of shortline-replay: parsing and validation (pure), and the --help text.
#pragma once

#include <cstdint>
#include <string>

#include "dataplane/net_address.h"

namespace shortline::replay {

// How replies are matched to requests: by DNS message ID when every selected payload is a
// DNS query (auto), always (dns), or by flow in send order (flow).
enum class MatchChoice : uint8_t { kAuto, kDns, kFlow };

struct ReplayOptions {
  std::string capture_path;
  std::string target_text;
  NetAddress target;
  std::string filter;            // BPF expression; empty: busiest destination port
  int dst_port = -1;             // --port: select this destination port instead
  double speed = 1.0;            // recorded time / replay time
  bool max_rate = false;         // ignore timestamps, send as fast as possible
  double rate_pps = 0.0;         // --rate: a fixed offered rate (0: not set)
  bool ramp = false;             // --ramp FROM:TO:SECONDS
  double ramp_from_pps = 0.0;
  double ramp_to_pps = 0.0;
  double ramp_seconds = 0.0;
  double interval_s = 1.0;       // --interval: the ramp table's rows
  double knee_loss = 0.01;       // --knee-loss: a fraction
  double knee_p99_ms = 100.0;    // --knee-p99-ms
  uint32_t window = 0;           // --window: most requests outstanding (0: no bound)
  uint64_t outstanding_max = 262144;  // requests tracked at once (the oldest is dropped past it)
  MatchChoice match = MatchChoice::kAuto;
  uint64_t loops = 1;            // 0: until --duration or Ctrl-C (a ramp: until it ends)
  double duration_s = 0.0;       // 0: no bound
  uint32_t timeout_ms = 1000;    // a request unanswered this long is lost
  double gap_max_s = 60.0;       // longest recorded idle gap kept (0: keep all)
  uint32_t flows_max = 1024;     // distinct source sockets
  uint32_t batch_max = 64;       // datagrams per sendmmsg
  bool json = false;
  std::string plot_path;         // --plot: the ramp's picture (.svg or .png, by gnuplot)
  int progress = -1;             // -1: when stderr is a terminal, 0: never, 1: always
  std::string log_dir;           // start and finish events to <log_dir>/replay/replay.log

  static constexpr uint32_t kFlowsLimit = 65536;
  static constexpr uint32_t kWindowLimit = 1'000'000;
  static constexpr uint64_t kOutstandingLimit = 1ULL << 24;
  static constexpr uint32_t kBatchLimit = 1024;
};

enum class ParseOutcome : uint8_t { kRun, kHelp, kError };

// Parses argv into options. kError comes with a one-line message in error.
[[nodiscard]] ParseOutcome parse_options(int argc, const char* const* argv,
                                         ReplayOptions& options, std::string& error);
[[nodiscard]] std::string usage_text();

}  // namespace shortline::replay

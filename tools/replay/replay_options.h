// Command-line options of shortline-replay: parsing and validation (pure), and the --help text.
#pragma once

#include <cstdint>
#include <string>

#include "dataplane/net_address.h"

namespace shortline::replay {

struct ReplayOptions {
  std::string capture_path;
  std::string target_text;
  NetAddress target;
  std::string filter;            // BPF expression; empty: busiest destination port
  int dst_port = -1;             // --port: select this destination port instead
  double speed = 1.0;            // recorded time / replay time
  bool max_rate = false;         // ignore timestamps, send as fast as possible
  uint64_t loops = 1;            // 0: until --duration or Ctrl-C
  double duration_s = 0.0;       // 0: no bound
  uint32_t timeout_ms = 1000;    // wait for outstanding replies after the last send
  double gap_max_s = 60.0;       // longest recorded idle gap kept (0: keep all)
  uint32_t flows_max = 1024;     // distinct source sockets
  uint32_t batch_max = 64;       // datagrams per sendmmsg
  bool json = false;
  int progress = -1;             // -1: when stderr is a terminal, 0: never, 1: always
  std::string log_dir;           // start and finish events to <log_dir>/replay/replay.log

  static constexpr uint32_t kFlowsLimit = 65536;
  static constexpr uint32_t kBatchLimit = 1024;
};

enum class ParseOutcome : uint8_t { kRun, kHelp, kError };

// Parses argv into options. kError comes with a one-line message in error.
[[nodiscard]] ParseOutcome parse_options(int argc, const char* const* argv,
                                         ReplayOptions& options, std::string& error);
[[nodiscard]] std::string usage_text();

}  // namespace shortline::replay

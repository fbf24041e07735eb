// Parsing of shortline-controller's flags.
#include "control/controller/controller_options.h"

#include <unistd.h>

#include <array>
#include <filesystem>

#include "control/common/command_line_flags.h"

namespace shortline::controller {

const char* controller_usage() {
  return R"(usage: shortline-controller --config FILE [--demo] [--duration S] [options]

Starts shortline-lb and server.count shortline-servers from FILE (config.json), listens on
controller.address:port (default 127.0.0.1) for the balancers' ScaleRequests (ADD starts a
server on the next free port of server.port_range_start..end, REMOVE stops one with
SIGTERM so that it drains), restarts crashed servers with backoff, and logs every event to
<log dir>/controller/controller.log. On SIGINT or SIGTERM it stops every process it
started and exits 0.

  --config FILE      config file, read by the controller and by the balancer it starts
  --demo             also start client.count shortline-clients whose load rises and falls,
                     show a live table every second, print a summary at the end
  --duration S       stop after S seconds (default: run until SIGINT/SIGTERM; --demo: 60)
  --demo-rate R      the demo's peak load in requests/s (default: 3.5 servers' capacity)
  --bin-dir DIR      where shortline-lb, shortline-server and shortline-client are
                     (default: the folder of shortline-controller itself)
  --log-dir DIR      log folder (default logs): controller/, balancer/, servers/, clients/
  --help             this text

Exit status: 0 after a clean stop, 1 when the balancer or a server cannot be started,
2 for a bad command line or config file.
)";
}

std::string own_bin_dir() {
  std::array<char, 4096> path{};
  const ssize_t n = readlink("/proc/self/exe", path.data(), path.size() - 1);
  if (n <= 0) return {};
  return std::filesystem::path(std::string(path.data(), static_cast<std::size_t>(n)))
      .parent_path()
      .string();
}

bool parse_controller_options(int argc, char** argv, ControllerOptions& options,
                              std::string& error) {
  CliFlags flags(argc, argv);
  bool duration_given = false;
  while (flags.next()) {
    if (flags.is("--config")) {
      options.config_path = flags.text();
    } else if (flags.is("--demo")) {
      options.demo = true;
    } else if (flags.is("--duration")) {
      options.duration_s = flags.number(0.1, kDurationMaxS);
      duration_given = true;
    } else if (flags.is("--demo-rate")) {
      options.demo_rate_rps = flags.number(0.1, 1e7);
    } else if (flags.is("--bin-dir")) {
      options.bin_dir = flags.text();
    } else if (flags.is("--log-dir")) {
      options.log_dir = flags.text();
    } else if (flags.is("--help")) {
      options.help = true;
    } else {
      flags.unknown();
    }
  }
  if (flags.error().empty() && !options.help && options.config_path.empty())
    flags.fail("--config FILE is required");
  if (flags.error().empty() && options.log_dir.empty()) flags.fail("--log-dir: empty");
  error = flags.error();
  if (!error.empty()) return false;
  if (options.demo && !duration_given) options.duration_s = kDemoDurationDefaultS;
  if (options.bin_dir.empty()) options.bin_dir = own_bin_dir();
  return true;
}

}  // namespace shortline::controller

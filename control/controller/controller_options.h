// shortline-controller's command line: the config file, the demo switch and its length,
// where the binaries and the logs are.
#pragma once

#include <string>

namespace shortline::controller {

struct ControllerOptions {
  std::string config_path;  // required: the controller and the balancer both read it
  bool demo = false;        // also run the clients with a rising and falling load
  double duration_s = 0;    // stop after this long; 0 = until SIGINT/SIGTERM (demo: 60)
  std::string bin_dir;      // where shortline-lb, -server, -client are; "" = our own folder
  std::string log_dir = "logs";
  double demo_rate_rps = 0;  // the demo's peak offered load; 0 = about 3.5 servers' worth
  bool help = false;
};

inline constexpr double kDemoDurationDefaultS = 60;
inline constexpr double kDurationMaxS = 86'400;

// Parses argv; on error returns false and sets `error` (one line naming the flag).
[[nodiscard]] bool parse_controller_options(int argc, char** argv, ControllerOptions& options,
                                            std::string& error);
[[nodiscard]] const char* controller_usage();

// The folder holding the running executable (from /proc/self/exe), "" if unknown.
[[nodiscard]] std::string own_bin_dir();

}  // namespace shortline::controller

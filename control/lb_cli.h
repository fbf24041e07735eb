// The shortline-lb command line: --config FILE is loaded first, then every other flag
// overrides it, whatever the order. Errors are one line; the caller exits with status 2.
#pragma once

#include <optional>
#include <string>

#include "control/config.h"

namespace shortline {

struct LbCommandLine {
  Config config;              // the file (or the defaults) with the flags applied
  bool show_help = false;     // --help or -h: print lb_help_text() and exit 0
  bool show_version = false;  // --version: print the version and exit 0
  std::string take_over_from;  // --take-over PATH: the running balancer's takeover socket
  std::string config_path;    // the file loaded (--config, else ./config.json); "": none
  std::string log_dir;        // --log-dir: events also go to <log_dir>/balancer/balancer.log
};

// Read when no --config is given and it exists in the working folder.
inline constexpr const char* kDefaultConfigPath = "config.json";

struct LbCliResult {
  std::optional<LbCommandLine> command_line;  // set on success
  // One line, set on failure, without the program name: "--workers: \"abc\" is not
  // allowed: expected an integer from 0 to 256" or a loader error "config: ...".
  // Exit with kConfigErrorExitStatus.
  std::string error;
};

// Parses argv (argv[0] is the program name). Accepts "--flag value" and "--flag=value".
[[nodiscard]] LbCliResult parse_lb_command_line(int argc, const char* const* argv);
// The --help text: one line per flag with its default.
[[nodiscard]] std::string lb_help_text();

}  // namespace shortline

// The shortline-ctl command line: [flags] COMMAND [ARGS], the admin endpoint it talks to and
// the HTTP request each command becomes. The admin address and token file default to what
// ./config.json (or --config FILE) names, as shortline-lb reads them.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace shortline::ctl {

struct CtlOptions {
  std::string admin;       // HOST:PORT of the balancer's admin endpoint
  std::string token_file;  // "" = send no token
  std::string command;     // status, health, drain, undrain, add, remove, reload
  std::vector<std::string> args;
  bool json = false;       // status: the raw JSON instead of the table
  bool show_help = false;
  std::string chosen;      // where the admin address came from, for --verbose and errors
};

struct CtlParse {
  std::optional<CtlOptions> options;
  std::string error;  // one line; exit status 2
};

[[nodiscard]] CtlParse parse_ctl_command_line(int argc, const char* const* argv);
[[nodiscard]] std::string ctl_help_text();

struct CtlRequest {
  std::string method;  // GET or POST
  std::string path;    // with its query, parameters percent-encoded
};

// The request for a parsed command (its arguments are already checked).
[[nodiscard]] CtlRequest request_for(const CtlOptions& options);
[[nodiscard]] std::string percent_encode(std::string_view text);

}  // namespace shortline::ctl

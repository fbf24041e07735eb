// What shortline-server takes from config.json when its flags leave it out: the id, the
// balancer's control address, the report interval and the auth key file. Each choice is
// recorded with where it came from, for the server to print.
#pragma once

#include <string>

#include "control/config.h"
#include "tools/server/server_options.h"

namespace shortline::tools {

// Reads --config FILE, or ./config.json when --id or --balancer is missing (never with
// --no-config), and fills what the flags left out. Returns an error line or "".
[[nodiscard]] std::string fill_server_options_from_config(ServerOptions& options);

// The fill itself, for a config already loaded from `path` (tests call it directly).
[[nodiscard]] std::string apply_server_config(const Config& config, const std::string& path,
                                              ServerOptions& options);

}  // namespace shortline::tools

// What the processes around the balancer (shortline-server, shortline-client) take from
// config.json: which file to read, where servers send their reports and where clients send
// requests. A wildcard listen address (0.0.0.0, ::) is reached over loopback.
#pragma once

#include <optional>
#include <string>

#include "control/config.h"
#include "dataplane/net_address.h"

namespace shortline {

// The file read when no --config is given.
inline constexpr const char* kPeerConfigDefaultPath = "config.json";

struct PeerConfig {
  std::optional<Config> config;  // set when a file was read
  std::string path;              // the file read
  std::string error;             // set when the file exists but is broken
};

// `explicit_path` when not empty (it must load); otherwise ./config.json when `wanted` (the
// flags leave something out) and the file exists; otherwise nothing, which is no error.
[[nodiscard]] PeerConfig load_peer_config(const std::string& explicit_path, bool wanted);

// load_balancer.listen_address + server_side_port.
[[nodiscard]] NetAddress config_control_address(const Config& config);
// load_balancer.listen_address + client_side_port.
[[nodiscard]] NetAddress config_client_target(const Config& config);

}  // namespace shortline

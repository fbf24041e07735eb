// shortline's configuration: the seed's config.json (numbers may be written as strings)
// plus the new keys, each with its default. Loading validates every value; an error
// names the key path, the value given and what is allowed.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "dataplane/dataplane_config.h"

namespace shortline {

struct ServerPoolConfig {                 // "server"
  uint32_t count = 1;
  uint16_t port_range_start = 50000;
  uint16_t port_range_end = 51000;
  uint32_t start_id = 0;
  double queue_update_interval_s = 10;    // the seed's key, in seconds
};

struct ClientPoolConfig {                 // "client"
  uint32_t count = 10;
  uint16_t port_range_start = 51000;
  uint16_t port_range_end = 52000;
  uint32_t start_id = 1000;
};

struct LoadBalancerConfig {               // "load_balancer"
  uint16_t server_side_port = 54000;      // control port where servers report
  uint16_t client_side_port = 54001;      // where clients send
  double server_scaling_threshold = 5;
  std::string listen_address = "127.0.0.1";  // host part of the client-side listen address
  // dataplane.listen is listen_address + client_side_port; the rest maps key by key.
  DataplaneConfig dataplane;
  // The admin HTTP endpoint (/metrics, /api/status, the live page); loopback by default.
  bool admin_enabled = true;
  std::string admin_address = "127.0.0.1";  // host part of admin_listen
  uint16_t admin_port = 54080;              // 0 = any free port (the balancer prints it)
  NetAddress admin_listen;                  // admin_address + admin_port, composed at load
};

struct ControllerConfig {                 // "controller"
  uint16_t port = 55000;
};

struct Config {
  ServerPoolConfig server;
  ClientPoolConfig client;
  LoadBalancerConfig load_balancer;
  ControllerConfig controller;
};

// Exit status for a configuration or command-line error.
inline constexpr int kConfigErrorExitStatus = 2;

struct ConfigResult {
  std::optional<Config> config;  // set on success
  std::string error;             // one line, set on failure
};

// Parses config text. Unknown keys, wrong types and out-of-range values are errors.
[[nodiscard]] ConfigResult parse_config(std::string_view json_text);
// Reads and parses a file; a missing or unreadable file is an error naming the path.
[[nodiscard]] ConfigResult load_config_file(const std::string& path);
// Parses policy and affinity names as used in config.json and on the command line.
[[nodiscard]] std::optional<Policy> parse_policy(std::string_view name);
[[nodiscard]] std::optional<Affinity> parse_affinity(std::string_view name);

}  // namespace shortline

// shortline's configuration: the seed's config.json (numbers may be written as strings)
// plus the new keys, each with its default. Loading validates every value; an error
// names the key path, the value given and what is allowed.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "control/health_check_config.h"
#include "control/source_filter.h"
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
  // Host the control port (server_side_port) binds to; "" = listen_address's host. Several
  // balancers share listen_address (the service address) and differ here (unicast).
  std::string control_address;
  DataplaneConfig dataplane;
  // The admin HTTP endpoint (/metrics, /api/status, the live page); loopback by default.
  bool admin_enabled = true;
  std::string admin_address = "127.0.0.1";  // host part of admin_listen
  uint16_t admin_port = 54080;              // 0 = any free port (the balancer prints it)
  NetAddress admin_listen;                  // admin_address + admin_port, composed at load
  // Runtime changes (drain, backends, reload) need this file's token; without one they are
  // accepted only from loopback peers. Read at start.
  std::string admin_token_file;
  // The control thread: server reports, health and the scaling decision.
  uint32_t report_interval_ms = 2;        // servers report this often; DOWN after
  uint32_t missed_reports = 3;            // missed_reports x report_interval_ms (>= 20 ms)
  std::vector<SourcePrefix> control_allowed_sources = loopback_sources();
  std::string auth_key_file;              // "" = control messages are not authenticated
  // Sources beyond loopback without auth_key_file are a config error unless this is set.
  bool allow_unauthenticated_reports = false;
  uint32_t min_servers = 1;               // scaling never removes below this many UP servers
  uint32_t max_servers_running = 8;       // nor asks for more than this many
  uint32_t scale_up_hold_ms = 500;        // a queue stays above 0.9 x threshold this long
  uint32_t scale_down_idle_ms = 5000;     // a server stays empty this long before removal
  uint32_t scale_cooldown_ms = 2000;      // no scaling action this soon after the last
  // Speed and health for servers that send no reports (README: "Speed and health").
  bool learn_speed = true;                // speed from replies where reports give none
  uint32_t slow_start_ms = 0;             // a new or returning server ramps up this long
  uint32_t timeouts_down = 5;             // timeouts in a row with no reply: DOWN (0 = off)
  uint32_t health_probe_interval_ms = 1000;  // between half-open probes of a DOWN server
  double outlier_failure_ratio = 0;       // eject at this many times the pool's failure rate
  uint32_t outlier_interval_ms = 1000;    // the window failure rates are measured over
  uint32_t outlier_ejection_ms = 5000;    // first ejection's length (times the ejections)
  uint32_t outlier_max_ejected_percent = 10;  // of the pool at once (at least one server)
  HealthCheckConfig health_check;         // active checks of static backends; off by default
  // A unix socket (mode 0600) where a new shortline-lb --take-over PATH takes the listen
  // and control sockets over; "" = no takeover offered.
  std::string takeover_socket;
  // Under systemd (FileDescriptorStoreMax= in the unit): hand the listen and control
  // sockets to the service manager, and take them back at the unit's next start.
  bool fd_store = false;
};

struct ControllerConfig {                 // "controller"
  // The controller takes ScaleRequests on address:port and every balancer sends them there.
  // Beyond loopback every request must be signed (load_balancer.auth_key_file).
  std::string address = "127.0.0.1";
  uint16_t port = 55000;
  // {host}: the address the servers it starts bind and register with; the controller's
  // host's own address when balancers on other hosts are to reach them.
  std::string server_host = "127.0.0.1";
  // The pool's bounds are load_balancer.min_servers and max_servers_running, which the
  // controller enforces too (an ADD or REMOVE past them is answered at_limit).
  // Template for starting a server; "" = the built-in shortline-server command. The
  // placeholders are listed in control/controller/command_template.h and README.md.
  std::string server_command;
  double server_service_ms = 10;          // {service_ms}: mean service time per request
  std::string server_service_distribution = "exponential";  // {service_dist}
  uint32_t server_workers = 1;            // {workers}
  uint32_t restart_backoff_ms = 250;      // first restart of a crashed server after this
  uint32_t restart_backoff_max_ms = 8000; // doubling each crash, capped here
  uint32_t stop_timeout_ms = 10000;       // SIGTERM, then SIGKILL after this long
  // Control addresses of the other balancers in front of this pool: the built-in server
  // command adds one --balancer for each, so every server reports to every balancer.
  std::vector<NetAddress> balancers;
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
// Every key the load_balancer section accepts, in the order its unknown-key error lists them.
[[nodiscard]] std::span<const std::string_view> load_balancer_keys();
// "1.2.3.4", "::1" or "[::1]" or "localhost" plus a port; nullopt when HOST is none of these.
[[nodiscard]] std::optional<NetAddress> compose_address(std::string_view host, uint16_t port);
// controller.address:port, where ScaleRequests go (the loader has checked it composes).
[[nodiscard]] NetAddress controller_endpoint(const ControllerConfig& controller);
// Parses policy and affinity names as used in config.json and on the command line.
[[nodiscard]] std::optional<Policy> parse_policy(std::string_view name);
[[nodiscard]] std::optional<Affinity> parse_affinity(std::string_view name);

}  // namespace shortline

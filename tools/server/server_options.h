// shortline-server's settings, every limit with its default, parsed from the command line;
// what the flags leave out (id, balancer, report interval, key) comes from config.json.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dataplane/net_address.h"

namespace shortline::tools {

enum class ServiceDistribution : uint8_t { fixed, exponential };

struct ServerOptions {
  uint16_t port = 0;  // 0: the kernel picks one, printed on stdout
  bool port_given = false;
  uint32_t server_id = 0;
  bool id_given = false;
  std::vector<NetAddress> balancers;  // reports go to each; none: no reports
  bool no_reports = false;            // --balancer none: no reports, whatever config.json says
  std::string listen_address = "127.0.0.1";
  double service_ms = 1.0;
  ServiceDistribution service_distribution = ServiceDistribution::fixed;
  double speed = 1.0;  // service time is divided by it (requested work too)
  uint16_t workers = 1;
  uint32_t report_interval_ms = 2;
  bool report_interval_given = false;
  std::string auth_key_file;
  uint32_t queue_max = 1024;             // requests queued or in service; beyond: counted drop
  uint32_t max_datagram_bytes = 2048;    // larger datagrams are a counted drop
  uint32_t drain_timeout_ms = 5000;      // SIGTERM: give up finishing the queue after this
  std::string log_dir = "logs";  // the event log is <log_dir>/servers/server-<id>.log
  std::string config_path;       // --config; empty: ./config.json when it exists
  bool no_config = false;        // --no-config: never read a config file
  // What came from the config file and why, one line each ("id 81 from config.json (...)").
  std::vector<std::string> config_choices;
  uint64_t seed = 0;  // 0: from the server id
  bool help = false;
};

inline constexpr uint16_t kServerWorkersMax = 1024;
inline constexpr uint32_t kServerQueueMax = 1u << 20;
inline constexpr std::size_t kServerBalancersMax = 64;

// Parses argv; on error returns false and sets `error` (one line naming the flag).
[[nodiscard]] bool parse_server_options(int argc, char** argv, ServerOptions& options,
                                        std::string& error);
[[nodiscard]] const char* server_usage();

}  // namespace shortline::tools

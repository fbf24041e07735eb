// shortline-server's defaults from config.json, each printed with its source.
#include "tools/server/server_config_defaults.h"

#include <limits>

#include "control/peer_config.h"

namespace shortline::tools {
namespace {

// The id for `port`: start_id + the port's offset inside server.port_range_start..end, as
// the controller numbers the servers it starts; outside the range, start_id + the range's
// size + port, so that it never meets an id from the range. Empty on overflow.
std::string derive_id(const ServerPoolConfig& pool, const std::string& path,
                      ServerOptions& options) {
  const uint64_t start_id = pool.start_id;
  const uint64_t port = options.port;
  const bool in_range = port >= pool.port_range_start && port <= pool.port_range_end;
  const uint64_t range_ids = uint64_t{pool.port_range_end} - pool.port_range_start + 1;
  const uint64_t id = in_range ? start_id + (port - pool.port_range_start)
                               : start_id + range_ids + port;
  if (id > std::numeric_limits<uint32_t>::max()) return {};
  options.server_id = static_cast<uint32_t>(id);
  options.id_given = true;
  std::string why = "id " + std::to_string(id) + " from " + path + " (server.start_id " +
                    std::to_string(start_id) + " + port " + std::to_string(port);
  if (in_range) return why + " - server.port_range_start " +
                       std::to_string(pool.port_range_start) + ")";
  return why + " + " + std::to_string(range_ids) + " ids of server.port_range_start.." +
         "port_range_end " + std::to_string(pool.port_range_start) + ".." +
         std::to_string(pool.port_range_end) + ", which the port is outside)";
}

std::string fill_id(const Config& config, const std::string& path, ServerOptions& options) {
  if (options.id_given) return {};
  if (options.port == 0)
    return "--id is required with --port 0 (" + path + " derives the id from the port)";
  const std::string why = derive_id(config.server, path, options);
  if (why.empty()) return "--id is required: the id derived from " + path + " passes 2^32 - 1";
  options.config_choices.push_back(why);
  return {};
}

void fill_reports(const Config& config, const std::string& path, ServerOptions& options) {
  const LoadBalancerConfig& lb = config.load_balancer;
  if (options.balancers.empty() && !options.no_reports) {
    options.balancers.push_back(config_control_address(config));
    options.config_choices.push_back("balancer " + options.balancers.back().to_string() +
                                     " from " + path +
                                     " (load_balancer.listen_address + server_side_port)");
  }
  if (!options.report_interval_given) {
    // Not server.queue_update_interval (the seed's seconds): the balancer declares a server
    // DOWN after missed_reports x report_interval_ms, so the server must follow that key.
    options.report_interval_ms = lb.report_interval_ms;
    options.config_choices.push_back("reports every " + std::to_string(lb.report_interval_ms) +
                                     " ms from " + path + " (load_balancer.report_interval_ms)");
  }
  if (options.auth_key_file.empty() && !lb.auth_key_file.empty()) {
    options.auth_key_file = lb.auth_key_file;
    options.config_choices.push_back("auth key " + lb.auth_key_file + " from " + path +
                                     " (load_balancer.auth_key_file)");
  }
}

}  // namespace

std::string apply_server_config(const Config& config, const std::string& path,
                                ServerOptions& options) {
  if (auto error = fill_id(config, path, options); !error.empty()) return error;
  fill_reports(config, path, options);
  return {};
}

std::string fill_server_options_from_config(ServerOptions& options) {
  if (options.no_config) return {};
  const bool wanted = !options.id_given || (options.balancers.empty() && !options.no_reports);
  const PeerConfig peer = load_peer_config(options.config_path, wanted);
  if (!peer.error.empty()) return peer.error;
  if (!peer.config) return {};
  return apply_server_config(*peer.config, peer.path, options);
}

}  // namespace shortline::tools

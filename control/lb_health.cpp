// The health verdict: see lb_health.h.
#include "control/lb_health.h"

#include <map>

namespace shortline {
namespace {

// "3 servers: 2 down, 1 draining", so that a withdrawn route can be explained at a glance.
std::string server_states(const LbStatus& status) {
  std::map<std::string, int> counts;
  for (const ServerStatus& server : status.servers) ++counts[server.state];
  std::string text = std::to_string(status.servers.size()) + " servers";
  const char* separator = ": ";
  for (const auto& [state, count] : counts) {
    text.append(separator).append(std::to_string(count)).append(" ").append(state);
    separator = ", ";
  }
  return text;
}

}  // namespace

HealthVerdict health_verdict(const LbStatus& status) {
  if (status.workers == 0) return {false, "no worker running"};
  for (const ServerStatus& server : status.servers)
    if (server.state == "up") return {true, "ok"};
  if (status.servers.empty()) return {false, "no server up (no servers known)"};
  return {false, "no server up (" + server_states(status) + ")"};
}

}  // namespace shortline

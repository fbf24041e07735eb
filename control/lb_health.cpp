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

// "worker 1 stalled (no batch for 2300 ms)": its share of the flows goes unanswered.
std::string stalled_workers(const LbStatus& status) {
  std::string text = status.workers_stalled.size() == 1 ? "worker" : "workers";
  const char* separator = " ";
  for (uint32_t w : status.workers_stalled) {
    text.append(separator).append(std::to_string(w));
    separator = ", ";
  }
  return text.append(" stalled (no batch for ")
      .append(std::to_string(status.worker_stall_ms))
      .append(" ms)");
}

}  // namespace

HealthVerdict health_verdict(const LbStatus& status) {
  if (status.workers == 0) return {false, "no worker running"};
  if (!status.workers_stalled.empty()) return {false, stalled_workers(status)};
  for (const ServerStatus& server : status.servers)
    if (server.state == "up") return {true, "ok"};
  if (status.servers.empty()) return {false, "no server up (no servers known)"};
  return {false, "no server up (" + server_states(status) + ")"};
}

}  // namespace shortline

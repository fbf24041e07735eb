// What a reload may change. compare_for_reload() lists the load_balancer keys whose values
// differ between the running config and a newly loaded one, split into those a running
// balancer applies at once (backends, weights, policy, thresholds, timeouts, source limits,
// health settings, report authentication) and those that size sockets, rings and tables at
// start-up or name addresses already bound, which stay as they are until a restart.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "control/config.h"

namespace shortline {

struct ConfigChanges {
  std::vector<std::string> live;     // applied by the running balancer
  std::vector<std::string> restart;  // kept as they run; take effect after a restart
  [[nodiscard]] bool empty() const { return live.empty() && restart.empty(); }
};

[[nodiscard]] ConfigChanges compare_for_reload(const LoadBalancerConfig& running,
                                               const LoadBalancerConfig& next);
// Whether a running balancer applies a change of this load_balancer key; false for an
// unknown key (a key nobody classified is never silently called live).
[[nodiscard]] bool reloads_live(std::string_view key);
// Whether compare_for_reload can compare this key (every load_balancer key must be).
[[nodiscard]] bool reload_compares(std::string_view key);
// "a, b and c" for log lines.
[[nodiscard]] std::string join_keys(const std::vector<std::string>& keys);

}  // namespace shortline

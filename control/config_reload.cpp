// Reload comparison: every load_balancer key rendered as text, compared key by key.
#include "control/config_reload.h"

#include <algorithm>
#include <functional>
#include <map>
#include <type_traits>

#include "dataplane/dataplane_limits.h"

namespace shortline {
namespace {

using Render = std::function<std::string(const LoadBalancerConfig&)>;

std::string hex(const std::vector<uint8_t>& bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string text;
  for (const uint8_t b : bytes) text.append({kDigits[b >> 4], kDigits[b & 15]});
  return text;
}

std::string render_backends(const LoadBalancerConfig& c) {
  std::string text;
  for (const BackendSpec& b : c.dataplane.backends)
    text.append(b.address.to_string()).append("*").append(std::to_string(b.weight)).append(" ");
  return text;
}

std::string render_sources(const LoadBalancerConfig& c) {
  std::string text;
  for (const SourcePrefix& p : c.control_allowed_sources) text.append(p.to_string()).append(" ");
  return text;
}

std::string render_health_check(const LoadBalancerConfig& c) {
  const HealthCheckConfig& h = c.health_check;
  return hex(h.payload) + "/" + std::to_string(h.interval_ms) + "/" + std::to_string(h.timeout_ms) +
         "/" + std::to_string(h.rise) + "/" + std::to_string(h.fall) + "/" + hex(h.expect) + "/" +
         std::to_string(h.expect_offset) + "/" + hex(h.expect_mask);
}

template <typename T>
Render field(T LoadBalancerConfig::*member) {
  return [member](const LoadBalancerConfig& c) {
    if constexpr (std::is_same_v<T, std::string>) return c.*member;
    else return std::to_string(c.*member);
  };
}

// The keys that are not the data plane's integer limits, each with its rendering.
const std::map<std::string, Render, std::less<>>& renderers() {
  static const auto* table = [] {
    auto* t = new std::map<std::string, Render, std::less<>>{
        {"server_side_port", field(&LoadBalancerConfig::server_side_port)},
        {"client_side_port", field(&LoadBalancerConfig::client_side_port)},
        {"server_scaling_threshold", field(&LoadBalancerConfig::server_scaling_threshold)},
        {"listen_address", field(&LoadBalancerConfig::listen_address)},
        {"control_address", field(&LoadBalancerConfig::control_address)},
        {"pin_workers", [](const LoadBalancerConfig& c) { return std::to_string(c.dataplane.pin_workers); }},
        {"udp_gso", [](const LoadBalancerConfig& c) { return std::to_string(c.dataplane.udp_gso); }},
        {"fail_open", [](const LoadBalancerConfig& c) { return std::to_string(c.dataplane.fail_open); }},
        {"policy", [](const LoadBalancerConfig& c) { return std::string(policy_name(c.dataplane.policy)); }},
        {"affinity", [](const LoadBalancerConfig& c) { return std::string(affinity_name(c.dataplane.affinity)); }},
        {"maglev_load_bound", [](const LoadBalancerConfig& c) { return std::to_string(c.dataplane.maglev_load_bound); }},
        {"backends", render_backends},
        {"admin_enabled", field(&LoadBalancerConfig::admin_enabled)},
        {"admin_address", field(&LoadBalancerConfig::admin_address)},
        {"admin_port", field(&LoadBalancerConfig::admin_port)},
        {"admin_token_file", field(&LoadBalancerConfig::admin_token_file)},
        {"report_interval_ms", field(&LoadBalancerConfig::report_interval_ms)},
        {"missed_reports", field(&LoadBalancerConfig::missed_reports)},
        {"control_allowed_sources", render_sources},
        {"auth_key_file", field(&LoadBalancerConfig::auth_key_file)},
        {"allow_unauthenticated_reports", field(&LoadBalancerConfig::allow_unauthenticated_reports)},
        {"takeover_socket", field(&LoadBalancerConfig::takeover_socket)},
        {"fd_store", field(&LoadBalancerConfig::fd_store)},
        {"min_servers", field(&LoadBalancerConfig::min_servers)},
        {"max_servers_running", field(&LoadBalancerConfig::max_servers_running)},
        {"scale_up_hold_ms", field(&LoadBalancerConfig::scale_up_hold_ms)},
        {"scale_down_idle_ms", field(&LoadBalancerConfig::scale_down_idle_ms)},
        {"scale_cooldown_ms", field(&LoadBalancerConfig::scale_cooldown_ms)},
        {"learn_speed", field(&LoadBalancerConfig::learn_speed)},
        {"slow_start_ms", field(&LoadBalancerConfig::slow_start_ms)},
        {"timeouts_down", field(&LoadBalancerConfig::timeouts_down)},
        {"health_probe_interval_ms", field(&LoadBalancerConfig::health_probe_interval_ms)},
        {"outlier_failure_ratio", field(&LoadBalancerConfig::outlier_failure_ratio)},
        {"outlier_interval_ms", field(&LoadBalancerConfig::outlier_interval_ms)},
        {"outlier_ejection_ms", field(&LoadBalancerConfig::outlier_ejection_ms)},
        {"outlier_max_ejected_percent", field(&LoadBalancerConfig::outlier_max_ejected_percent)},
        {"health_check", render_health_check},
    };
    for (const DataplaneLimit& limit : kDataplaneLimits) {
      const auto member = limit.field;
      t->emplace(std::string(limit.key),
                 [member](const LoadBalancerConfig& c) { return std::to_string(c.dataplane.*member); });
    }
    return t;
  }();
  return *table;
}

// Applied by a running balancer. Every other key sizes something at start-up (workers,
// sessions, sockets, rings, buffers) or names an address already bound.
constexpr std::string_view kLiveKeys[] = {
    "backends", "policy", "server_scaling_threshold",
    // data plane, published to the workers with the pool snapshot
    "request_timeout_ms", "session_idle_timeout_ms", "session_unreplied_timeout_ms",
    "source_requests_per_s", "source_requests_burst", "source_sessions_per_s",
    "prefix_requests_per_s", "source_sessions_max", "maglev_load_bound", "peer_balancers",
    "fail_open",
    // the control thread
    "report_interval_ms", "missed_reports", "control_allowed_sources", "auth_key_file",
    "allow_unauthenticated_reports",
    "min_servers", "max_servers_running", "scale_up_hold_ms", "scale_down_idle_ms",
    "scale_cooldown_ms", "learn_speed", "slow_start_ms", "timeouts_down",
    "health_probe_interval_ms", "outlier_failure_ratio", "outlier_interval_ms",
    "outlier_ejection_ms", "outlier_max_ejected_percent", "health_check"};

}  // namespace

bool reloads_live(std::string_view key) {
  return std::find(std::begin(kLiveKeys), std::end(kLiveKeys), key) != std::end(kLiveKeys);
}

bool reload_compares(std::string_view key) { return renderers().contains(key); }

ConfigChanges compare_for_reload(const LoadBalancerConfig& running, const LoadBalancerConfig& next) {
  ConfigChanges changes;
  for (const std::string_view key : load_balancer_keys()) {
    const auto it = renderers().find(key);  // config_reload_test keeps the table complete
    if (it == renderers().end() || it->second(running) == it->second(next)) continue;
    (reloads_live(key) ? changes.live : changes.restart).emplace_back(key);
  }
  return changes;
}

std::string join_keys(const std::vector<std::string>& keys) {
  std::string text;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (i > 0) text.append(i + 1 == keys.size() ? " and " : ", ");
    text.append(keys[i]);
  }
  return text;
}

}  // namespace shortline

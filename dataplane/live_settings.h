// The data-plane settings a reload may change while the workers run. The control side
// publishes them with the pool snapshot (ServerTable::set_live_settings); each worker
// applies a new version at its next batch boundary, so the hot path only compares one
// number per batch. Everything else in DataplaneConfig sizes memory, rings or sockets at
// start-up and stays fixed for the process's life.
#pragma once

#include <cstdint>

#include "dataplane/dataplane_config.h"

namespace shortline {

struct LiveSettings {
  Policy policy = Policy::shortest_queue;
  uint32_t request_timeout_ms = 1000;
  uint32_t session_idle_timeout_ms = 30000;
  uint32_t session_unreplied_timeout_ms = 3000;
  uint32_t source_requests_per_s = 0;
  uint32_t source_requests_burst = 0;
  uint32_t source_sessions_per_s = 0;
  uint32_t prefix_requests_per_s = 0;
  uint32_t source_sessions_max = 0;
  double maglev_load_bound = 2.0;
  uint32_t peer_balancers = 0;
  bool fail_open = true;

  friend bool operator==(const LiveSettings&, const LiveSettings&) = default;
};

[[nodiscard]] inline LiveSettings live_settings_of(const DataplaneConfig& config) {
  LiveSettings s;
  s.policy = config.policy;
  s.request_timeout_ms = config.request_timeout_ms;
  s.session_idle_timeout_ms = config.session_idle_timeout_ms;
  s.session_unreplied_timeout_ms = config.session_unreplied_timeout_ms;
  s.source_requests_per_s = config.source_requests_per_s;
  s.source_requests_burst = config.source_requests_burst;
  s.source_sessions_per_s = config.source_sessions_per_s;
  s.prefix_requests_per_s = config.prefix_requests_per_s;
  s.source_sessions_max = config.source_sessions_max;
  s.maglev_load_bound = config.maglev_load_bound;
  s.peer_balancers = config.peer_balancers;
  s.fail_open = config.fail_open;
  return s;
}

}  // namespace shortline

// A point-in-time picture of a running balancer: each server's state, queue, load and
// speed, the data-plane counters and the control plane's counters. Produced by the
// control thread, rendered by the admin endpoint (JSON, Prometheus) and read by the
// controller's live view. Plain values: copying one never touches the hot path.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "dataplane/reply_latency.h"
#include "dataplane/worker_stats.h"

namespace shortline {

// SHORTLINE_VERSION as built (the project version in CMakeLists.txt).
[[nodiscard]] std::string_view build_version();

struct ServerStatus {
  uint32_t id = 0;                 // reported server id; static backends get ids from 1<<31
  std::string address;             // "127.0.0.1:50000"
  std::string state;               // "up", "draining", "down"
  bool static_backend = false;     // from --backend / config, not from reports
  int64_t reported_queue = -1;     // last reported queue length; -1 = never reported
  double report_age_ms = -1;       // how old that report is; -1 = never
  int64_t in_flight = 0;           // this balancer's requests awaiting replies there
  int64_t load = 0;                // what shortest-queue compares (before weighting)
  double speed = 1;                // service rate relative to the fastest server, in (0, 1]
  uint32_t weight = 1;             // the weight the data plane uses
  uint64_t requests = 0;           // dispatched by this balancer
  uint64_t replies = 0;
  uint64_t timeouts = 0;
  uint32_t errors = 0;             // passive errors (ECONNREFUSED, send failures)
  // Speed and health (README: "Speed and health").
  std::string health = "up";       // why: "up", "down: timeouts", "ejected: outlier", ...
  std::string speed_source = "unknown";  // "report", "replies", "stale", "configured", "unknown"
  double service_ms = -1;          // per-request service time the weight follows; -1 = unknown
  double learnt_service_ms = -1;   // learnt from replies (even where reports win); -1 = none
  double expected_delay_ms = -1;   // (load + 1) x service_ms; -1 = unknown
  double slow_start = 1;           // share of its weight a ramping server has, (0, 1]
  uint32_t ejections = 0;          // times ejected as an outlier
  uint64_t probes = 0;             // half-open probes allowed while DOWN for timeouts
  std::string check;               // active health check: "" (none), "healthy", "unhealthy"
  std::string check_failure;       // its last failure ("timeout", "wrong reply", ...)
  double check_rtt_ms = -1;
  // Every reply from the server now in its slot, timed from its request (all workers);
  // empty for servers past ReplyLatencyTable::kSlotsMax slots.
  LatencyHistogram reply_latency;
};

struct ScalingStatus {
  std::string last_action;         // "add", "remove 3", "" when none yet
  std::string last_reason;         // "queue_high", ...
  double last_action_age_ms = -1;
  uint32_t requests_unacknowledged = 0;  // ScaleRequests still being retried
};

struct LbStatus {
  std::string version{build_version()};
  uint64_t uptime_ms = 0;
  std::string listen_address;
  uint32_t workers = 0;
  std::vector<uint32_t> workers_stalled;  // workers that took no batch for seconds (by id)
  int64_t worker_stall_ms = 0;            // for how long
  std::string policy;
  std::string affinity;
  std::vector<ServerStatus> servers;
  StatsTotals dataplane;                                   // data-plane counters and gauges
  std::vector<StatsTotals> worker_stats;                   // the same per worker, by worker id
  LatencyHistogram reply_latency;                          // every reply, every server, since start
  std::vector<std::pair<std::string, uint64_t>> control;   // control-plane counters by name
  ScalingStatus scaling;
};

// {"uptime_ms":..., "servers":[{...}], "counters":{...}, "control":{...}, "scaling":{...}}
[[nodiscard]] std::string to_json(const LbStatus& status);
// Prometheus text exposition format (shortline_* metrics, servers labelled by id/address).
[[nodiscard]] std::string to_prometheus(const LbStatus& status);

}  // namespace shortline

// The balancer's control thread: one UDP socket on load_balancer.server_side_port where
// servers report, the report ingest (registration, health, load, speed), the scaling
// decision every few milliseconds and the ScaleRequest client. It reaches the workers only
// through the server table's atomics and snapshots. status() may be called from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "control/config.h"
#include "control/control_counters.h"
#include "control/health_check.h"
#include "control/lb_status.h"
#include "control/report_ingest.h"
#include "control/scale_client.h"
#include "control/scaling_decision.h"
#include "control/worker_liveness.h"
#include "dataplane/balancer.h"

namespace shortline {

struct ControlThreadConfig {
  NetAddress bind;              // where servers report; port 0 = any free port
  // With static backends the balancer has work without reports: a control port that
  // cannot be bound is then reported by start() but the thread runs without it.
  bool control_port_optional = false;
  IngestConfig ingest;
  ScalingConfig scaling;
  ScaleClientConfig scale;
  int64_t scaling_interval_ms = 10;  // how often the decision runs
  HealthCheckConfig health_check;    // active checks of static backends (off: no payload)
};

// Maps the loaded config onto the control thread's (reads auth_key_file). On failure
// returns nullopt and sets `error` to one line.
[[nodiscard]] std::optional<ControlThreadConfig> make_control_config(const Config& config,
                                                                     std::string& error);

// What an operator change did: ok, or why not; one line either way.
struct OperatorResult {
  enum class Code : uint8_t { ok, bad_request, not_found, conflict, failed };
  Code code = Code::ok;
  std::string message;
  [[nodiscard]] bool ok() const { return code == Code::ok; }
};

class ControlThread {
 public:
  ControlThread(Balancer& balancer, ControlThreadConfig config);
  ~ControlThread();
  ControlThread(const ControlThread&) = delete;
  ControlThread& operator=(const ControlThread&) = delete;

  // Receives each event line ("server 3 registered at ...", "scale: add ..."), from the
  // control thread, outside its lock. Set before start(); unset: events are dropped.
  using EventSink = std::function<void(const std::string&)>;
  void set_event_sink(EventSink sink) { event_sink_ = std::move(sink); }

  // Opens the sockets and starts the thread; call after Balancer::start(). Returns "" on
  // success; otherwise what failed (then the thread runs only if the port was optional:
  // see running()).
  [[nodiscard]] std::string start();
  // Takeover: start() reads reports from this bound UDP socket (a running balancer's,
  // passed by fd) instead of binding config.bind. Call before start(); takes ownership.
  void adopt_control_socket(int fd) { adopted_fd_ = fd; }
  // The control socket (-1 when none is bound), for a successor to take.
  [[nodiscard]] int control_fd() const { return control_fd_; }
  [[nodiscard]] bool running() const { return thread_.joinable(); }
  // The bound control address (family 0 when the port could not be bound).
  [[nodiscard]] const NetAddress& control_address() const { return control_address_; }
  // Stops and joins the thread; the table keeps its last state. Idempotent.
  void stop();

  // A consistent picture of servers, counters and scaling; cheap, any thread.
  [[nodiscard]] LbStatus status() const;
  [[nodiscard]] std::vector<std::pair<std::string, uint64_t>> counters() const;
  [[nodiscard]] uint64_t counter(ControlCounter c) const { return counters_.get(c); }

  // --- operator changes (control_thread_operator.cpp), from any thread ---
  // A reload: report ingest, scaling and health-check settings from `next` (its bind
  // address and controller port stay: they are bound), the static backends made exactly
  // `backends` (new ones added UP, missing ones drained then removed, weights updated), and
  // the data plane's live settings published to the workers. Returns what changed.
  [[nodiscard]] std::string apply_reload(const ControlThreadConfig& next,
                                         const std::vector<BackendSpec>& backends,
                                         const LiveSettings& live);
  // `server` is a server id ("3") or its data address ("127.0.0.1:50003").
  [[nodiscard]] OperatorResult drain(std::string_view server);
  [[nodiscard]] OperatorResult undrain(std::string_view server);
  // Adds a static backend, or changes the weight of one ("127.0.0.1:9000", 1..1000).
  [[nodiscard]] OperatorResult add_backend(std::string_view address, uint32_t weight);
  // Drains a static backend and removes it once its replies are in.
  [[nodiscard]] OperatorResult remove_backend(std::string_view address);
  void count(ControlCounter c) { counters_.add(c); }

 private:
  void run();
  // One pass of the loop under the lock; appends the event lines it produced.
  void step(int64_t now_ms, std::vector<std::string>& events);
  void receive_reports(int64_t now_ms);
  void decide(int64_t now_ms, std::vector<std::string>& events);
  [[nodiscard]] std::string start_health_checks(int64_t now_ms);
  void run_health_checks(int64_t now_ms);
  void check_workers(int64_t now_ms, std::vector<std::string>& events);
  void add_check_status(ServerStatus& status, uint32_t slot) const;
  [[nodiscard]] std::vector<ServerStatus> server_statuses(int64_t now_ms) const;
  [[nodiscard]] std::optional<uint32_t> find_slot_locked(std::string_view server) const;
  void restart_health_checks_locked(int64_t now, std::string& summary);
  [[nodiscard]] std::string sync_backends_locked(const std::vector<BackendSpec>& backends,
                                                 int64_t now_ms);

  Balancer& balancer_;
  ControlThreadConfig config_;
  ControlCounters counters_;
  int control_fd_ = -1;
  int adopted_fd_ = -1;  // from adopt_control_socket()
  NetAddress control_address_;
  int64_t started_ms_;

  mutable std::mutex mutex_;  // guards everything below (the thread and status())
  ReportIngest ingest_;
  std::optional<HealthChecker> checker_;  // when health_check has a payload
  ScaleClient scale_;
  ScalingHistory history_;
  int64_t scaling_at_ms_ = 0;
  int64_t reclaim_at_ms_ = 0;
  std::string last_action_;
  std::string last_reason_;
  int64_t last_action_ms_ = kNever;
  WorkerLiveness liveness_;
  bool workers_stalled_ = false;  // as last logged

  EventSink event_sink_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace shortline

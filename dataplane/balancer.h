// The data plane as a whole: the server table, one SO_REUSEPORT listen socket and one
// worker thread per configured worker (optionally pinned), start-up, drain and counters.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "dataplane/dataplane_config.h"
#include "dataplane/file_budget.h"
#include "dataplane/server_table.h"
#include "dataplane/worker.h"
#include "dataplane/worker_stats.h"

namespace shortline {

class Balancer {
 public:
  // config.workers 0 means one per online CPU; config must already be validated.
  explicit Balancer(DataplaneConfig config);
  ~Balancer();
  Balancer(const Balancer&) = delete;
  Balancer& operator=(const Balancer&) = delete;

  // Raises RLIMIT_NOFILE, sizes the socket pools and session tables to fit, opens the
  // listen sockets, registers the static backends and starts the workers. Returns an
  // empty string on success, otherwise what failed; config_error() then tells whether it
  // was the configuration asking for more than fits (exit status 2) or a start-up failure.
  [[nodiscard]] std::string start();
  // start() in two steps, for a caller that must bind its own sockets (control port,
  // admin) in between: the workers' upstream pool takes ephemeral ports, and a port the
  // caller was told to use must not be one of them. open() does all but the workers.
  [[nodiscard]] std::string open();
  [[nodiscard]] std::string start_workers();
  // Takeover: serve these already bound listen sockets (a running balancer's, passed by
  // fd) instead of opening new ones. Call before open(). They must be UDP sockets bound to
  // one address; one worker each, whatever config.workers said. Takes ownership (also on
  // failure). Returns "" or what is wrong with them.
  [[nodiscard]] std::string adopt_listen_sockets(std::vector<int> fds);
  // The listen sockets, one per worker (valid after open()), for a successor to take.
  [[nodiscard]] const std::vector<int>& listen_fds() const { return listen_fds_; }
  [[nodiscard]] bool config_error() const { return config_error_; }
  // What fits and what was opened (valid after start()).
  [[nodiscard]] const CapacityPlan& capacity() const { return plan_; }
  [[nodiscard]] const FileLimit& file_limit() const { return file_limit_; }
  // The address clients send to (port 0 in the config is resolved here).
  [[nodiscard]] const NetAddress& listen_address() const { return listen_address_; }
  [[nodiscard]] const DataplaneConfig& config() const { return config_; }
  [[nodiscard]] uint32_t worker_count() const { return config_.workers; }
  [[nodiscard]] ServerTable& servers() { return *table_; }
  // The settings a reload may change (policy, timeouts, source limits), as the workers
  // run with them now; config() keeps the ones the process started with.
  [[nodiscard]] LiveSettings live_settings() const { return table_->live_settings(); }
  void set_live_settings(const LiveSettings& settings) { table_->set_live_settings(settings); }

  // Stops reading requests; workers exit once every reply has come or after
  // drain_timeout_ms. join() waits for them.
  void stop_receiving();
  void join();
  [[nodiscard]] StatsTotals totals() const;
  // One worker's counters and gauges (worker < worker_count()).
  [[nodiscard]] StatsTotals worker_totals(uint32_t worker) const;

 private:
  [[nodiscard]] std::string open_listen_sockets();
  void worker_main(uint32_t id);

  DataplaneConfig config_;
  NetAddress listen_address_;
  std::unique_ptr<ServerTable> table_;
  std::unique_ptr<WorkerStats[]> stats_;
  std::vector<int> listen_fds_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::thread> threads_;
  RunControl control_;
  std::vector<std::string> worker_errors_;
  CapacityPlan plan_;
  FileLimit file_limit_;
  bool config_error_ = false;
  bool adopted_ = false;  // listen_fds_ came from adopt_listen_sockets()
};

}  // namespace shortline

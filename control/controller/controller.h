// shortline-controller's body: starts the balancer and the pool, answers ScaleRequests,
// supervises every child (restarting a crashed balancer or server with backoff), runs the
// demo's clients and live view when asked, and on a stop signal or at the end of its
// duration stops every process it started, in order: clients, servers, balancer.
#pragma once

#include <csignal>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "control/config.h"
#include "control/controller/controller_options.h"
#include "control/controller/demo_load.h"
#include "control/controller/event_log.h"
#include "control/controller/live_view.h"
#include "control/controller/pool_manager.h"
#include "control/controller/process_supervisor.h"
#include "control/controller/scale_listener.h"

namespace shortline::controller {

// Builds the pool's settings from the config; "" or a config error in the loader's style.
[[nodiscard]] std::string make_pool_settings(const Config& config, const ControllerOptions& options,
                                             PoolSettings& settings);

// Reads load_balancer.auth_key_file when set; "" or a config error in the loader's style.
[[nodiscard]] std::string load_auth_key(const Config& config, std::optional<wire::AuthKey>& key);

class Controller {
 public:
  // `auth_key`, when set, authenticates ScaleRequests and signs the replies.
  Controller(const Config& config, ControllerOptions options, PoolSettings pool_settings,
             std::optional<wire::AuthKey> auth_key, ControllerLog& log);

  // Opens the ScaleRequest socket, starts the balancer (waiting until it listens) and the
  // first servers. Returns "" or a one-line reason (the caller exits 1).
  [[nodiscard]] std::string start();
  // Runs until `stop_requested` is set or the duration ends, then stops every child and
  // prints the summary. Returns the exit status.
  [[nodiscard]] int run(const volatile std::sig_atomic_t& stop_requested);

 private:
  struct DemoClient {
    ClientPlan plan;
    bool started = false;
    bool finished = false;
    std::string output_path;
  };

  [[nodiscard]] std::string start_balancer(int64_t now_ms);
  void handle_exits(const std::vector<ChildExit>& exits, int64_t now_ms);
  void on_balancer_exit(const ChildExit& exit, int64_t now_ms);
  void schedule_balancer_restart(const std::string& why, int64_t ran_ms, int64_t now_ms);
  void start_due_clients(int64_t now_ms);
  void tick_second(int64_t now_ms);
  void render_view(int64_t now_ms);
  void shut_down();
  void print_summary(int64_t now_ms) const;
  [[nodiscard]] double elapsed_s(int64_t now_ms) const;
  [[nodiscard]] std::string client_target() const;

  Config config_;
  ControllerOptions options_;
  ControllerLog& log_;
  ProcessSupervisor supervisor_;
  std::optional<wire::AuthKey> auth_key_;
  std::unique_ptr<ScaleListener> listener_;
  PoolManager pool_;
  std::unique_ptr<StatusPoller> poller_;
  RestartBackoff balancer_backoff_;
  pid_t balancer_pid_ = -1;
  uint32_t balancer_restart_attempt_ = 0;
  uint32_t balancer_restarts_ = 0;
  int64_t balancer_restart_at_ms_ = -1;  // >= 0 while a restart is due
  std::vector<DemoClient> clients_;
  std::vector<ChildExit> pending_exits_;        // reaped while waiting for the balancer to start
  std::vector<uint32_t> server_count_history_;  // one sample a second, the newest hour
  int64_t start_ms_ = 0;
  int64_t next_tick_ms_ = 0;
  bool is_tty_ = false;
};

}  // namespace shortline::controller

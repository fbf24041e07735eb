// The balancer's admin HTTP endpoint (loopback by default): GET /metrics (Prometheus text),
// GET /api/status (JSON), GET /api/history (the last 15 minutes, one sample a second, kept
// by a sampler thread of its own; control/status_history.h) and GET / (a self-contained
// live page: the history, then /api/status and the new samples every second). It runs on
// its own small thread pool, never on a data-plane worker, and reads the balancer only
// through the status provider it is given.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "control/admin_actions.h"
#include "control/lb_status.h"
#include "control/status_history.h"
#include "dataplane/net_address.h"

namespace shortline {

class AdminServer {
 public:
  // Called on an admin thread for each /metrics or /api/status request and once a second
  // for the history (never twice at once: the server serialises the calls). It must not
  // block for long.
  using StatusProvider = std::function<LbStatus()>;

  AdminServer();
  ~AdminServer();  // stops the server if it still runs
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // Binds `address` (port 0: the kernel picks a free one) and serves on a thread of its own.
  // Returns "" on success or a one-line reason ("cannot bind 127.0.0.1:54080"). Call once.
  // `actions`: the runtime changes (control/admin_actions.h); default: none, read-only.
  // `history`: what the sampler keeps for /api/history (the first sample is taken at
  // start); nullopt keeps none (tests that count provider calls), /api/history then has
  // no samples.
  [[nodiscard]] std::string start(const NetAddress& address, StatusProvider provider,
                                  AdminActions actions = {},
                                  std::optional<HistoryLimits> history = HistoryLimits{});
  // Stops serving and joins the thread; open connections are closed. Safe to call twice.
  void stop();
  // The address actually bound (the real port when 0 was asked for); empty (family 0) before
  // start and after a failed start.
  [[nodiscard]] const NetAddress& bound_address() const { return bound_; }

 private:
  struct State;  // holds the httplib server, so that only admin_http.cpp includes httplib
  std::unique_ptr<State> state_;
  NetAddress bound_;
};

// The live page served at "/" (admin_page.cpp): HTML, CSS and script in one string, no
// external assets.
[[nodiscard]] std::string_view admin_page_html();

}  // namespace shortline

// Runs the server pool: starts the first servers, executes ScaleRequests (ADD spawns a
// server from the command template on the next free port; REMOVE sends SIGTERM so the
// server drains), enforces min/max, and restarts a crashed server with exponential backoff
// under its old id. Bookkeeping lives in ServerPool, processes in ProcessSupervisor.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "control/controller/add_coalescer.h"
#include "control/controller/command_template.h"
#include "control/controller/event_log.h"
#include "control/controller/live_view.h"
#include "control/controller/process_supervisor.h"
#include "control/controller/restart_backoff.h"
#include "control/controller/server_pool.h"
#include "control/wire/messages.h"

namespace shortline::controller {

struct PoolSettings {
  std::string command;    // the server command template (checked)
  TemplateValues values;  // every placeholder but {port} and {id}
  std::string host = "127.0.0.1";
  std::string output_dir;  // servers' stdout/stderr go to <output_dir>/server-<id>.out
  RestartBackoff backoff;
  uint32_t stop_timeout_ms = 10000;
  // ADDs within this long of the last one share its server (see add_coalescer.h); 0 = off.
  uint32_t add_window_ms = 0;
};

struct PoolStats {
  uint32_t started = 0;  // at start-up
  uint32_t added = 0;    // by ADD
  uint32_t removed = 0;  // by REMOVE
  uint32_t crashed = 0;  // exited without being asked
  uint32_t restarted = 0;
  uint32_t at_limit = 0;  // requests refused by min/max
  uint32_t coalesced = 0; // ADDs answered with the server a recent ADD started
  uint32_t failed = 0;    // starts that failed
  uint32_t peak = 0;      // most servers active at once
};

class PoolManager {
 public:
  PoolManager(ServerPool pool, PoolSettings settings, ProcessSupervisor& supervisor,
              ControllerLog& log);

  // Starts `count` servers; returns "" or the first failure.
  [[nodiscard]] std::string start(uint32_t count, int64_t now_ms);
  // Carries out one new ScaleRequest and says how it went (sequence left to the caller).
  // `sender` (the asking balancer's address) tells one balancer's repeated ADDs, each a
  // decision of its own, from several balancers asking for the same server.
  [[nodiscard]] wire::ScaleReply execute(const wire::ScaleRequest& request, int64_t now_ms,
                                         std::string_view sender = {});
  // A server child exited: drop it if it was stopping, else schedule its restart.
  void on_exit(const ChildExit& exit, int64_t now_ms);
  // Restarts the crashed servers whose backoff has passed.
  void restart_due(int64_t now_ms);

  // What the controller knows of each server, for the live view.
  [[nodiscard]] std::vector<ViewServer> view() const;
  [[nodiscard]] const ServerPool& pool() const { return pool_; }
  [[nodiscard]] const PoolStats& stats() const { return stats_; }

 private:
  [[nodiscard]] pid_t launch(uint32_t id, uint16_t port, int64_t now_ms, std::string& error);
  [[nodiscard]] wire::ScaleReply add(const wire::ScaleRequest& request, int64_t now_ms,
                                     std::string_view sender);
  [[nodiscard]] wire::ScaleReply remove(const wire::ScaleRequest& request, int64_t now_ms);
  void schedule_restart(PoolMember& member, int64_t ran_ms, int64_t now_ms);
  [[nodiscard]] NetAddress address_of(uint16_t port) const;

  ServerPool pool_;
  PoolSettings settings_;
  ProcessSupervisor& supervisor_;
  ControllerLog& log_;
  PoolStats stats_;
  AddCoalescer add_coalescer_;
};

}  // namespace shortline::controller

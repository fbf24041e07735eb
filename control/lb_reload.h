// shortline-lb's reload: SIGHUP and the admin endpoint's POST /api/reload both land here.
// It re-reads the config file with the command line's flags over it (as at start), rejects
// a file that does not load (the running config stays), applies what a running balancer can
// change and names what waits for a restart. One reload at a time.
#pragma once

#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "control/config.h"
#include "control/control_thread.h"

namespace shortline {

struct ReloadOutcome {
  bool ok = false;
  std::string message;  // one line: what changed, what did not, or why it was rejected
};

class LbReloader {
 public:
  // argv as given to main (argv[0] included); `started` is the config the process runs.
  LbReloader(std::vector<std::string> argv, Config started, ControlThread& control);
  LbReloader(const LbReloader&) = delete;
  LbReloader& operator=(const LbReloader&) = delete;

  // Called around a reload (systemd's RELOADING=1 and READY=1); optional. Set them before
  // anything can ask for a reload.
  void set_hooks(std::function<void()> begin, std::function<void()> end) {
    std::lock_guard lock(mutex_);
    begin_ = std::move(begin);
    end_ = std::move(end);
  }
  // Any thread. `trigger` names the cause in the message ("SIGHUP", "admin").
  [[nodiscard]] ReloadOutcome reload(std::string_view trigger);

 private:
  [[nodiscard]] ReloadOutcome reload_locked(std::string_view trigger);

  std::vector<std::string> argv_;
  Config started_;  // restart-only keys are compared with this: they never change
  Config applied_;  // live keys with this: the last config applied
  ControlThread& control_;
  std::function<void()> begin_;
  std::function<void()> end_;
  std::mutex mutex_;
};

}  // namespace shortline

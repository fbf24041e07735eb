// The two ends of a takeover (protocol in control/takeover.h). The running balancer's
// TakeoverListener offers its sockets on a unix socket; a new one's TakeoverClaim takes them.
//
// Sequence: the new process claims the listen sockets and the control socket before it
// opens anything, starts one worker per listen socket on the very same sockets, then says
// "reading". The old one then gets SIGTERM from its own listener thread and shuts down as
// usual: admin server and control thread stop, the workers stop receiving (answering what
// they already took) and it sends "done" before it drains. The new one binds the admin
// port after "done". The server table is rebuilt by the new process from static backends
// and reports; its in-flight counts start at zero while the old one's last requests drain.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <sys/types.h>
#include <thread>
#include <vector>

#include "control/control_thread.h"
#include "control/takeover.h"
#include "dataplane/balancer.h"

namespace shortline {

using TakeoverLog = std::function<void(const std::string&)>;

// The old process's end. start() after the workers run; finish() in the shutdown, after
// Balancer::stop_receiving().
class TakeoverListener {
 public:
  TakeoverListener() = default;
  ~TakeoverListener();
  TakeoverListener(const TakeoverListener&) = delete;
  TakeoverListener& operator=(const TakeoverListener&) = delete;

  // Listens on `path` with mode 0600 (bound beside it, then renamed over a stale file) and
  // serves one takeover at a time on a thread of its own. Refuses a path where another
  // balancer answers. Returns "" or what failed; the balancer runs on either way.
  [[nodiscard]] std::string start(const std::string& path, const Balancer& balancer,
                                  const ControlThread& control, TakeoverLog log);
  // Stops the thread, removes the path if it is still this listener's, and tells a
  // successor that said "reading" that this process no longer reads ("done"). Idempotent.
  void finish();

 private:
  void run();
  [[nodiscard]] bool serve(int connection);
  [[nodiscard]] bool peer_allowed(int connection);
  [[nodiscard]] bool wait_readable(int connection, int timeout_ms);
  void send_offer(int connection, const takeover::Message& request);

  std::string path_;
  ino_t inode_ = 0;  // the path's inode once bound: removed at finish only while it is ours
  dev_t device_ = 0;
  const Balancer* balancer_ = nullptr;
  const ControlThread* control_ = nullptr;
  TakeoverLog log_;
  int listen_fd_ = -1;
  int stop_fd_ = -1;       // eventfd: finish() wakes the thread
  int successor_fd_ = -1;  // the connection that said "reading"
  std::thread thread_;
};

// The new process's end. Each call is a no-op when no claim was made.
class TakeoverClaim {
 public:
  TakeoverClaim() = default;
  ~TakeoverClaim();
  TakeoverClaim(const TakeoverClaim&) = delete;
  TakeoverClaim& operator=(const TakeoverClaim&) = delete;

  // Before Balancer::open(): with a path, connects, asks for the sockets and hands the
  // listen sockets to the balancer (one worker each; logged when the config asked for
  // another number or address). Returns "" or what failed. An empty path claims nothing.
  [[nodiscard]] std::string claim(const std::string& path, Balancer& balancer, TakeoverLog log);
  [[nodiscard]] bool claimed() const { return claimed_; }
  // Before ControlThread::start(): the passed control socket, when there was one.
  void hand_control_socket(ControlThread& control);
  // After every worker reads: says "reading" and waits (bounded) for "done", after which
  // the old process no longer reads and its admin port is free. Logs the outcome.
  void confirm_reading();

 private:
  TakeoverLog log_;
  bool claimed_ = false;
  int connection_ = -1;
  int control_fd_ = -1;
  uint32_t old_pid_ = 0;
};

}  // namespace shortline

// Starts and stops the controller's child processes: fork/exec with stdout and stderr
// appended to a file, each child in its own process group (a Ctrl-C reaches only the
// controller, which then stops the children in order) and with SIGTERM as its parent-death
// signal (a controller killed outright does not leave them behind). Stopping is SIGTERM,
// then SIGKILL once a bounded wait has passed. Never reaps a process it did not start.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace shortline::controller {

enum class ChildRole : uint8_t { balancer, server, client };

[[nodiscard]] const char* role_name(ChildRole role);

struct ChildSpec {
  ChildRole role = ChildRole::server;
  uint32_t id = 0;
  std::vector<std::string> argv;  // argv[0]: a path, or a name looked up in PATH
  std::string output_path;        // stdout and stderr are appended here
};

struct ChildExit {
  pid_t pid = -1;
  ChildRole role = ChildRole::server;
  uint32_t id = 0;
  int status = 0;               // waitpid status
  bool stop_requested = false;  // we sent SIGTERM (a stop, not a crash)
  bool killed = false;          // we had to send SIGKILL
  int64_t ran_ms = 0;
};

// "exit 0", "exit 3", "signal 9 (Killed)".
[[nodiscard]] std::string describe_status(int status);

class ProcessSupervisor {
 public:
  ProcessSupervisor() = default;
  ~ProcessSupervisor();  // SIGKILLs and reaps whatever still runs (stop_all is the polite way)
  ProcessSupervisor(const ProcessSupervisor&) = delete;
  ProcessSupervisor& operator=(const ProcessSupervisor&) = delete;

  // Starts a child; returns its pid, or -1 with `error` set when the program cannot be
  // executed (the exec failure is reported synchronously through a pipe).
  [[nodiscard]] pid_t spawn(const ChildSpec& spec, int64_t now_ms, std::string& error);
  // Sends SIGTERM now and SIGKILL once timeout_ms has passed without an exit.
  void stop(pid_t pid, int64_t now_ms, uint32_t timeout_ms);
  // Kills any child whose stop deadline has passed; returns how many were killed.
  std::size_t enforce_deadlines(int64_t now_ms);
  // Reaps the children that have exited (never blocks).
  [[nodiscard]] std::vector<ChildExit> reap(int64_t now_ms);
  // Stops every child of `role` and waits for them: SIGTERM, at most timeout_ms, then
  // SIGKILL and a short bounded wait. Returns their exits.
  [[nodiscard]] std::vector<ChildExit> stop_role(ChildRole role, uint32_t timeout_ms);
  // Stops every child: clients first, then servers, then the balancer.
  [[nodiscard]] std::vector<ChildExit> stop_all(uint32_t timeout_ms);

  [[nodiscard]] std::size_t running() const { return children_.size(); }
  [[nodiscard]] std::size_t running(ChildRole role) const;

 private:
  struct Child {
    pid_t pid = -1;
    ChildRole role = ChildRole::server;
    uint32_t id = 0;
    int64_t started_ms = 0;
    bool stop_requested = false;
    bool killed = false;
    int64_t kill_at_ms = 0;
  };

  std::vector<Child> children_;
};

// Milliseconds on the monotonic clock.
[[nodiscard]] int64_t monotonic_ms();

}  // namespace shortline::controller

// fork/exec, stop with a deadline, reap: the controller's child processes.
#include "control/controller/process_supervisor.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <string_view>
#include <thread>

#include "control/common/program_path.h"
#include "control/service_notify.h"
#include "dataplane/monotonic_clock.h"

extern char** environ;  // NOLINT: POSIX names it so

namespace shortline::controller {
namespace {

constexpr int kExecFailedStatus = 127;
constexpr uint32_t kAfterKillWaitMs = 2000;  // a SIGKILLed process is gone well within this

// argv[0] as given when it holds a '/', else the first executable of that name in PATH.
std::string resolve_program(const std::string& name) {
  // Not found: exec then fails with ENOENT, reported to the caller.
  return find_program(name).value_or(name);
}

// Runs in the child between fork and exec: async-signal-safe calls only.
[[noreturn]] void exec_child(const char* program, char* const* argv, char* const* envp,
                             int output_fd, int error_pipe_fd, pid_t parent) {
  setpgid(0, 0);
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (getppid() != parent) _exit(kExecFailedStatus);  // the parent died before prctl
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  struct sigaction default_action {};
  default_action.sa_handler = SIG_DFL;
  sigaction(SIGPIPE, &default_action, nullptr);
  const int null_fd = open("/dev/null", O_RDONLY);
  if (null_fd >= 0) dup2(null_fd, STDIN_FILENO);
  dup2(output_fd, STDOUT_FILENO);
  dup2(output_fd, STDERR_FILENO);
  execve(program, argv, envp);
  const int error = errno;
  (void)!write(error_pipe_fd, &error, sizeof(error));
  _exit(kExecFailedStatus);
}

// Our environment without NOTIFY_SOCKET: under systemd only the controller (the unit's
// main process) reports readiness; a balancer child's READY=1 would be refused and logged.
std::vector<char*> child_environment() {
  std::vector<char*> envp;
  for (char** entry = environ; *entry != nullptr; ++entry)
    if (!service::is_notify_socket_entry(*entry)) envp.push_back(*entry);
  envp.push_back(nullptr);
  return envp;
}

}  // namespace

const char* role_name(ChildRole role) {
  switch (role) {
    case ChildRole::balancer:
      return "balancer";
    case ChildRole::server:
      return "server";
    case ChildRole::client:
      return "client";
  }
  return "child";
}

std::string describe_status(int status) {
  if (WIFEXITED(status)) return std::string("exit ").append(std::to_string(WEXITSTATUS(status)));
  if (WIFSIGNALED(status)) {
    std::string text("signal ");
    text.append(std::to_string(WTERMSIG(status)));
    if (const char* name = strsignal(WTERMSIG(status))) text.append(" (").append(name).append(")");
    return text;
  }
  return "status " + std::to_string(status);
}

int64_t monotonic_ms() { return static_cast<int64_t>(monotonic_ns() / 1'000'000); }

ProcessSupervisor::~ProcessSupervisor() {
  for (const auto& child : children_) kill(child.pid, SIGKILL);
  for (const auto& child : children_) waitpid(child.pid, nullptr, 0);
}

pid_t ProcessSupervisor::spawn(const ChildSpec& spec, int64_t now_ms, std::string& error) {
  assert(!spec.argv.empty());
  const std::string program = resolve_program(spec.argv[0]);
  std::vector<char*> argv;
  for (const auto& arg : spec.argv) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  std::error_code ignored;
  std::filesystem::create_directories(std::filesystem::path(spec.output_path).parent_path(),
                                      ignored);
  const int output_fd =
      open(spec.output_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (output_fd < 0) {
    error = std::string("cannot open ").append(spec.output_path).append(": ");
    error.append(std::strerror(errno));
    return -1;
  }
  int error_pipe[2];
  if (pipe2(error_pipe, O_CLOEXEC) != 0) {
    error = std::string("pipe: ").append(std::strerror(errno));
    close(output_fd);
    return -1;
  }
  const auto envp = child_environment();
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid == 0)
    exec_child(program.c_str(), argv.data(), envp.data(), output_fd, error_pipe[1], parent);
  const int fork_errno = errno;
  close(error_pipe[1]);
  close(output_fd);
  if (pid < 0) {
    close(error_pipe[0]);
    error = std::string("fork: ").append(std::strerror(fork_errno));
    return -1;
  }
  setpgid(pid, pid);  // also here, so that a signal to the group right away finds it
  int exec_errno = 0;
  ssize_t got = 0;
  do {
    got = read(error_pipe[0], &exec_errno, sizeof(exec_errno));
  } while (got < 0 && errno == EINTR);
  close(error_pipe[0]);
  if (got > 0) {  // exec failed: the child has exited or is about to
    waitpid(pid, nullptr, 0);
    error = std::string("cannot execute ").append(program).append(": ");
    error.append(std::strerror(exec_errno));
    return -1;
  }
  children_.push_back({pid, spec.role, spec.id, now_ms, false, false, 0});
  return pid;
}

void ProcessSupervisor::stop(pid_t pid, int64_t now_ms, uint32_t timeout_ms) {
  const auto it = std::find_if(children_.begin(), children_.end(),
                               [pid](const Child& child) { return child.pid == pid; });
  if (it == children_.end() || it->stop_requested) return;
  it->stop_requested = true;
  it->kill_at_ms = now_ms + timeout_ms;
  kill(pid, SIGTERM);
}

std::size_t ProcessSupervisor::enforce_deadlines(int64_t now_ms) {
  std::size_t killed = 0;
  for (auto& child : children_) {
    if (!child.stop_requested || child.killed || now_ms < child.kill_at_ms) continue;
    kill(child.pid, SIGKILL);
    child.killed = true;
    ++killed;
  }
  return killed;
}

std::vector<ChildExit> ProcessSupervisor::reap(int64_t now_ms) {
  std::vector<ChildExit> exits;
  for (auto it = children_.begin(); it != children_.end();) {
    int status = 0;
    if (waitpid(it->pid, &status, WNOHANG) != it->pid) {
      ++it;
      continue;
    }
    exits.push_back({it->pid, it->role, it->id, status, it->stop_requested, it->killed,
                     now_ms - it->started_ms});
    it = children_.erase(it);
  }
  return exits;
}

std::size_t ProcessSupervisor::running(ChildRole role) const {
  return static_cast<std::size_t>(
      std::count_if(children_.begin(), children_.end(),
                    [role](const Child& child) { return child.role == role; }));
}

std::vector<ChildExit> ProcessSupervisor::stop_role(ChildRole role, uint32_t timeout_ms) {
  const int64_t start_ms = monotonic_ms();
  for (const auto& child : children_) {
    if (child.role == role) stop(child.pid, start_ms, timeout_ms);
  }
  std::vector<ChildExit> exits;
  const int64_t give_up_ms = start_ms + timeout_ms + kAfterKillWaitMs;
  while (running(role) > 0 && monotonic_ms() < give_up_ms) {
    const int64_t now_ms = monotonic_ms();
    enforce_deadlines(now_ms);
    for (auto& exit : reap(now_ms)) exits.push_back(exit);
    if (running(role) > 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return exits;
}

std::vector<ChildExit> ProcessSupervisor::stop_all(uint32_t timeout_ms) {
  std::vector<ChildExit> exits;
  for (const auto role : {ChildRole::client, ChildRole::server, ChildRole::balancer}) {
    for (auto& exit : stop_role(role, timeout_ms)) exits.push_back(exit);
  }
  return exits;
}

}  // namespace shortline::controller

// Runs a program as a child process with its stdout and stderr captured through a pipe,
// for tests of the real binaries: read lines with a deadline, send signals, reap the exit.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

namespace shortline::testing {

// How the child starts, besides its argv.
struct ChildOptions {
  std::string working_dir;      // empty: the test's own
  bool journal_stdout = false;  // set JOURNAL_STREAM to its stdout, as systemd does
};

class ChildProcess {
 public:
  explicit ChildProcess(const std::vector<std::string>& argv, const ChildOptions& options = {}) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(fds[1], STDOUT_FILENO);
      dup2(fds[1], STDERR_FILENO);
      if (!options.working_dir.empty() && chdir(options.working_dir.c_str()) != 0) _exit(126);
      if (options.journal_stdout) set_journal_stream();
      std::vector<char*> args;
      for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      execv(args[0], args.data());
      _exit(127);
    }
    close(fds[1]);
    out_fd_ = fds[0];
  }
  ~ChildProcess() {
    if (pid_ > 0 && !exited_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (out_fd_ >= 0) close(out_fd_);
  }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // Reads output until a line containing needle appears; returns that line.
  std::optional<std::string> wait_for_line(const std::string& needle,
                                           std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      for (auto newline = output_.find('\n', scanned_); newline != std::string::npos;
           newline = output_.find('\n', scanned_)) {
        std::string line = output_.substr(scanned_, newline - scanned_);
        scanned_ = newline + 1;
        if (line.find(needle) != std::string::npos) return line;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0 || !read_some(static_cast<int>(left.count()))) return std::nullopt;
    }
  }

  void signal(int sig) const { kill(pid_, sig); }
  [[nodiscard]] pid_t pid() const { return pid_; }

  // Waits for the exit; returns the exit status, or -1 on timeout or a signal death.
  int wait_exit(std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      read_some(10);
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        exited_ = true;
        while (read_some(0)) {
        }
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
    }
    return -1;
  }

  [[nodiscard]] const std::string& output() const { return output_; }

 private:
  // "DEVICE:INODE" of stdout (systemd.exec(5)); only in the forked child, before exec.
  static void set_journal_stream() {
    struct stat info {};
    if (fstat(STDOUT_FILENO, &info) != 0) _exit(126);
    const std::string value = std::to_string(info.st_dev) + ":" + std::to_string(info.st_ino);
    setenv("JOURNAL_STREAM", value.c_str(), 1);
  }

  bool read_some(int timeout_ms) {
    pollfd p{out_fd_, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) <= 0) return false;
    char buffer[4096];
    const ssize_t n = read(out_fd_, buffer, sizeof(buffer));
    if (n <= 0) return false;
    output_.append(buffer, static_cast<size_t>(n));
    return true;
  }

  pid_t pid_ = -1;
  int out_fd_ = -1;
  bool exited_ = false;
  std::string output_;
  size_t scanned_ = 0;
};

}  // namespace shortline::testing

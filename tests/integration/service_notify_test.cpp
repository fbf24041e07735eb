// shortline-lb under a service manager: with NOTIFY_SOCKET set it sends READY=1 once every
// worker listens (after the listening line) and STOPPING=1 on SIGTERM; and a config whose
// control port admits sources beyond loopback without a key is refused with exit status 2.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <string>

#include "child_process.h"
#include "dataplane/kernel_probe.h"
#include "udp_test_support.h"

namespace shortline {
namespace {

using testing::ChildProcess;

const std::string kLb = std::string(SHORTLINE_BIN_DIR) + "/shortline-lb";
constexpr int kNotifyWaitMs = 20'000;

// The service manager's end: a unix datagram socket bound to a fresh path.
class NotifySocket {
 public:
  NotifySocket() {
    path_ = ::testing::TempDir() + "/shortline_notify_" + std::to_string(getpid());
    unlink(path_.c_str());
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (path_.size() >= sizeof(address.sun_path)) return;
    std::memcpy(address.sun_path, path_.c_str(), path_.size() + 1);
    bound_ = bind(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0;
  }
  ~NotifySocket() {
    if (fd_ >= 0) close(fd_);
    unlink(path_.c_str());
  }
  NotifySocket(const NotifySocket&) = delete;
  NotifySocket& operator=(const NotifySocket&) = delete;

  [[nodiscard]] bool bound() const { return bound_; }
  [[nodiscard]] const std::string& path() const { return path_; }

  // The next notification datagram, or nullopt after timeout_ms.
  std::optional<std::string> receive(int timeout_ms) const {
    pollfd ready{fd_, POLLIN, 0};
    if (poll(&ready, 1, timeout_ms) <= 0) return std::nullopt;
    char buffer[4096];
    const ssize_t n = recv(fd_, buffer, sizeof(buffer), 0);
    if (n < 0) return std::nullopt;
    return std::string(buffer, static_cast<size_t>(n));
  }

 private:
  std::string path_;
  int fd_ = -1;
  bool bound_ = false;
};

// Sets an environment variable for the children started while it lives.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() { unsetenv(name_); }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
};

TEST(ServiceNotify, ReadyAfterListeningAndStoppingOnSigterm) {
  if (const auto missing = probe_kernel_features(); !missing.empty())
    GTEST_SKIP() << "kernel lacks io_uring features: " << missing;
  NotifySocket manager;
  ASSERT_TRUE(manager.bound()) << manager.path();
  testing::EchoServer echo("127.0.0.1");
  std::optional<ChildProcess> lb;
  {
    const ScopedEnv notify("NOTIFY_SOCKET", manager.path());
    lb.emplace(std::vector<std::string>{kLb, "--listen", "127.0.0.1:0", "--backend",
                                        echo.address().to_string(), "--workers", "2",
                                        "--control-port", "0", "--admin", "off"});
  }
  const auto ready = manager.receive(kNotifyWaitMs);
  ASSERT_TRUE(ready) << "no notification; output:\n" << lb->output();
  EXPECT_NE(ready->find("READY=1"), std::string::npos) << *ready;
  EXPECT_NE(ready->find("STATUS=listening on 127.0.0.1:"), std::string::npos) << *ready;
  // READY=1 is sent after the listening line was written, so the line is already there.
  EXPECT_TRUE(lb->wait_for_line("listening on", std::chrono::seconds(5))) << lb->output();
  lb->signal(SIGTERM);
  const auto stopping = manager.receive(kNotifyWaitMs);
  ASSERT_TRUE(stopping) << lb->output();
  EXPECT_EQ(*stopping, "STOPPING=1");
  EXPECT_EQ(lb->wait_exit(), 0) << lb->output();
}

TEST(ServiceNotify, WithoutNotifySocketNothingChanges) {
  if (const auto missing = probe_kernel_features(); !missing.empty())
    GTEST_SKIP() << "kernel lacks io_uring features: " << missing;
  ASSERT_EQ(std::getenv("NOTIFY_SOCKET"), nullptr) << "the test must run outside a Type=notify unit";
  testing::EchoServer echo("127.0.0.1");
  ChildProcess lb({kLb, "--listen", "127.0.0.1:0", "--backend", echo.address().to_string(),
                   "--workers", "1", "--control-port", "0", "--admin", "off"});
  ASSERT_TRUE(lb.wait_for_line("listening on")) << lb.output();
  lb.signal(SIGTERM);
  EXPECT_EQ(lb.wait_exit(), 0) << lb.output();
  EXPECT_EQ(lb.output().find("notify"), std::string::npos) << lb.output();
}

TEST(ReportAuthentication, BalancerRefusesNonLoopbackSourcesWithoutKey) {
  const std::string path = ::testing::TempDir() + "/shortline_open_control.json";
  std::ofstream(path) << R"({"load_balancer": {"control_allowed_sources": ["0.0.0.0/0"]}})";
  ChildProcess lb({kLb, "--config", path, "--listen", "127.0.0.1:0"});
  EXPECT_EQ(lb.wait_exit(), 2) << lb.output();
  for (const char* part : {"load_balancer.control_allowed_sources", "0.0.0.0/0",
                           "load_balancer.auth_key_file", "allow_unauthenticated_reports"})
    EXPECT_NE(lb.output().find(part), std::string::npos) << part << " in " << lb.output();
  std::remove(path.c_str());
}

}  // namespace
}  // namespace shortline

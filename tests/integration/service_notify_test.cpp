// shortline-lb under a service manager: with NOTIFY_SOCKET set it sends READY=1 once every
// worker listens (after the listening line) and STOPPING=1 on SIGTERM; and a config whose
// control port admits sources beyond loopback without a key is refused with exit status 2.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>

#include "child_process.h"
#include "notify_socket.h"
#include "dataplane/kernel_probe.h"
#include "udp_test_support.h"

namespace shortline {
namespace {

using testing::ChildProcess;
using testing::NotifySocket;
using testing::ScopedEnv;

const std::string kLb = std::string(SHORTLINE_BIN_DIR) + "/shortline-lb";
constexpr int kNotifyWaitMs = 20'000;

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

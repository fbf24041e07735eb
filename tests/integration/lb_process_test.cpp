// The shortline-lb binary: start-up line, proxying, SIGTERM drain with counters and exit
// status 0, and exit status 2 with a clear message for bad flags and bad config.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "child_process.h"
#include "dataplane/kernel_probe.h"
#include "udp_test_support.h"

namespace shortline {
namespace {

using testing::ChildProcess;

const std::string kLb = std::string(SHORTLINE_BIN_DIR) + "/shortline-lb";

NetAddress parse_listen_line(const std::string& line) {
  const auto start = line.find("listening on ") + 13;
  const auto end = line.find(' ', start);
  return *NetAddress::parse(line.substr(start, end - start));
}

TEST(LbProcess, ProxiesThenDrainsOnSigtermAndPrintsCounters) {
  if (const auto missing = probe_kernel_features(); !missing.empty())
    GTEST_SKIP() << "kernel lacks io_uring features: " << missing;
  testing::EchoServer echo("127.0.0.1");
  ChildProcess lb({kLb, "--listen", "127.0.0.1:0", "--backend", echo.address().to_string(),
                   "--workers", "2"});
  const auto ready = lb.wait_for_line("listening on");
  ASSERT_TRUE(ready) << lb.output();
  const NetAddress target = parse_listen_line(*ready);
  testing::Client client("127.0.0.1");
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(client.send(target, "ping " + std::to_string(i)));
    const auto reply = client.receive();
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->payload, "ping " + std::to_string(i));
  }
  lb.signal(SIGTERM);
  EXPECT_EQ(lb.wait_exit(), 0) << lb.output();
  EXPECT_NE(lb.output().find("replies_forwarded            20"), std::string::npos) << lb.output();
  EXPECT_NE(lb.output().find("drops_total                  0"), std::string::npos) << lb.output();
}

// kill -HUP is what operators send to reload; it must never end the balancer (the signal's
// default action) while reloading is not built: traffic goes on, then SIGTERM drains.
TEST(LbProcess, SighupKeepsItServing) {
  if (const auto missing = probe_kernel_features(); !missing.empty())
    GTEST_SKIP() << "kernel lacks io_uring features: " << missing;
  testing::EchoServer echo("127.0.0.1");
  ChildProcess lb({kLb, "--listen", "127.0.0.1:0", "--backend", echo.address().to_string(),
                   "--workers", "1"});
  const auto ready = lb.wait_for_line("listening on");
  ASSERT_TRUE(ready) << lb.output();
  const NetAddress target = parse_listen_line(*ready);
  lb.signal(SIGHUP);
  ASSERT_TRUE(lb.wait_for_line("SIGHUP")) << lb.output();
  testing::Client client("127.0.0.1");
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(client.send(target, "after hup " + std::to_string(i)));
    const auto reply = client.receive();
    ASSERT_TRUE(reply) << lb.output();
    EXPECT_EQ(reply->payload, "after hup " + std::to_string(i));
  }
  lb.signal(SIGTERM);
  EXPECT_EQ(lb.wait_exit(), 0) << lb.output();
}

TEST(LbProcess, UnknownFlagExitsWithStatusTwo) {
  ChildProcess lb({kLb, "--no-such-flag"});
  EXPECT_EQ(lb.wait_exit(), 2);
  EXPECT_NE(lb.output().find("--no-such-flag"), std::string::npos) << lb.output();
}

TEST(LbProcess, BadConfigValueExitsWithStatusTwoNamingTheKey) {
  const std::string path = ::testing::TempDir() + "/shortline_bad_config.json";
  std::ofstream(path) << R"({"load_balancer": {"workers": "many"}})";
  ChildProcess lb({kLb, "--config", path});
  EXPECT_EQ(lb.wait_exit(), 2);
  EXPECT_NE(lb.output().find("load_balancer.workers"), std::string::npos) << lb.output();
  EXPECT_NE(lb.output().find("many"), std::string::npos) << lb.output();
  std::remove(path.c_str());
}

TEST(LbProcess, HelpDocumentsTheFlagsAndExitsZero) {
  ChildProcess lb({kLb, "--help"});
  EXPECT_EQ(lb.wait_exit(), 0);
  for (const char* flag : {"--config", "--listen", "--backend", "--workers", "--policy", "--affinity"})
    EXPECT_NE(lb.output().find(flag), std::string::npos) << flag;
}

}  // namespace
}  // namespace shortline

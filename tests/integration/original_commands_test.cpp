// The seed's own commands, as its README wrote them, in a folder holding config.json:
// `shortline-lb`, `shortline-server --port P` twice, `shortline-client --requests 100`. Ids
// and addresses come from config.json and are printed; every request is answered. Also the
// logs: --log-dir puts each binary's events below its folder with UTC ISO 8601 stamps, and
// with stdout on the journal (JOURNAL_STREAM) the stdout event lines carry no stamp.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "child_process.h"
#include "dataplane/kernel_probe.h"
#include "udp_test_support.h"

namespace shortline {
namespace {

using testing::ChildOptions;
using testing::ChildProcess;
using namespace std::chrono_literals;

const std::string kBin = SHORTLINE_BIN_DIR;
const std::regex kIsoLine(R"(^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z .+)");

// The first port of the kernel's ephemeral range (net.ipv4.ip_local_port_range).
uint16_t ephemeral_start() {
  std::ifstream range("/proc/sys/net/ipv4/ip_local_port_range");
  unsigned low = 32768;
  range >> low;
  return static_cast<uint16_t>(std::clamp(low, 2048u, 65535u));
}

// A UDP port on loopback that was free a moment ago, below the ephemeral range: the
// balancer opens its upstream sockets on ephemeral ports, and one of them must not take a
// port the test then gives a server (seen under TSan, where start-up is slow).
uint16_t free_udp_port() {
  static uint16_t next = static_cast<uint16_t>(1024 + getpid() % 8192);
  const uint16_t end = ephemeral_start();
  for (int attempt = 0; attempt < 20000; ++attempt) {
    const uint16_t port = next;
    next = static_cast<uint16_t>(next + 1 >= end ? 1024 : next + 1);
    const auto address = NetAddress::parse("127.0.0.1:" + std::to_string(port));
    const int fd = testing::open_udp_socket(*address);
    if (fd < 0) continue;
    close(fd);
    return port;
  }
  return 0;
}

std::vector<std::string> file_lines(const std::string& path) {
  std::ifstream file(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(file, line);) lines.push_back(line);
  return lines;
}

void expect_iso_lines(const std::string& path) {
  const auto lines = file_lines(path);
  EXPECT_FALSE(lines.empty()) << path << " is missing or empty";
  for (const auto& line : lines)
    EXPECT_TRUE(std::regex_search(line, kIsoLine)) << path << ": " << line;
}

class OriginalCommandsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const auto missing = probe_kernel_features(); !missing.empty())
      GTEST_SKIP() << "kernel lacks io_uring features: " << missing;
    dir_ = ::testing::TempDir() + "/shortline_original_commands_" + std::to_string(getpid());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    server_ports_ = {free_udp_port(), free_udp_port()};
    std::ofstream config(dir_ + "/config.json");
    // The seed's layout, numbers as strings; ports picked free, the range holding both.
    config << R"({"server": {"start_id": "10", "port_range_start": ")" << kRangeStart
           << R"(", "port_range_end": "65535", "queue_update_interval": "10"},)"
           << R"( "client": {"start_id": "1000"},)"
           << R"( "load_balancer": {"server_side_port": ")" << free_udp_port()
           << R"(", "client_side_port": ")" << free_udp_port()
           << R"(", "listen_address": "127.0.0.1", "admin_enabled": false, "workers": 1, "upstream_sockets": 64},)"
           << R"( "controller": {"port": ")" << free_udp_port() << R"("}})";
  }
  void TearDown() override {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  ChildProcess& start(std::vector<std::string> argv, bool journal = false) {
    argv[0] = kBin + "/" + argv[0];
    children_.push_back(std::make_unique<ChildProcess>(argv, ChildOptions{dir_, journal}));
    return *children_.back();
  }

  uint32_t expected_id(uint16_t port) const { return 10 + (port - kRangeStart); }

  static constexpr uint16_t kRangeStart = 1024;
  std::string dir_;
  std::vector<uint16_t> server_ports_;
  std::vector<std::unique_ptr<ChildProcess>> children_;
};

TEST_F(OriginalCommandsTest, SeedCommandsBringUpAWorkingSystem) {
  ChildProcess& lb = start({"shortline-lb"});
  ASSERT_TRUE(lb.wait_for_line("listening on ")) << lb.output();
  EXPECT_NE(lb.output().find("config from config.json"), std::string::npos) << lb.output();
  for (const uint16_t port : server_ports_) {
    ChildProcess& server = start({"shortline-server", "--port", std::to_string(port)});
    const std::string id = std::to_string(expected_id(port));
    const auto chosen = server.wait_for_line("shortline-server: id " + id + " from config.json");
    ASSERT_TRUE(chosen) << server.output();
    EXPECT_NE(chosen->find("server.start_id 10"), std::string::npos) << *chosen;
    ASSERT_TRUE(server.wait_for_line("listening on")) << server.output();
  }
  // Not under systemd: each stdout event line carries its own UTC stamp.
  const std::regex stamped(R"(shortline-lb: \d{4}-\d\d-\d\dT[\d:.]+Z server \d+ registered)");
  for (std::size_t i = 0; i < server_ports_.size(); ++i) {
    const auto registered = lb.wait_for_line(" registered at ", 30s);
    ASSERT_TRUE(registered) << lb.output();
    EXPECT_TRUE(std::regex_search(*registered, stamped)) << *registered;
  }
  ChildProcess& client = start({"shortline-client", "--requests", "100", "--timeout-ms", "5000"});
  ASSERT_EQ(client.wait_exit(60s), 0) << client.output();
  EXPECT_NE(client.output().find("target 127.0.0.1:"), std::string::npos) << client.output();
  EXPECT_NE(client.output().find("id 1000 from config.json (client.start_id)"), std::string::npos)
      << client.output();
  EXPECT_NE(client.output().find("answered 100 "), std::string::npos)
      << client.output() << "\nbalancer:\n" << lb.output();
  EXPECT_NE(client.output().find("failed 0 "), std::string::npos) << client.output();
  // The servers' and the client's default log folders, below the working folder.
  for (const uint16_t port : server_ports_)
    expect_iso_lines(dir_ + "/logs/servers/server-" + std::to_string(expected_id(port)) + ".log");
  expect_iso_lines(dir_ + "/logs/clients/client-1000.log");
}

TEST_F(OriginalCommandsTest, LogDirAndJournalStdout) {
  const std::string logs = dir_ + "/elsewhere";
  ChildProcess& lb = start({"shortline-lb", "--log-dir", logs}, /*journal=*/true);
  ASSERT_TRUE(lb.wait_for_line("listening on ")) << lb.output();
  ChildProcess& server =
      start({"shortline-server", "--port", std::to_string(server_ports_[0]), "--log-dir", logs});
  ASSERT_TRUE(server.wait_for_line("listening on")) << server.output();
  const auto registered = lb.wait_for_line(" registered at ", 30s);
  ASSERT_TRUE(registered) << lb.output();
  // Under systemd the journal stamps the line; the balancer adds none of its own.
  const std::string id = std::to_string(expected_id(server_ports_[0]));
  EXPECT_EQ(registered->rfind("shortline-lb: server " + id + " registered at ", 0), 0u)
      << *registered;
  ChildProcess& client = start({"shortline-client", "--requests", "5", "--timeout-ms", "5000",
                                "--log-dir", logs});
  ASSERT_EQ(client.wait_exit(60s), 0) << client.output();
  lb.signal(SIGTERM);
  ASSERT_EQ(lb.wait_exit(), 0) << lb.output();
  const std::string balancer_log = logs + "/balancer/balancer.log";
  expect_iso_lines(balancer_log);
  bool found = false;
  for (const auto& line : file_lines(balancer_log))
    found = found || line.find("balancer: server " + id + " registered at ") != std::string::npos;
  EXPECT_TRUE(found) << balancer_log;
  expect_iso_lines(logs + "/servers/server-" + id + ".log");
  expect_iso_lines(logs + "/clients/client-1000.log");
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/logs")) << "--log-dir was not followed";
}

}  // namespace
}  // namespace shortline

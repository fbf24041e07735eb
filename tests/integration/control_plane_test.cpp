// The control plane with real processes on loopback: shortline-servers register with
// shortline-lb by reporting and get traffic; a SIGKILLed server goes DOWN and the client
// loses nothing with retries; a SIGTERMed server drains with nothing lost; reports with a
// bad tag or from a disallowed address change nothing.
#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "child_process.h"
#include "control/wire/messages.h"
#include "dataplane/kernel_probe.h"
#include "udp_test_support.h"

namespace shortline {
namespace {

using testing::ChildProcess;
using namespace std::chrono_literals;

const std::string kBin = SHORTLINE_BIN_DIR;

// The address after `marker` on a line: "listening on 127.0.0.1:5 (" -> "127.0.0.1:5".
std::string address_after(const std::string& line, const std::string& marker) {
  const auto start = line.find(marker) + marker.size();
  const auto end = line.find_first_of(" \n", start);
  return line.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

class ControlPlaneTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const auto missing = probe_kernel_features(); !missing.empty())
      GTEST_SKIP() << "kernel lacks io_uring features: " << missing;
    log_dir_ = ::testing::TempDir() + "/shortline_control_plane_logs";
  }

  // Starts shortline-lb with no backends, an ephemeral control port and no controller.
  void start_lb(std::vector<std::string> extra = {}, const std::string& listen = "127.0.0.1:0") {
    std::vector<std::string> argv = {kBin + "/shortline-lb", "--listen",       listen,
                                     "--control-port",       "0",              "--controller-port",
                                     "0",                    "--workers",      "2",
                                     "--admin",              "off"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    lb_ = std::make_unique<ChildProcess>(argv);
    const auto ready = lb_->wait_for_line("listening on ");
    ASSERT_TRUE(ready) << lb_->output();
    target_ = address_after(*ready, "listening on ");
    const auto control = lb_->wait_for_line("control on ");
    ASSERT_TRUE(control) << lb_->output();
    control_ = address_after(*control, "control on ");
  }

  ChildProcess& start_server(uint32_t id, std::vector<std::string> extra = {},
                             const std::string& host = "127.0.0.1") {
    std::vector<std::string> argv = {kBin + "/shortline-server", "--port", "0", "--id",
                                     std::to_string(id), "--balancer", control_,
                                     "--listen-address", host, "--service-ms", "1",
                                     "--log-dir", log_dir_};
    argv.insert(argv.end(), extra.begin(), extra.end());
    servers_.push_back(std::make_unique<ChildProcess>(argv));
    EXPECT_TRUE(servers_.back()->wait_for_line("listening on")) << servers_.back()->output();
    return *servers_.back();
  }

  // Waits for `count` lb event lines containing `what`; returns the server ids they name.
  std::set<uint32_t> wait_for_events(const std::string& what, std::size_t count) {
    std::set<uint32_t> ids;
    for (std::size_t i = 0; i < count; ++i) {
      const auto line = lb_->wait_for_line(what, 20s);
      if (!line) break;
      const auto at = line->find("server ");
      if (at != std::string::npos) ids.insert(static_cast<uint32_t>(std::stoul(line->substr(at + 7))));
    }
    return ids;
  }

  // Runs shortline-client through the balancer to completion; returns its --json summary.
  nlohmann::json run_client(std::vector<std::string> load) {
    ChildProcess client(client_argv(std::move(load)));
    EXPECT_EQ(client.wait_exit(60s), 0) << client.output();
    return parse_summary(client.output());
  }

  std::vector<std::string> client_argv(std::vector<std::string> load) {
    std::vector<std::string> argv = {kBin + "/shortline-client", "--target", target_, "--json",
                                     "--log-dir", log_dir_};
    argv.insert(argv.end(), load.begin(), load.end());
    return argv;
  }

  static nlohmann::json parse_summary(const std::string& output) {
    const auto start = output.find("{\"client_id\"");
    if (start == std::string::npos) return nlohmann::json::object();
    const auto end = output.find('\n', start);
    return nlohmann::json::parse(output.substr(start, end - start), nullptr, false);
  }

  // Stops the balancer and returns its output (counters included).
  std::string stop_lb() {
    lb_->signal(SIGTERM);
    EXPECT_EQ(lb_->wait_exit(), 0) << lb_->output();
    return lb_->output();
  }

  // The value of a counter line "  name   value" in the balancer's exit output.
  static uint64_t counter(const std::string& output, const std::string& name) {
    const auto at = output.find("  " + name + " ");
    if (at == std::string::npos) return UINT64_MAX;
    return std::stoull(output.substr(output.find_first_not_of(' ', at + 2 + name.size())));
  }

  std::string log_dir_;
  std::unique_ptr<ChildProcess> lb_;
  std::vector<std::unique_ptr<ChildProcess>> servers_;
  std::string target_;
  std::string control_;
};

TEST_F(ControlPlaneTest, ServersRegisterByReportingAndGetTraffic) {
  start_lb();
  for (uint32_t id = 1; id <= 3; ++id) start_server(id);
  EXPECT_EQ(wait_for_events(" registered at ", 3), (std::set<uint32_t>{1, 2, 3})) << lb_->output();
  const auto summary = run_client({"--concurrency", "6", "--requests", "600", "--timeout-ms", "2000"});
  EXPECT_EQ(summary["answered"], 600) << summary.dump();
  EXPECT_EQ(summary["failed"], 0);
  for (const char* id : {"1", "2", "3"})
    EXPECT_GT(summary["servers"].value(id, 0), 0) << "server " << id << ": " << summary.dump();
  const std::string output = stop_lb();
  if (summary["failed"] != 0) ADD_FAILURE() << "the balancer saw:\n" << output;  // why
  EXPECT_EQ(counter(output, "servers_registered"), 3u) << output;
  EXPECT_GT(counter(output, "reports_accepted"), 3u) << output;
}

TEST_F(ControlPlaneTest, KilledServerGoesDownAndRetriesLoseNothing) {
  start_lb();
  for (uint32_t id = 1; id <= 3; ++id) start_server(id);
  ASSERT_EQ(wait_for_events(" registered at ", 3).size(), 3u) << lb_->output();
  ChildProcess client(client_argv({"--concurrency", "4", "--requests", "3000", "--timeout-ms",
                                   "200", "--retries", "5", "--retry-budget", "1"}));
  servers_[1]->signal(SIGKILL);  // server 2, while the client runs
  const auto down = lb_->wait_for_line("server 2 down", 10s);
  EXPECT_TRUE(down) << lb_->output();
  EXPECT_EQ(client.wait_exit(60s), 0) << client.output();
  const auto during = parse_summary(client.output());
  EXPECT_EQ(during["answered"], 3000) << during.dump();
  EXPECT_EQ(during["failed"], 0) << during.dump();
  // Traffic after the DOWN goes to the others only.
  const auto after = run_client({"--concurrency", "4", "--requests", "400", "--timeout-ms", "2000"});
  EXPECT_EQ(after["answered"], 400) << after.dump();
  EXPECT_EQ(after["servers"].value("2", 0), 0) << after.dump();
  EXPECT_GT(after["servers"].value("1", 0), 0) << after.dump();
  EXPECT_GT(after["servers"].value("3", 0), 0) << after.dump();
  const std::string output = stop_lb();
  EXPECT_GE(counter(output, "servers_down"), 1u) << output;
}

TEST_F(ControlPlaneTest, TerminatedServerDrainsWithNothingLost) {
  // This test is about the drain: a report gap of a busy sanitizer build must not read as
  // a death of the other servers (100 ms of silence instead of the default 20).
  const std::string config = ::testing::TempDir() + "/shortline_drain_config.json";
  std::ofstream(config) << R"({"load_balancer": {"missed_reports": 50}})";
  start_lb({"--config", config});
  for (uint32_t id = 1; id <= 3; ++id) start_server(id);
  ASSERT_EQ(wait_for_events(" registered at ", 3).size(), 3u) << lb_->output();
  ChildProcess client(client_argv({"--concurrency", "4", "--requests", "3000", "--timeout-ms",
                                   "5000", "--retries", "0"}));
  servers_[2]->signal(SIGTERM);  // server 3: DRAINING, finishes its queue, LEAVING, exits
  EXPECT_TRUE(lb_->wait_for_line("server 3 draining", 20s)) << lb_->output();
  EXPECT_TRUE(lb_->wait_for_line("server 3 removed", 20s)) << lb_->output();
  EXPECT_EQ(servers_[2]->wait_exit(), 0) << servers_[2]->output();
  EXPECT_EQ(client.wait_exit(60s), 0) << client.output();
  const auto summary = parse_summary(client.output());
  EXPECT_EQ(summary["answered"], 3000) << summary.dump();
  EXPECT_EQ(summary["failed"], 0) << summary.dump();
  EXPECT_EQ(summary["retried"], 0) << summary.dump();
  const std::string output = stop_lb();
  EXPECT_EQ(counter(output, "servers_removed"), 1u) << output;
  EXPECT_EQ(counter(output, "servers_down"), 0u) << output;
}

// Sends one datagram from `from` (any port) to `to`.
bool send_from(const std::string& from, const std::string& to, const std::vector<uint8_t>& data) {
  const int fd = testing::open_udp_socket(testing::any_port(from));
  if (fd < 0) return false;
  const NetAddress target = *NetAddress::parse(to);
  const bool sent = sendto(fd, data.data(), data.size(), 0, target.sockaddr_ptr(), target.length) ==
                    static_cast<ssize_t>(data.size());
  close(fd);
  return sent;
}

std::vector<uint8_t> report_datagram(uint32_t id, const std::string& data_address,
                                     wire::ServerState state, const wire::SignOptions& sign) {
  wire::ServerReport report;
  report.server_id = id;
  report.address = *NetAddress::parse(data_address);
  report.state = state;
  report.sequence = 1'000'000;
  std::array<uint8_t, wire::kControlMessageBytesMax> buffer{};
  const std::size_t size = wire::encode(report, buffer, sign);
  return {buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(size)};
}

TEST_F(ControlPlaneTest, BadTagAndDisallowedSourceChangeNothing) {
  const std::string key_path = ::testing::TempDir() + "/shortline_control_plane.key";
  const std::string config_path = ::testing::TempDir() + "/shortline_control_plane.json";
  std::ofstream(key_path) << std::string(64, '5') << "\n";
  std::ofstream(config_path) << R"({"load_balancer": {"auth_key_file": ")" << key_path
                             << R"(", "control_allowed_sources": ["127.0.0.1/32"]}})";
  start_lb({"--config", config_path});
  ChildProcess& server = start_server(1, {"--auth-key-file", key_path});
  const auto data_line = server.output();
  const std::string data_address = address_after(data_line, "listening on ");
  ASSERT_EQ(wait_for_events(" registered at ", 1), std::set<uint32_t>{1}) << lb_->output();
  // A LEAVING for server 1 signed with the wrong key, an unsigned one, and a correctly
  // signed one from 127.0.0.2, which the allow list excludes; and a newcomer, unsigned.
  const auto wrong = wire::AuthKey::from_hex(std::string(64, '6'));
  const auto right = wire::AuthKey::from_hex(std::string(64, '5'));
  const auto leaving = wire::ServerState::leaving;
  ASSERT_TRUE(send_from("127.0.0.1", control_,
                        report_datagram(1, data_address, leaving, {&*wrong, {1, UINT64_MAX - 1}})));
  ASSERT_TRUE(send_from("127.0.0.1", control_, report_datagram(1, data_address, leaving, {})));
  ASSERT_TRUE(send_from("127.0.0.2", control_,
                        report_datagram(1, data_address, leaving, {&*right, {1, UINT64_MAX - 1}})));
  ASSERT_TRUE(send_from("127.0.0.1", control_,
                        report_datagram(9, "127.0.0.1:9", wire::ServerState::up, {})));
  // Server 1 still takes every request, and nothing else joined.
  const auto summary = run_client({"--concurrency", "2", "--requests", "200", "--timeout-ms", "2000"});
  EXPECT_EQ(summary["answered"], 200) << summary.dump();
  EXPECT_EQ(summary["servers"].value("1", 0), 200) << summary.dump();
  const std::string output = stop_lb();
  EXPECT_EQ(counter(output, "reports_rejected_bad_tag"), 3u) << output;
  EXPECT_EQ(counter(output, "reports_from_disallowed_source"), 1u) << output;
  EXPECT_EQ(counter(output, "servers_registered"), 1u) << output;
  EXPECT_EQ(counter(output, "servers_draining"), 0u) << output;
  EXPECT_EQ(output.find("server 1 leaving"), std::string::npos) << output;
  std::remove(key_path.c_str());
  std::remove(config_path.c_str());
}

// Several balancers share the listen (service) address; each has its own control address,
// where the servers report. 127.0.0.2 stands for a balancer's unicast address.
TEST_F(ControlPlaneTest, ControlAddressSeparatesTheControlPortFromTheListenAddress) {
  start_lb({"--control-address", "127.0.0.2"});
  ASSERT_EQ(control_.rfind("127.0.0.2:", 0), 0u) << control_;
  ASSERT_EQ(target_.rfind("127.0.0.1:", 0), 0u) << target_;
  start_server(5);
  ASSERT_EQ(wait_for_events(" registered at ", 1), std::set<uint32_t>{5}) << lb_->output();
  const auto summary =
      run_client({"--concurrency", "2", "--requests", "100", "--timeout-ms", "2000"});
  EXPECT_EQ(summary["answered"], 100) << summary.dump();
  EXPECT_EQ(summary["servers"].value("5", 0), 100) << summary.dump();
  stop_lb();
}

TEST_F(ControlPlaneTest, ReportsOverIpv6) {
  const int probe = testing::open_udp_socket(testing::any_port("::1"));
  if (probe < 0) GTEST_SKIP() << "no IPv6 loopback";
  close(probe);
  start_lb({}, "[::1]:0");
  ASSERT_EQ(control_.rfind("[::1]:", 0), 0u) << control_;
  start_server(4, {}, "::1");
  ASSERT_EQ(wait_for_events(" registered at ", 1), std::set<uint32_t>{4}) << lb_->output();
  const auto summary = run_client({"--concurrency", "2", "--requests", "100", "--timeout-ms", "2000"});
  EXPECT_EQ(summary["answered"], 100) << summary.dump();
  EXPECT_EQ(summary["servers"].value("4", 0), 100) << summary.dump();
  stop_lb();
}

}  // namespace
}  // namespace shortline

// Scaling with balancers on several hosts, in network namespaces the test builds and
// removes (issue 10, item 3 across hosts): namespace b0 is the controller's host
// (shortline-controller, its own shortline-lb and the servers it starts, all on b0's
// unicast address), b1 another balancer host whose shortline-lb sends its ScaleRequests to
// the controller at that address, signed with the shared key. Under load through b1 alone,
// b1 asks for a server; the controller starts it, and it reports to both balancers, so
// that b1 sends it traffic.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "child_process.h"
#include "dataplane/kernel_probe.h"
#include "netns_topology.h"
#include "output_numbers.h"

namespace shortline {
namespace {

using namespace std::chrono_literals;
using testing::ChildProcess;
using testing::NetnsTopology;
using testing::number_after;

const std::string kBin = SHORTLINE_BIN_DIR;
constexpr int kControlPort = 6000;
constexpr int kServicePort = 7000;
constexpr int kControllerPort = 55000;
constexpr int kFirstServerPort = 7101;

class ScaleNetnsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const auto missing = probe_kernel_features(); !missing.empty())
      GTEST_SKIP() << "kernel lacks io_uring features: " << missing;
    topology_ = std::make_unique<NetnsTopology>(2);
    ASSERT_EQ(topology_->error(), "") << "could not build the namespaces";
    dir_ = ::testing::TempDir() + "/shortline_scale_netns_" + std::to_string(getpid());
    std::filesystem::create_directories(dir_);
    std::ofstream(dir_ + "/key") << std::string(64, 'b') << "\n";
  }

  void TearDown() override {
    balancer_.reset();
    if (controller_) {
      controller_->signal(SIGTERM);
      EXPECT_EQ(controller_->wait_exit(40s), 0) << controller_->output();
      controller_.reset();
    }
    topology_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  std::string host(int balancer) const { return topology_->addresses().balancer(balancer); }

  // The load_balancer keys both balancers share: reports from the test network, signed.
  std::string common_balancer_keys(int balancer) const {
    return R"("server_side_port": )" + std::to_string(kControlPort) +
           R"(, "client_side_port": )" + std::to_string(kServicePort) +
           R"(, "workers": 1, "admin_enabled": false, "control_address": ")" + host(balancer) +
           R"(", "control_allowed_sources": [")" + topology_->addresses().network() +
           R"("], "auth_key_file": ")" + dir_ + R"(/key", "min_servers": 1,
           "max_servers_running": 3, "report_interval_ms": 20, "missed_reports": 25)";
  }

  std::string controller_keys() const {
    return R"("controller": {"address": ")" + host(0) + R"(", "port": )" +
           std::to_string(kControllerPort) + R"(, "server_host": ")" + host(0) +
           R"(", "server_service_ms": 10, "balancers": [")" + host(1) + ":" +
           std::to_string(kControlPort) + R"("]})";
  }

  // The controller's host: its own balancer never asks for servers (hold of a day).
  void start_controller() {
    const std::string path = dir_ + "/controller.json";
    std::ofstream(path) << R"({"server": {"count": "1", "port_range_start": ")"
                        << kFirstServerPort << R"(", "port_range_end": ")"
                        << kFirstServerPort + 15 << R"(", "start_id": "0"},
        "client": {"count": 0}, "load_balancer": {)"
                        << common_balancer_keys(0)
                        << R"(, "scale_up_hold_ms": 86400000, "scale_down_idle_ms": 86400000}, )"
                        << controller_keys() << "}";
    controller_ = std::make_unique<ChildProcess>(topology_->in(
        topology_->balancer(0), {kBin + "/shortline-controller", "--config", path, "--log-dir",
                                 dir_ + "/logs0", "--bin-dir", kBin}));
    ASSERT_TRUE(controller_->wait_for_line("listening for ScaleRequests on " + host(0), 60s))
        << controller_->output();
  }

  // The other host's balancer: asks for a server once its queue stays above 5.
  void start_other_balancer() {
    const std::string path = dir_ + "/balancer1.json";
    std::ofstream(path) << R"({"load_balancer": {)" << common_balancer_keys(1)
                        << R"(, "server_scaling_threshold": 5, "scale_up_hold_ms": 200,
        "scale_down_idle_ms": 86400000, "scale_cooldown_ms": 500}, )"
                        << controller_keys() << "}";
    balancer_ = std::make_unique<ChildProcess>(topology_->in(
        topology_->balancer(1), {kBin + "/shortline-lb", "--config", path, "--log-dir",
                                 dir_ + "/logs1"}));
    ASSERT_TRUE(balancer_->wait_for_line("listening on ", 30s)) << balancer_->output();
  }

  // shortline-client inside b1 against b1's balancer; returns it running.
  std::unique_ptr<ChildProcess> client(int rate, int seconds) const {
    return std::make_unique<ChildProcess>(topology_->in(
        topology_->balancer(1),
        {kBin + "/shortline-client", "--target", "127.0.0.1:" + std::to_string(kServicePort),
         "--rate", std::to_string(rate), "--duration", std::to_string(seconds), "--timeout-ms",
         "2000", "--retries", "3", "--id", "1000", "--json", "--log-dir", dir_ + "/logs1"}));
  }

  std::unique_ptr<NetnsTopology> topology_;
  std::unique_ptr<ChildProcess> controller_;
  std::unique_ptr<ChildProcess> balancer_;
  std::string dir_;
};

TEST_F(ScaleNetnsTest, ABalancerOnAnotherHostGetsAServerFromTheController) {
  ASSERT_NO_FATAL_FAILURE(start_controller());
  ASSERT_NO_FATAL_FAILURE(start_other_balancer());
  // Server 0 reports to b1 across the router: a few requests there are answered.
  auto warm_up = client(20, 1);
  ASSERT_EQ(warm_up->wait_exit(60s), 0) << warm_up->output() << balancer_->output();
  // One server serves about 100 requests/s (10 ms each): 250/s keeps b1's queue high.
  auto load = client(250, 4);
  ASSERT_TRUE(controller_->wait_for_line("added server 1 on " + host(0), 60s))
      << controller_->output() << balancer_->output();
  ASSERT_EQ(load->wait_exit(60s), 0) << load->output();
  // The new server reported to b1 too and answered part of its load.
  EXPECT_GT(number_after(load->output(), "\"1\":"), 0) << load->output();
  balancer_->signal(SIGTERM);
  ASSERT_EQ(balancer_->wait_exit(30s), 0) << balancer_->output();
  EXPECT_GT(number_after(balancer_->output(), "  scale_requests_sent "), 0) << balancer_->output();
  EXPECT_NE(balancer_->output().find("scale requests to " + host(0) + ":"), std::string::npos)
      << balancer_->output();
}

}  // namespace
}  // namespace shortline

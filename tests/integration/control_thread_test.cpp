// The control thread in process, next to a real Balancer: reports sent over loopback
// register a server that then takes traffic, status() is read from another thread while the
// control thread works (TSan checks the locking), silence turns the server DOWN, another
// report brings it back, and LEAVING removes it.
#include "control/control_thread.h"

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <nlohmann/json.hpp>
#include <thread>

#include "dataplane/kernel_probe.h"
#include "udp_test_support.h"

namespace shortline {
namespace {

using namespace std::chrono_literals;

class ControlThreadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const auto missing = probe_kernel_features(); !missing.empty())
      GTEST_SKIP() << "kernel lacks io_uring features: " << missing;
    DataplaneConfig dataplane;
    dataplane.listen = *NetAddress::parse("127.0.0.1:0");
    dataplane.workers = 1;
    dataplane.buffers_per_worker = 256;
    dataplane.max_servers = 8;
    dataplane.fail_open = fail_open_;
    balancer_ = std::make_unique<Balancer>(dataplane);
    ASSERT_EQ(balancer_->start(), "");
    ControlThreadConfig config;
    config.bind = *NetAddress::parse("127.0.0.1:0");
    config.scale.controller_port = 0;
    control_ = std::make_unique<ControlThread>(*balancer_, config);
    ASSERT_EQ(control_->start(), "");
    ASSERT_NE(control_->control_address().port(), 0);
  }
  void TearDown() override {
    if (control_) control_->stop();
    if (balancer_) {
      balancer_->stop_receiving();
      balancer_->join();
    }
  }

  void report(wire::ServerState state = wire::ServerState::up) {
    wire::ServerReport r;
    r.server_id = 5;
    r.address = echo_.address();
    r.state = state;
    r.sequence = ++sequence_;
    r.service_time_mean_us = 100;
    std::array<uint8_t, wire::kControlMessageBytesMax> buffer{};
    const std::size_t size = wire::encode(r, buffer);
    ASSERT_TRUE(reporter_.send(control_->control_address(),
                               std::string(reinterpret_cast<const char*>(buffer.data()), size)));
  }

  std::string state_of_server() const {
    const auto status = control_->status();
    return status.servers.empty() ? "" : status.servers[0].state;
  }

  // The one server registers by report, then goes silent: DOWN, and no other is UP.
  void register_then_fall_silent() {
    EXPECT_TRUE(testing::wait_until([&] {
      report();
      return state_of_server() == "up";
    })) << to_json(control_->status());
    EXPECT_TRUE(testing::wait_until([&] { return state_of_server() == "down"; }));
  }

  [[nodiscard]] uint64_t dataplane_counter(Counter counter) const {
    return control_->status().dataplane.values[static_cast<std::size_t>(counter)];
  }

  bool fail_open_ = true;  // set by a fixture's constructor, read by SetUp
  testing::EchoServer echo_{"127.0.0.1"};
  testing::Client reporter_{"127.0.0.1"};
  std::atomic<uint64_t> sequence_{0};
  std::unique_ptr<Balancer> balancer_;
  std::unique_ptr<ControlThread> control_;
};

TEST_F(ControlThreadTest, RegistersServesGoesDownComesBackAndLeaves) {
  // A reader hammers status() from another thread throughout.
  std::atomic<bool> stop_reader{false};
  std::atomic<uint64_t> reads{0};
  std::thread reader([&] {
    while (!stop_reader.load()) {
      const auto json = nlohmann::json::parse(to_json(control_->status()));
      (void)to_prometheus(control_->status());
      if (json.contains("servers")) ++reads;
    }
  });
  EXPECT_TRUE(testing::wait_until([&] {
    report();
    return state_of_server() == "up";
  })) << to_json(control_->status());

  // Reports every 2 ms while requests flow, as a real server would.
  std::atomic<bool> stop_reporting{false};
  std::thread keep_alive([&] {
    for (int i = 0; i < 100'000 && !stop_reporting.load(); ++i) {
      report();
      std::this_thread::sleep_for(2ms);  // pacing, not waiting for a condition
    }
  });
  testing::Client client("127.0.0.1");
  for (int i = 0; i < 10; ++i) {  // no ASSERT here: keep_alive must be joined
    EXPECT_TRUE(client.send(balancer_->listen_address(), "ping " + std::to_string(i)));
    const auto reply = client.receive(10s);
    EXPECT_TRUE(reply) << i;
    if (!reply) break;
    EXPECT_EQ(reply->payload, "ping " + std::to_string(i));
  }
  stop_reporting = true;
  keep_alive.join();
  const auto status = control_->status();
  ASSERT_EQ(status.servers.size(), 1u);
  EXPECT_EQ(status.servers[0].id, 5u);
  EXPECT_EQ(status.servers[0].replies, 10u);
  EXPECT_EQ(status.servers[0].address, echo_.address().to_string());

  // Silence: DOWN within the timeout (20 ms here), then back UP with the next report.
  EXPECT_TRUE(testing::wait_until([&] { return state_of_server() == "down"; }));
  EXPECT_TRUE(testing::wait_until([&] {
    report();
    return state_of_server() == "up";
  }));
  EXPECT_GE(control_->counter(ControlCounter::servers_down_silent), 1u);
  EXPECT_GE(control_->counter(ControlCounter::servers_up_again), 1u);

  report(wire::ServerState::leaving);
  EXPECT_TRUE(testing::wait_until([&] { return control_->status().servers.empty(); }));
  EXPECT_EQ(control_->counter(ControlCounter::servers_removed), 1u);
  EXPECT_TRUE(balancer_->servers().members().empty());
  stop_reader = true;
  reader.join();
  EXPECT_GT(reads.load(), 0u);
}

// fail_open: with no server UP, a server DOWN only for silence still takes the requests
// (its data path works; only its reports stopped), and each one is counted.
TEST_F(ControlThreadTest, WithNoServerUpASilentServerStillAnswers) {
  register_then_fall_silent();
  testing::Client client("127.0.0.1");
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(client.send(balancer_->listen_address(), "still there " + std::to_string(i)));
    const auto reply = client.receive(10s);
    ASSERT_TRUE(reply) << i << ": " << to_json(control_->status());
    EXPECT_EQ(reply->payload, "still there " + std::to_string(i));
  }
  EXPECT_EQ(state_of_server(), "down");
  EXPECT_EQ(dataplane_counter(Counter::requests_fail_open), 5u);
  EXPECT_EQ(dataplane_counter(Counter::drop_no_server), 0u);
}

class ControlThreadFailClosedTest : public ControlThreadTest {
 protected:
  ControlThreadFailClosedTest() { fail_open_ = false; }
};

TEST_F(ControlThreadFailClosedTest, WithFailOpenOffASilentServerGetsNothing) {
  register_then_fall_silent();
  testing::Client client("127.0.0.1");
  ASSERT_TRUE(client.send(balancer_->listen_address(), "nobody"));
  EXPECT_TRUE(testing::wait_until([&] { return dataplane_counter(Counter::drop_no_server) == 1; }));
  EXPECT_FALSE(client.receive(200ms)) << "answered with fail_open off";
  EXPECT_EQ(dataplane_counter(Counter::requests_fail_open), 0u);
}

}  // namespace
}  // namespace shortline

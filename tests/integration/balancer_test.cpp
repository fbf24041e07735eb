// The data plane end to end on loopback, IPv4 and IPv6: a Balancer in this process in
// front of echo servers on threads, checked through replies, server hits and counters.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <set>
#include <thread>

#include "dataplane/balancer.h"
#include "dataplane/kernel_probe.h"
#include "udp_test_support.h"

namespace shortline {
namespace {

using testing::Client;
using testing::EchoServer;
using testing::wait_until;

class BalancerTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (const auto missing = probe_kernel_features(); !missing.empty())
      GTEST_SKIP() << "kernel lacks io_uring features: " << missing;
    Client probe(host());
    if (!testing::any_port(host()).length || !EchoServer(host()).ok())
      GTEST_SKIP() << "cannot bind " << host() << " (no IPv6 on loopback?)";
  }

  [[nodiscard]] const std::string& host() const { return GetParam(); }

  void add_servers(int count) {
    for (int i = 0; i < count; ++i) servers_.push_back(std::make_unique<EchoServer>(host()));
  }

  DataplaneConfig base_config() {
    DataplaneConfig config;
    config.listen = testing::any_port(host());
    config.workers = 2;
    config.max_sessions = 1024;
    config.buffers_per_worker = 512;
    config.request_timeout_ms = 5000;
    for (const auto& server : servers_) config.backends.push_back({server->address(), 1});
    return config;
  }

  void start(const DataplaneConfig& config) {
    balancer_ = std::make_unique<Balancer>(config);
    ASSERT_EQ(balancer_->start(), "");
  }

  [[nodiscard]] const NetAddress& target() const { return balancer_->listen_address(); }
  [[nodiscard]] StatsTotals totals() const { return balancer_->totals(); }

  // Sends count requests through one client, up to window outstanding; returns replies.
  int exchange(Client& client, int count, int window, const std::string& tag) {
    int sent = 0;
    int answered = 0;
    while (sent < std::min(window, count)) client.send(target(), tag + std::to_string(sent++));
    while (answered < count) {
      if (!client.receive()) break;
      ++answered;
      if (sent < count) client.send(target(), tag + std::to_string(sent++));
    }
    return answered;
  }

  int64_t in_flight_total() {
    int64_t total = 0;
    for (const auto& member : balancer_->servers().members())
      total += balancer_->servers().slot(member.slot).in_flight.load();
    return total;
  }

  std::vector<std::unique_ptr<EchoServer>> servers_;
  std::unique_ptr<Balancer> balancer_;
};

TEST_P(BalancerTest, AnswersEveryRequestExactlyOnceFromTheListenAddress) {
  add_servers(3);
  start(base_config());
  constexpr int kClients = 4;
  constexpr int kRequests = 100;
  std::vector<std::unique_ptr<Client>> clients;
  for (int c = 0; c < kClients; ++c) clients.push_back(std::make_unique<Client>(host()));
  for (int c = 0; c < kClients; ++c) {
    for (int r = 0; r < kRequests; ++r)
      ASSERT_TRUE(clients[c]->send(target(), "c" + std::to_string(c) + "-" + std::to_string(r)));
  }
  for (int c = 0; c < kClients; ++c) {
    std::set<std::string> seen;
    for (int r = 0; r < kRequests; ++r) {
      auto reply = clients[c]->receive();
      ASSERT_TRUE(reply) << "client " << c << " got only " << seen.size() << " replies";
      EXPECT_EQ(reply->from, target());
      EXPECT_TRUE(seen.insert(reply->payload).second) << "duplicate " << reply->payload;
      EXPECT_EQ(reply->payload.rfind("c" + std::to_string(c) + "-", 0), 0u);
    }
  }
  ASSERT_TRUE(wait_until([&] { return totals()[Counter::replies_forwarded] == kClients * kRequests; }));
  for (auto& client : clients) EXPECT_FALSE(client->receive(std::chrono::milliseconds(50)));
  EXPECT_EQ(totals()[Counter::requests_forwarded], uint64_t{kClients * kRequests});
  EXPECT_EQ(totals().drops(), 0u);
  EXPECT_TRUE(wait_until([&] { return in_flight_total() == 0; }));
}

TEST_P(BalancerTest, PacketAffinitySpreadsOneClientOverAllServers) {
  add_servers(3);
  start(base_config());
  Client client(host());
  ASSERT_EQ(exchange(client, 60, 1, "p"), 60);
  for (const auto& server : servers_) EXPECT_GT(server->received(), 0u);
}

TEST_P(BalancerTest, FlowAffinityKeepsOneClientOnOneServer) {
  add_servers(3);
  auto config = base_config();
  config.affinity = Affinity::flow;
  start(config);
  Client client(host());
  ASSERT_EQ(exchange(client, 30, 4, "f"), 30);
  int servers_used = 0;
  for (const auto& server : servers_) {
    if (server->received() == 0) continue;
    ++servers_used;
    EXPECT_EQ(server->received(), 30u);
  }
  EXPECT_EQ(servers_used, 1);
}

TEST_P(BalancerTest, ShortestQueueSendsASlowServerFarFewerRequestsThanRoundRobin) {
  add_servers(3);
  servers_[0]->set_delay_ms(20);
  uint64_t counts[2] = {};
  const Policy policies[2] = {Policy::shortest_queue, Policy::round_robin};
  for (int p = 0; p < 2; ++p) {
    const uint64_t before = servers_[0]->received();
    auto config = base_config();
    config.policy = policies[p];
    start(config);
    Client client(host());
    ASSERT_EQ(exchange(client, 150, 12, "s"), 150);
    counts[p] = servers_[0]->received() - before;
    balancer_.reset();
  }
  // Round-robin gives the slow server about a third (~50); shortest-queue, which sees
  // its requests pile up in flight, only a few.
  EXPECT_GE(counts[1], 40u);
  EXPECT_LT(counts[0] * 3, counts[1]) << "shortest-queue " << counts[0] << " round-robin "
                                      << counts[1];
}

TEST_P(BalancerTest, SilentServerCostsOnlyItsTimedOutRequests) {
  add_servers(3);
  servers_[1]->set_silent(true);
  auto config = base_config();
  config.policy = Policy::round_robin;
  config.request_timeout_ms = 300;
  start(config);
  Client client(host());
  constexpr int kRequests = 30;
  for (int r = 0; r < kRequests; ++r) ASSERT_TRUE(client.send(target(), "t" + std::to_string(r)));
  ASSERT_TRUE(wait_until([&] { return totals()[Counter::requests_forwarded] == kRequests; }));
  // Forwarded is not yet read: wait until every server thread has seen its share.
  ASSERT_TRUE(wait_until([&] {
    uint64_t seen = 0;
    for (const auto& server : servers_) seen += server->received();
    return seen == kRequests;
  }));
  const uint64_t lost = servers_[1]->received();
  ASSERT_GT(lost, 0u);
  int answered = 0;
  while (answered < kRequests - static_cast<int>(lost) && client.receive()) ++answered;
  EXPECT_EQ(answered, kRequests - static_cast<int>(lost));
  ASSERT_TRUE(wait_until([&] { return totals()[Counter::requests_timed_out] == lost; }));
  EXPECT_TRUE(wait_until([&] { return in_flight_total() == 0; }));
  EXPECT_EQ(totals()[Counter::replies_forwarded], uint64_t{kRequests} - lost);
}

TEST_P(BalancerTest, EmptyMaximumAndOversizeDatagramsAreHandledAndCounted) {
  add_servers(1);
  auto config = base_config();
  config.max_datagram_bytes = 1200;
  start(config);
  Client client(host());
  ASSERT_TRUE(client.send(target(), ""));
  auto empty = client.receive();
  ASSERT_TRUE(empty);
  EXPECT_EQ(empty->payload, "");
  const std::string largest(1200, 'x');
  ASSERT_TRUE(client.send(target(), largest));
  auto reply = client.receive();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->payload, largest);
  ASSERT_TRUE(client.send(target(), std::string(1201, 'y')));
  ASSERT_TRUE(wait_until([&] { return totals()[Counter::drop_datagram_oversize] == 1; }));
  EXPECT_EQ(servers_[0]->received(), 2u);
  EXPECT_EQ(totals()[Counter::requests_received], 3u);
  EXPECT_EQ(totals().drops(), 1u);
}

TEST_P(BalancerTest, DrainDeliversRepliesOutstandingWhenStopped) {
  add_servers(1);
  servers_[0]->set_delay_ms(100);  // replies come well after the stop
  auto config = base_config();
  config.drain_timeout_ms = 20000;
  start(config);
  Client client(host());
  constexpr int kRequests = 5;
  for (int r = 0; r < kRequests; ++r) ASSERT_TRUE(client.send(target(), "d" + std::to_string(r)));
  ASSERT_TRUE(wait_until([&] { return totals()[Counter::requests_forwarded] == kRequests; }));
  balancer_->stop_receiving();
  std::thread joiner([&] { balancer_->join(); });
  int answered = 0;
  while (answered < kRequests && client.receive()) ++answered;
  joiner.join();
  EXPECT_EQ(answered, kRequests);
  EXPECT_EQ(totals()[Counter::replies_forwarded], uint64_t{kRequests});
  EXPECT_EQ(totals()[Counter::requests_timed_out], 0u);
}

TEST_P(BalancerTest, NoServerIsACountedDrop) {
  start(base_config());  // no backends at all
  Client client(host());
  ASSERT_TRUE(client.send(target(), "nobody home"));
  ASSERT_TRUE(wait_until([&] { return totals()[Counter::drop_no_server] == 1; }));
}

INSTANTIATE_TEST_SUITE_P(Loopback, BalancerTest, ::testing::Values("127.0.0.1", "::1"),
                         [](const auto& param_info) { return param_info.param == "::1" ? "IPv6" : "IPv4"; });

}  // namespace
}  // namespace shortline

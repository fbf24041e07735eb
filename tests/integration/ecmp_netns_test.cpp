// Several balancers behind an ECMP route, in network namespaces the test builds and removes
// (issue 10, item 6): a client namespace, a router with a static multipath route (L4 hash)
// to the service address through three balancer namespaces (in IPv4, and again in IPv6),
// each running shortline-lb on the service address held on its lo, and a server namespace
// whose shortline-servers are every balancer's static backends and report to every
// balancer at its unicast address.
// Checks: every request answered and every balancer carrying traffic; a balancer's loss
// (SIGKILL, then its nexthop withdrawn as a routing daemon would) costing at most what it
// held, and nothing with one client retry; with the consistent-hash policy, each flow
// keeping its server through that loss; and BIRD 2 (where the route comes from a routing
// daemon) routing through every healthy balancer and withdrawing one that fails its check.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <thread>

#include "child_process.h"
#include "dataplane/kernel_probe.h"
#include "netns_bird.h"
#include "netns_topology.h"

namespace shortline {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using testing::ChildProcess;
using testing::BirdRouting;
using testing::IpFamily;
using testing::NetnsTopology;

const std::string kBin = SHORTLINE_BIN_DIR;
constexpr int kBalancers = 3;
constexpr int kServers = 3;
constexpr int kServicePort = 7000;
constexpr int kControlPort = 6000;
constexpr int kFirstServerPort = 7101;
constexpr int kAdminPort = 6080;  // each balancer's, on its own namespace's loopback
constexpr int kProbeRequests = 5;  // sent to each balancer from inside its own namespace
constexpr int kFlows = 64;  // many source ports, so that the L4 hash reaches every balancer
// Each request spends this long at its server (a sleep, 32 per server at once): at 1000
// requests/s a balancer holds about 10 at any moment, so that its loss surely costs some.
constexpr int kServiceMs = 30;

// What ecmp_netns_client printed last: "ecmp_client: requests N answered A lost L ...".
struct ClientSummary {
  uint64_t requests = 0, answered = 0, lost = 0, retries = 0, flows_on_two_servers = 0;
  uint64_t servers = 0;
  double max_ms = 0;  // the slowest answered request, from its first attempt
};

double field(const std::string& line, const std::string& name) {
  const auto at = line.find(" " + name + " ");
  if (at == std::string::npos) return -1;
  return std::stod(line.substr(at + name.size() + 2));
}

ClientSummary parse_summary(const std::string& line) {
  const auto count = [&](const std::string& name) {
    const double value = field(line, name);
    return value < 0 ? UINT64_MAX : static_cast<uint64_t>(value);
  };
  return {count("requests"), count("answered"), count("lost"), count("retries"),
          count("flows_on_two_servers"), count("servers"), field(line, "max_ms")};
}

// The value of a counter line "  name   value" in shortline-lb's exit output.
uint64_t counter(const std::string& output, const std::string& name) {
  const auto at = output.find("  " + name + " ");
  if (at == std::string::npos) return UINT64_MAX;
  return std::stoull(output.substr(output.find_first_not_of(' ', at + 2 + name.size())));
}

struct Load {
  int flows = kFlows;
  int requests = 1500;
  int rate_per_s = 750;
  // Generous: under TSan on a busy 2-core machine replies stall for up to ~0.6 s at times,
  // and a stalled reply must not count as lost.
  int timeout_ms = 2000;
  int retries = 0;
  int progress_at = 0;  // the client says when this many are out: the moment to strike
};

class EcmpNetnsFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const auto missing = probe_kernel_features(); !missing.empty())
      GTEST_SKIP() << "kernel lacks io_uring features: " << missing;
    topology_ = std::make_unique<NetnsTopology>(kBalancers, static_route_, family_);
    ASSERT_EQ(topology_->error(), "") << "could not build the namespaces";
    ASSERT_NO_FATAL_FAILURE(write_files());
    ASSERT_NO_FATAL_FAILURE(start_servers());
  }

  void TearDown() override {
    balancers_.clear();  // the processes go before their namespaces
    servers_.clear();
    topology_.reset();
    std::error_code ignored;
    for (const auto& path : {key_file_, config_file_, log_dir_})
      if (!path.empty()) std::filesystem::remove_all(path, ignored);
  }

  // A shared report key (test-only) and the balancers' config: reports only from the test
  // network. Reports every 20 ms, DOWN after 25 missed: the default 2 ms x 3 would let a
  // scheduling hiccup on a busy 2-core machine mark a server down mid-test.
  void write_files() {
    const std::string dir = ::testing::TempDir();
    const std::string tag = "shortline_ecmp_" + std::to_string(getpid());
    key_file_ = dir + "/" + tag + ".key";
    config_file_ = dir + "/" + tag + ".json";
    log_dir_ = dir + "/" + tag + "_logs";
    std::ofstream(key_file_) << std::string(64, 'a') << "\n";
    std::ofstream(config_file_) << R"({"load_balancer": {"control_allowed_sources": [")"
                                << addresses().network() << R"("], "auth_key_file": ")"
                                << key_file_
                                << R"(", "report_interval_ms": 20, "missed_reports": 25}})"
                                << "\n";
    ASSERT_TRUE(std::ifstream(config_file_).good()) << config_file_;
  }

  [[nodiscard]] const testing::NetnsAddresses& addresses() const {
    return topology_->addresses();
  }

  std::string server_address(int index) const {
    return addresses().with_port(addresses().server(), kFirstServerPort + index);
  }

  void start_servers() {
    for (int s = 0; s < kServers; ++s) {
      std::vector<std::string> argv = {
          kBin + "/shortline-server", "--no-config", "--id", std::to_string(s + 1),
          "--port", std::to_string(kFirstServerPort + s),
          "--listen-address", addresses().server(),
          "--service-ms", std::to_string(kServiceMs), "--workers", "32",
          "--report-interval-ms", "20", "--auth-key-file", key_file_, "--log-dir", log_dir_};
      for (int b = 0; b < kBalancers; ++b)
        argv.insert(argv.end(),
                    {"--balancer", addresses().with_port(addresses().balancer(b), kControlPort)});
      servers_.push_back(std::make_unique<ChildProcess>(topology_->in(topology_->server(), argv)));
      ASSERT_TRUE(servers_.back()->wait_for_line("listening on ")) << servers_.back()->output();
    }
  }

  // shortline-lb in every balancer namespace on the wildcard address (replies leave from
  // the address the client sent to, the service address), the control port reachable at
  // the balancer's own address. Returns its output when a balancer did not start.
  std::optional<std::string> start_balancers(const std::vector<std::string>& flags,
                                             const std::string& admin = "off") {
    std::string backends;
    for (int s = 0; s < kServers; ++s)
      backends.append(s == 0 ? "" : ",").append(server_address(s));
    for (int b = 0; b < kBalancers; ++b) {
      std::vector<std::string> argv = {
          kBin + "/shortline-lb", "--config", config_file_, "--listen",
          addresses().any(kServicePort), "--control-port",
          std::to_string(kControlPort), "--controller-port", "0", "--admin", admin,
          "--workers", "1", "--max-sessions", "1024", "--backend", backends};
      argv.insert(argv.end(), flags.begin(), flags.end());
      balancers_.push_back(
          std::make_unique<ChildProcess>(topology_->in(topology_->balancer(b), argv)));
      if (!balancers_.back()->wait_for_line("listening on ")) return balancers_.back()->output();
    }
    return std::nullopt;
  }

  std::vector<std::string> client_argv(const Load& load) const {
    return {kBin + "/ecmp_netns_client", "--target",
            addresses().with_port(addresses().service(), kServicePort),
            "--flows", std::to_string(load.flows), "--requests", std::to_string(load.requests),
            "--rate", std::to_string(load.rate_per_s), "--timeout-ms",
            std::to_string(load.timeout_ms), "--retries", std::to_string(load.retries),
            "--progress-at", std::to_string(load.progress_at)};
  }

  // Each balancer answers from its own namespace (its lo holds the service address): the
  // whole path to the servers works before the load starts. Then, where the route is
  // static, the client's path through the router.
  void expect_each_balancer_answers() {
    const Load probe{.flows = 1, .requests = kProbeRequests, .rate_per_s = 100,
                     .timeout_ms = 1000, .retries = 2};
    const auto argv = client_argv(probe);
    for (int b = 0; b < kBalancers; ++b) {
      ChildProcess client(topology_->in(topology_->balancer(b), argv));
      const auto line = client.wait_for_line("ecmp_client: requests", 30s);
      ASSERT_TRUE(line) << "balancer " << b << ": " << client.output();
      ASSERT_EQ(parse_summary(*line).answered, static_cast<uint64_t>(kProbeRequests))
          << "balancer " << b << ": " << *line << "\n"
          << balancers_[static_cast<size_t>(b)]->output();
    }
    if (static_route_) expect_client_path_answers();
  }

  // The client's path through the router answers, with retries: on a fresh IPv6 link the
  // router ignored the client's first neighbour solicitation (the next came a second
  // later), and the kernel held, then dropped, what the client sent meanwhile (a third of a
  // load's requests). Resolved here, before the load.
  void expect_client_path_answers() {
    const Load probe{.flows = 1, .requests = kProbeRequests, .rate_per_s = 100,
                     .timeout_ms = 1000, .retries = 2};
    ChildProcess client(topology_->in(topology_->client(), client_argv(probe)));
    const auto line = client.wait_for_line("ecmp_client: requests", 30s);
    ASSERT_TRUE(line) << "from the client namespace: " << client.output();
    ASSERT_EQ(parse_summary(*line).answered, static_cast<uint64_t>(kProbeRequests))
        << "from the client namespace: " << *line;
  }

  std::unique_ptr<ChildProcess> start_client(const Load& load) const {
    return std::make_unique<ChildProcess>(topology_->in(topology_->client(), client_argv(load)));
  }

  static ClientSummary finish(ChildProcess& client) {
    const auto line = client.wait_for_line("ecmp_client: requests", 60s);
    EXPECT_TRUE(line) << client.output();
    EXPECT_EQ(client.wait_exit(10s), 0) << client.output();
    if (line) std::printf("%s\n", line->c_str());  // the numbers, for the log
    return line ? parse_summary(*line) : ClientSummary{};
  }

  // SIGKILL for balancer `lost`, then its nexthop withdrawn; returns the seconds between
  // the two, the window in which the router still sent it flows.
  double lose_balancer(int lost) {
    const auto killed_at = Clock::now();
    balancers_[static_cast<size_t>(lost)]->signal(SIGKILL);
    std::vector<int> others;
    for (int b = 0; b < kBalancers; ++b)
      if (b != lost) others.push_back(b);
    EXPECT_EQ(topology_->route_through(others), "");
    const double gap_s = std::chrono::duration<double>(Clock::now() - killed_at).count();
    EXPECT_EQ(balancers_[static_cast<size_t>(lost)]->wait_exit(10s), -1);  // died of SIGKILL
    return gap_s;
  }

  // SIGTERM for every balancer still running; their exit output, "" for the lost one.
  std::vector<std::string> stop_balancers(int lost = -1) {
    std::vector<std::string> outputs;
    for (int b = 0; b < kBalancers; ++b) {
      if (b == lost) {
        outputs.emplace_back();
        continue;
      }
      auto& balancer = *balancers_[static_cast<size_t>(b)];
      balancer.signal(SIGTERM);
      EXPECT_EQ(balancer.wait_exit(20s), 0) << balancer.output();
      outputs.push_back(balancer.output());
    }
    return outputs;
  }

  // Every surviving balancer took at least one client flow (beyond the probe sent from its
  // own namespace), heard its servers' reports, and dropped nothing.
  static void expect_every_balancer_served(const std::vector<std::string>& outputs,
                                           const Load& load) {
    const auto one_flow = static_cast<uint64_t>(kProbeRequests + load.requests / load.flows);
    for (size_t b = 0; b < outputs.size(); ++b) {
      if (outputs[b].empty()) continue;
      const uint64_t received = counter(outputs[b], "requests_received");
      EXPECT_NE(received, UINT64_MAX) << outputs[b];
      EXPECT_GE(received, one_flow) << "balancer " << b << " got no flow:\n" << outputs[b];
      EXPECT_GT(counter(outputs[b], "reports_accepted"), 0u) << outputs[b];
      EXPECT_EQ(counter(outputs[b], "drops_total"), 0u) << outputs[b];
    }
  }

  // What could have moved a flow, from each surviving balancer's exit output.
  static std::string placement_counters(const std::vector<std::string>& outputs) {
    std::string text;
    for (size_t b = 0; b < outputs.size(); ++b) {
      if (outputs[b].empty()) continue;
      text.append("balancer ").append(std::to_string(b));
      for (const char* name : {"flows_bounded_moves", "servers_down", "sessions_expired",
                               "sessions_evicted", "requests_timed_out"})
        text.append(" ").append(name).append(" ").append(std::to_string(counter(outputs[b], name)));
      text.append("\n");
    }
    return text;
  }

  // The router's route goes through exactly `through` (in balancer order) before timeout.
  bool wait_for_route(const std::vector<int>& through, std::chrono::milliseconds timeout) const {
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      if (topology_->route_next_hops() == through) return true;
      std::this_thread::sleep_for(20ms);
    }
    return false;
  }

  bool static_route_ = true;  // false: BIRD installs the router's route (EcmpBirdTest)
  IpFamily family_ = IpFamily::v4;
  std::unique_ptr<NetnsTopology> topology_;
  std::vector<std::unique_ptr<ChildProcess>> servers_;
  std::vector<std::unique_ptr<ChildProcess>> balancers_;
  std::string key_file_, config_file_, log_dir_;
};

// The static-route tests, in each family: the same path, the same checks.
class EcmpNetnsTest : public EcmpNetnsFixture, public ::testing::WithParamInterface<IpFamily> {
 protected:
  EcmpNetnsTest() { family_ = GetParam(); }
};

std::string family_name(const ::testing::TestParamInfo<IpFamily>& family_info) {
  return family_info.param == IpFamily::v6 ? "IPv6" : "IPv4";
}

INSTANTIATE_TEST_SUITE_P(Families, EcmpNetnsTest, ::testing::Values(IpFamily::v4, IpFamily::v6),
                         family_name);

// ---- (a) every request answered; the router's L4 hash spreads flows over every balancer ----

TEST_P(EcmpNetnsTest, EveryRequestIsAnsweredAndEveryBalancerCarriesFlows) {
  const auto failed = start_balancers({});
  ASSERT_FALSE(failed) << *failed;
  ASSERT_NO_FATAL_FAILURE(expect_each_balancer_answers());
  const Load load;
  auto client = start_client(load);
  const ClientSummary summary = finish(*client);
  EXPECT_EQ(summary.answered, 1500u) << client->output();
  EXPECT_EQ(summary.servers, static_cast<uint64_t>(kServers)) << client->output();
  expect_every_balancer_served(stop_balancers(), load);
}

// ---- (b) a balancer's loss costs at most what it held, and nothing with one retry ----

// Steady traffic; when a third of it is out, balancer 1 dies and its route goes.
TEST_P(EcmpNetnsTest, LosingABalancerCostsAtMostTheRequestsItHeld) {
  const auto failed = start_balancers({});
  ASSERT_FALSE(failed) << *failed;
  ASSERT_NO_FATAL_FAILURE(expect_each_balancer_answers());
  const Load load{.requests = 3000, .rate_per_s = 1000, .progress_at = 1000};
  auto client = start_client(load);
  ASSERT_TRUE(client->wait_for_line("ecmp_client: sent 1000", 30s)) << client->output();
  const double gap_s = lose_balancer(1);
  const ClientSummary summary = finish(*client);
  // What balancer 1 held: the requests it had in flight (at most the sending rate times
  // the round trip, taken as the slowest answer seen, at least 100 ms) and those the router
  // still sent it until the route was withdrawn. It got about a third of the flows; the
  // bound takes the whole rate.
  const double round_trip_s = std::max(summary.max_ms / 1000, 0.1);
  const auto held_max = static_cast<uint64_t>(load.rate_per_s * (gap_s + round_trip_s)) + 10;
  EXPECT_LE(summary.lost, held_max) << "withdrawn " << gap_s * 1000 << " ms after the kill\n"
                                    << client->output();
  EXPECT_GT(summary.lost, 0u) << "the killed balancer held nothing: no loss was tested\n"
                              << client->output();
  EXPECT_EQ(summary.answered + summary.lost, 3000u) << client->output();
  expect_every_balancer_served(stop_balancers(1), load);
}

TEST_P(EcmpNetnsTest, WithOneRetryLosingABalancerLosesNothing) {
  const auto failed = start_balancers({});
  ASSERT_FALSE(failed) << *failed;
  ASSERT_NO_FATAL_FAILURE(expect_each_balancer_answers());
  const Load load{.requests = 3000, .rate_per_s = 1000, .retries = 1,
                  .progress_at = 1000};
  auto client = start_client(load);
  ASSERT_TRUE(client->wait_for_line("ecmp_client: sent 1000", 30s)) << client->output();
  const double gap_s = lose_balancer(1);
  // A retry goes out one timeout after its first try; the route must be gone by then.
  ASSERT_LT(gap_s * 1000, load.timeout_ms)
      << "the route was withdrawn only " << gap_s * 1000
      << " ms after the kill, later than the client's timeout";
  const ClientSummary summary = finish(*client);
  EXPECT_EQ(summary.answered, 3000u) << client->output();
  EXPECT_GT(summary.retries, 0u) << "the killed balancer held nothing: no loss was tested\n"
                                 << client->output();
  expect_every_balancer_served(stop_balancers(1), load);
}

// ---- (c) flow affinity: each flow keeps its server through the loss of a balancer ----
// The router rehashes the lost balancer's flows (and, with hash-threshold ECMP, some of
// the others') to another balancer, which must pick the same server: the consistent hash
// of issue 10 item 1 (policy "maglev"). Its load bound is off here: the bound moves a new
// flow off a server that looks hot to the balancer placing it, each balancer judging by its
// own view, so a server stalled for a moment under a sanitizer split 1 of 64 flows in
// about 1 of 20 runs at the default bound (counted in flows_bounded_moves). That is the
// bound's documented trade; what is tested here is that the placement itself agrees.

TEST_P(EcmpNetnsTest, FlowAffinityKeepsEachFlowOnItsServerThroughABalancerLoss) {
  const auto failed = start_balancers(
      {"--policy", "maglev", "--affinity", "flow", "--maglev-load-bound", "0"});
  ASSERT_FALSE(failed) << *failed;
  ASSERT_NO_FATAL_FAILURE(expect_each_balancer_answers());
  const Load load{.requests = 3000, .rate_per_s = 1000, .retries = 1,
                  .progress_at = 1000};
  auto client = start_client(load);
  ASSERT_TRUE(client->wait_for_line("ecmp_client: sent 1000", 30s)) << client->output();
  const double gap_s = lose_balancer(1);
  ASSERT_LT(gap_s * 1000, load.timeout_ms)
      << "route withdrawn " << gap_s * 1000 << " ms after the kill";
  const ClientSummary summary = finish(*client);
  const auto outputs = stop_balancers(1);
  EXPECT_EQ(summary.answered, 3000u) << client->output();
  EXPECT_EQ(summary.flows_on_two_servers, 0u) << client->output() << placement_counters(outputs);
  for (const auto& output : outputs) {
    if (!output.empty()) {
      EXPECT_EQ(counter(output, "flows_bounded_moves"), 0u) << output;
    }
  }
  EXPECT_GT(summary.servers, 1u) << "every flow on one server: no placement was tested\n"
                                 << client->output();
  expect_every_balancer_served(outputs, load);
}

// ---- (d) the route from a routing daemon: BIRD withdraws a balancer that fails its check ----
// README's deployment run for real, in each family: the router learns the service address
// over BGP from each balancer's BIRD, which announces it only while `shortline-ctl health`
// passes there.

class EcmpBirdTest : public EcmpNetnsFixture, public ::testing::WithParamInterface<IpFamily> {
 protected:
  EcmpBirdTest() {
    static_route_ = false;
    family_ = GetParam();
  }
};

INSTANTIATE_TEST_SUITE_P(Families, EcmpBirdTest, ::testing::Values(IpFamily::v4, IpFamily::v6),
                         family_name);

TEST_P(EcmpBirdTest, BirdRoutesThroughHealthyBalancersAndWithdrawsAFailedOne) {
  const std::string admin = "127.0.0.1:" + std::to_string(kAdminPort);
  const auto failed = start_balancers({}, admin);
  ASSERT_FALSE(failed) << *failed;
  ASSERT_NO_FATAL_FAILURE(expect_each_balancer_answers());
  BirdRouting bird(*topology_, kBalancers,
                   ::testing::TempDir() + "/shortline_bird_" + std::to_string(getpid()));
  ASSERT_EQ(bird.start(kBin + "/shortline-ctl", admin), "");
  ASSERT_TRUE(wait_for_route({0, 1, 2}, 60s))
      << "the router never learnt a path through every balancer\n" << bird.router_log();
  EXPECT_NE(topology_->service_route().find("proto bird"), std::string::npos)
      << topology_->service_route();
  ASSERT_NO_FATAL_FAILURE(expect_client_path_answers());
  const Load load{.requests = 3000, .rate_per_s = 1000, .retries = 1, .progress_at = 1000};
  auto client = start_client(load);
  ASSERT_TRUE(client->wait_for_line("ecmp_client: sent 1000", 30s)) << client->output();
  const auto killed_at = Clock::now();
  balancers_[1]->signal(SIGKILL);
  // The check fails (nothing answers on the admin port), BIRD withdraws, the router drops
  // that next hop: within the client's timeout, so that every retry finds a live path.
  ASSERT_TRUE(wait_for_route({0, 2}, 10s)) << "still routed through the dead balancer\n"
                                            << bird.router_log();
  const double gap_ms = std::chrono::duration<double, std::milli>(Clock::now() - killed_at).count();
  std::printf("route withdrawn %.0f ms after the kill\n", gap_ms);
  EXPECT_LT(gap_ms, load.timeout_ms);
  EXPECT_EQ(balancers_[1]->wait_exit(10s), -1);  // died of SIGKILL
  const ClientSummary summary = finish(*client);
  EXPECT_EQ(summary.answered, 3000u) << client->output();
  EXPECT_GT(summary.retries, 0u) << "the killed balancer held nothing: no loss was tested\n"
                                 << client->output();
  expect_every_balancer_served(stop_balancers(1), load);
}

}  // namespace
}  // namespace shortline

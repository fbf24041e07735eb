// Two real shortline-lb processes with the maglev policy in front of the same four echo
// servers, which they registered in opposite orders: each of 200 client flows (one socket,
// so one fixed source port, per flow) reaches the same server through both balancers, over
// IPv4 and IPv6. The servers tag their replies with their own port, so the client sees
// which one answered.
#include <gtest/gtest.h>
#include <poll.h>

#include <atomic>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <thread>

#include "child_process.h"
#include "dataplane/kernel_probe.h"
#include "udp_test_support.h"

namespace shortline {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using testing::ChildProcess;

const std::string kLb = std::string(SHORTLINE_BIN_DIR) + "/shortline-lb";
constexpr int kServers = 4;
constexpr int kFlows = 200;

// (sessions_test_support.h has these, but defines more than one test file can include.)
// "listening on 127.0.0.1:5 (..." -> "127.0.0.1:5".
std::string address_after(const std::string& line, const std::string& marker) {
  const auto start = line.find(marker) + marker.size();
  const auto end = line.find_first_of(" /\n", start);
  return line.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

// The data-plane counters the balancer prints at exit ("  name   value"), by name.
std::map<std::string, uint64_t> exit_counters(const std::string& output) {
  const auto start = output.find("shortline-lb: counters\n");
  std::map<std::string, uint64_t> counters;
  if (start == std::string::npos) return counters;
  const auto end = output.find("shortline-lb: servers", start);
  std::istringstream lines(output.substr(start, end == std::string::npos ? end : end - start));
  for (std::string line; std::getline(lines, line);) {
    std::istringstream fields(line);
    std::string name;
    uint64_t value = 0;
    if (fields >> name >> value) counters[name] = value;
  }
  return counters;
}

// Echoes each datagram with "@<its own port>" appended.
class TaggingEchoServer {
 public:
  explicit TaggingEchoServer(const std::string& host)
      : fd_(testing::open_udp_socket(testing::any_port(host))) {
    if (fd_ >= 0) address_ = testing::local_address(fd_);
    thread_ = std::thread([this] { serve(); });
  }
  ~TaggingEchoServer() {
    stop_ = true;
    thread_.join();
    if (fd_ >= 0) close(fd_);
  }
  TaggingEchoServer(const TaggingEchoServer&) = delete;
  TaggingEchoServer& operator=(const TaggingEchoServer&) = delete;

  [[nodiscard]] bool ok() const { return fd_ >= 0; }
  [[nodiscard]] const NetAddress& address() const { return address_; }
  // Stops answering, as a hung process would (its port stays open).
  void set_silent() { silent_ = true; }

 private:
  void serve() {
    char buffer[2048];
    std::string tag = "@";  // appended, not "@" + ...: gcc 12's -Wrestrict misfires on that
    tag += std::to_string(address_.port());
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (fd_ < 0 || poll(&p, 1, 20) <= 0) continue;
      sockaddr_storage from{};
      socklen_t from_length = sizeof(from);
      const ssize_t n = recvfrom(fd_, buffer, sizeof(buffer) - tag.size(), 0,
                                 reinterpret_cast<sockaddr*>(&from), &from_length);
      if (n < 0 || silent_) continue;
      std::memcpy(buffer + n, tag.data(), tag.size());
      (void)sendto(fd_, buffer, static_cast<size_t>(n) + tag.size(), 0,
                   reinterpret_cast<sockaddr*>(&from), from_length);
    }
  }

  int fd_;
  NetAddress address_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> silent_{false};
  std::thread thread_;
};

// Sends payload to `to` (up to `tries` times, waiting `wait` each) and returns the tag of
// the reply that carries it back, or "" when none came.
std::string answered_by(int fd, const NetAddress& to, const std::string& payload, int tries = 3,
                        std::chrono::milliseconds wait = 2s) {
  char buffer[2048];
  for (int attempt = 0; attempt < tries; ++attempt) {
    (void)sendto(fd, payload.data(), payload.size(), 0, to.sockaddr_ptr(), to.length);
    const auto deadline = Clock::now() + wait;
    while (Clock::now() < deadline) {
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      const ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
      if (n <= 0) continue;
      const std::string reply(buffer, static_cast<size_t>(n));
      if (reply.starts_with(payload + "@")) return reply.substr(payload.size() + 1);
    }
  }
  return "";
}

// Where one flow went through each balancer ("" = unanswered).
struct Placement {
  std::string via_first;
  std::string via_second;
};

class MaglevTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (const auto missing = probe_kernel_features(); !missing.empty())
      GTEST_SKIP() << "kernel lacks io_uring features: " << missing;
    const int probe = testing::open_udp_socket(testing::any_port(GetParam()));
    if (probe < 0) GTEST_SKIP() << "no " << GetParam() << " on this host";
    close(probe);
  }
  void TearDown() override {
    for (const int fd : clients_) close(fd);
  }

  // Four tagging servers, two balancers that list them in opposite orders, and one client
  // socket (one fixed source port) per flow, kept for the whole test.
  void start_pool(const std::vector<std::string>& lb_flags = {}) {
    std::vector<NetAddress> backends;
    for (int s = 0; s < kServers; ++s) {
      servers_.push_back(std::make_unique<TaggingEchoServer>(GetParam()));
      ASSERT_TRUE(servers_.back()->ok());
      backends.push_back(servers_.back()->address());
    }
    first_ = start_lb(backends, lb_flags);
    ASSERT_NE(first_.length, 0u);
    second_ = start_lb(std::vector<NetAddress>(backends.rbegin(), backends.rend()), lb_flags);
    ASSERT_NE(second_.length, 0u);
    for (int f = 0; f < kFlows; ++f) {
      clients_.push_back(testing::open_udp_socket(testing::any_port(GetParam())));
      ASSERT_GE(clients_.back(), 0);
    }
  }

  // A balancer with the maglev policy over `backends`, in that order; returns where it listens.
  NetAddress start_lb(const std::vector<NetAddress>& backends,
                      const std::vector<std::string>& flags) {
    const std::string host = GetParam();
    const std::string listen = host.find(':') == std::string::npos ? host + ":0" : "[" + host + "]:0";
    std::vector<std::string> argv = {kLb, "--listen", listen, "--control-port", "0",
                                     "--controller-port", "0", "--admin", "off", "--workers", "2",
                                     "--max-sessions", "1024", "--policy", "maglev",
                                     "--affinity", "flow"};
    for (const NetAddress& b : backends) argv.insert(argv.end(), {"--backend", b.to_string()});
    argv.insert(argv.end(), flags.begin(), flags.end());
    lbs_.push_back(std::make_unique<ChildProcess>(argv));
    const auto ready = lbs_.back()->wait_for_line("listening on ");
    EXPECT_TRUE(ready) << lbs_.back()->output();
    if (!ready) return NetAddress{};
    const auto table = lbs_.back()->wait_for_line("shortline-lb: maglev table ");
    EXPECT_TRUE(table) << lbs_.back()->output();
    EXPECT_NE(table.value_or("").find("131071 entries (max_servers 1024), load bound 2"),
              std::string::npos) << table.value_or("");
    return *NetAddress::parse(address_after(*ready, "listening on "));
  }

  // One request of every flow through each balancer; `round` keeps payloads unique.
  std::vector<Placement> send_flows(const std::string& round, int tries = 3,
                                    std::chrono::milliseconds wait = 2s) {
    std::vector<Placement> placed;
    for (int f = 0; f < kFlows; ++f) {
      std::string payload = round;
      payload += "-flow-";
      payload += std::to_string(f);
      const int fd = clients_[static_cast<size_t>(f)];
      placed.push_back({answered_by(fd, first_, payload + "-a", tries, wait),
                        answered_by(fd, second_, payload + "-b", tries, wait)});
    }
    return placed;
  }

  // Stops both balancers; returns their exit counters.
  std::vector<std::map<std::string, uint64_t>> stop_lbs() {
    std::vector<std::map<std::string, uint64_t>> all;
    for (auto& lb : lbs_) {
      lb->signal(SIGTERM);
      EXPECT_EQ(lb->wait_exit(), 0) << lb->output();
      all.push_back(exit_counters(lb->output()));
      EXPECT_TRUE(all.back().contains("flows_bounded_moves")) << lb->output();
    }
    return all;
  }

  std::vector<std::unique_ptr<TaggingEchoServer>> servers_;
  std::vector<std::unique_ptr<ChildProcess>> lbs_;
  std::vector<int> clients_;
  NetAddress first_;
  NetAddress second_;
};

TEST_P(MaglevTest, EveryFlowReachesTheSameServerThroughBothBalancers) {
  ASSERT_NO_FATAL_FAILURE(start_pool());
  std::map<std::string, int> flows_per_server;
  int agreed = 0;
  const std::vector<Placement> placed = send_flows("one");
  for (int f = 0; f < kFlows; ++f) {
    const Placement& p = placed[static_cast<size_t>(f)];
    ASSERT_FALSE(p.via_first.empty()) << "flow " << f << " unanswered through the first balancer";
    ASSERT_FALSE(p.via_second.empty()) << "flow " << f << " unanswered through the second balancer";
    EXPECT_EQ(p.via_first, p.via_second) << "flow " << f;
    agreed += p.via_first == p.via_second ? 1 : 0;
    ++flows_per_server[p.via_first];
  }
  EXPECT_EQ(agreed, kFlows);
  EXPECT_EQ(flows_per_server.size(), static_cast<size_t>(kServers));  // spread, not herded
  for (const auto& [server, flows] : flows_per_server) EXPECT_GE(flows, kFlows / kServers / 3) << server;

  for (const auto& counters : stop_lbs()) {
    EXPECT_EQ(counters.at("flows_bounded_moves"), 0u);  // light load: nothing diverted
    EXPECT_EQ(counters.at("requests_forwarded"), static_cast<uint64_t>(kFlows));
    for (const auto& [name, value] : counters)
      if (name.starts_with("drop_")) {
        EXPECT_EQ(value, 0u) << name;
      }
  }
}

// A server stops answering: each balancer sees its requests time out, puts it DOWN and
// re-places its flows, both onto the same other server; every other flow stays put. (A
// closed port is not used: a static backend DOWN for refusals is retried UP after 500 ms,
// and each retry costs every one of its flows a request, which only slows the test.) The
// half-open probe is kept an hour away: each probe costs one request, a retry here.
TEST_P(MaglevTest, ALostServersFlowsMoveAlikeAndNoOtherFlowMoves) {
  const std::string config = ::testing::TempDir() + "/shortline_maglev_loss.json";
  std::ofstream(config) << R"({"load_balancer": {"request_timeout_ms": 200, "timeouts_down": 3,)"
                        << R"( "health_probe_interval_ms": 3600000}})" << "\n";
  ASSERT_NO_FATAL_FAILURE(start_pool({"--config", config}));
  const std::vector<Placement> before = send_flows("before");
  for (const Placement& p : before) {
    ASSERT_FALSE(p.via_first.empty());
    ASSERT_EQ(p.via_first, p.via_second);
  }
  const std::string lost = std::to_string(servers_[0]->address().port());
  servers_[0]->set_silent();
  // Requests to the lost server go unanswered until three have timed out (200 ms each);
  // short waits with many tries keep that bounded.
  const std::vector<Placement> after = send_flows("after", 20, 300ms);
  int lost_flows = 0;
  for (int f = 0; f < kFlows; ++f) {
    const Placement& was = before[static_cast<size_t>(f)];
    const Placement& now = after[static_cast<size_t>(f)];
    ASSERT_FALSE(now.via_first.empty()) << "flow " << f << " unanswered through the first balancer";
    ASSERT_FALSE(now.via_second.empty()) << "flow " << f << " unanswered through the second balancer";
    EXPECT_EQ(now.via_first, now.via_second) << "flow " << f;
    EXPECT_NE(now.via_first, lost) << "flow " << f;
    if (was.via_first == lost) ++lost_flows;
    else EXPECT_EQ(now.via_first, was.via_first) << "flow " << f << " moved off a live server";
  }
  EXPECT_GT(lost_flows, 0);
  (void)stop_lbs();
}

INSTANTIATE_TEST_SUITE_P(Loopback, MaglevTest, ::testing::Values("127.0.0.1", "::1"),
                         [](const auto& param) { return param.param == "::1" ? "IPv6" : "IPv4"; });

}  // namespace
}  // namespace shortline

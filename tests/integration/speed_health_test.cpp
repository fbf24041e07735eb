// Learnt speed and health of static backends in the real shortline-lb, over IPv4 and IPv6:
// servers that send no reports get shares that follow the speed the workers learn from
// their replies; a server that swallows requests goes DOWN after timeouts in a row, gets
// only half-open probes, and comes back when it answers; an active check with an expected
// reply takes a server that answers it wrongly out of the pool. Everything is watched as a
// user would: what clients receive, what each server saw, and the admin /api/status.
#include <gtest/gtest.h>

#include <map>

#include "dataplane/kernel_probe.h"
#include "speed_health_test_support.h"

namespace shortline {
namespace {

using namespace std::chrono_literals;
using testing::Balancer;
using testing::EchoServer;
using testing::ExponentialServer;
using testing::LoadPlan;
using testing::LoadTally;
using testing::OpenLoad;
using testing::ProbeAwareServer;
using testing::wait_until;


class SpeedHealthTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (const auto missing = probe_kernel_features(); !missing.empty())
      GTEST_SKIP() << "kernel lacks io_uring features: " << missing;
    if (!EchoServer(host()).ok()) GTEST_SKIP() << "cannot bind " << host() << " on loopback";
  }
  [[nodiscard]] const std::string& host() const { return GetParam(); }
};

// ---- 1: shares follow the speed learnt from replies ----

TEST_P(SpeedHealthTest, SharesFollowLearntSpeed) {
  // Capacity 2 x 1000 + 2 x 250 = 2500 requests/s; the load below is 60 % of it. An equal
  // split would send 750/s to each slow server, three times what it can serve.
  ExponentialServer fast_a(host(), 1000, 11), fast_b(host(), 1000, 12);
  ExponentialServer slow_a(host(), 4000, 13), slow_b(host(), 4000, 14);
  ASSERT_TRUE(fast_a.ok() && fast_b.ok() && slow_a.ok() && slow_b.ok());
  Balancer lb(
      "speed", host(), R"({"policy": "shortest-queue"})",
      {"--workers", "1", "--backend",
       backend_list({fast_a.address(), fast_b.address(), slow_a.address(), slow_b.address()})});
  ASSERT_EQ(lb.wait_ready(), "");
  // /api/status every 100 ms over the second half of the run: each server's learnt time
  // is judged by its median there, not by one reading that a stall may have just bumped.
  std::map<std::string, std::vector<double>> learnt_ms;
  const auto run_start = testing::SteadyClock::now();
  LoadPlan plan;
  plan.requests_per_s = 1500;
  plan.requests_max = 6000;
  plan.run_max = 20s;
  plan.reply_wait = 3s;
  plan.sockets = 8;
  plan.stop_when = [&] {
    if (testing::SteadyClock::now() - run_start < 2s) return false;
    for (const auto& s : lb.servers())
      learnt_ms[s.value("address", "")].push_back(s.value("learnt_service_ms", -1.0));
    return false;
  };
  const LoadTally tally = OpenLoad(host(), lb.listen(), plan).run();
  const double fast = static_cast<double>(fast_a.answered() + fast_b.answered());
  const double slow = static_cast<double>(slow_a.answered() + slow_b.answered());
  const double slow_share = slow / std::max(1.0, fast + slow);
  EXPECT_EQ(tally.sent, plan.requests_max) << "in " << tally.seconds << " s";
  EXPECT_GE(tally.answered, tally.sent * 95 / 100) << tally.sent << " sent";
  EXPECT_EQ(tally.wrong, 0);
  // In proportion to speed the slow pair would take 20 %; shortest expected delay gives it
  // less at this load (2-3 % on a quiet host), plain shortest-queue about 27 % (measured
  // with learn_speed off). A host that steals CPU from the test's servers slows the fast
  // ones most, and their shares drift towards the speed split (15-19 % seen at 40 % CPU
  // steal): hence the bound at the speed split plus a margin, not at the quiet figure.
  EXPECT_LT(slow_share, 0.22) << "fast " << fast << ", slow " << slow << "; status "
                              << lb.servers().dump();
  const auto servers = lb.servers();
  ASSERT_EQ(servers.size(), 4u) << servers.dump();
  const auto median_ms = [&](const NetAddress& address) {
    // "stale" once the load has stopped for a second: still learnt from replies.
    const std::string source = lb.field(address, "speed_source");
    EXPECT_TRUE(source == "replies" || source == "stale") << address.to_string() << ": " << source;
    EXPECT_EQ(lb.field(address, "state"), "up") << address.to_string();
    std::vector<double> readings = learnt_ms[address.to_string()];
    if (readings.empty()) return -1.0;
    std::nth_element(readings.begin(), readings.begin() + readings.size() / 2, readings.end());
    return readings[readings.size() / 2];
  };
  const double fast_ms = std::max(median_ms(fast_a.address()), median_ms(fast_b.address()));
  const double slow_ms = std::min(median_ms(slow_a.address()), median_ms(slow_b.address()));
  EXPECT_GT(fast_ms, 0) << servers.dump();
  EXPECT_GE(slow_ms, 2 * fast_ms) << "medians of " << learnt_ms.begin()->second.size()
                                  << " readings; now " << servers.dump();
  const std::string metrics = lb.metrics();
  EXPECT_NE(metrics.find("shortline_server_service_seconds{"), std::string::npos) << metrics;
  EXPECT_EQ(lb.stop(), 0) << lb.child().output();
}

// ---- 2: a server that reads and never answers ----

TEST_P(SpeedHealthTest, BlackHoleGoesDownGetsProbesAndComesBack) {
  EchoServer echo_a(host()), echo_b(host()), hole(host());
  ASSERT_TRUE(echo_a.ok() && echo_b.ok() && hole.ok());
  hole.set_silent(true);
  constexpr double kProbeIntervalS = 0.5;
  Balancer lb("black_hole", host(),
              R"({"request_timeout_ms": 100, "timeouts_down": 3, "health_probe_interval_ms": 500})",
              {"--workers", "1", "--backend",
               backend_list({echo_a.address(), echo_b.address(), hole.address()})});
  ASSERT_EQ(lb.wait_ready(), "");
  const auto health = [&] { return lb.field(hole.address(), "health"); };
  LoadPlan steady;
  steady.requests_per_s = 200;
  steady.requests_max = 4000;
  steady.run_max = 20s;
  steady.reply_wait = 500ms;

  // Until the balancer has seen timeouts_down timeouts in a row there.
  steady.stop_when = [&] { return health() == "down: timeouts"; };
  (void)OpenLoad(host(), lb.listen(), steady).run();
  ASSERT_EQ(health(), "down: timeouts") << lb.servers().dump();

  // DOWN: only half-open probes, at most one per probe interval (plus the one due now and
  // one in flight); every other request is answered.
  const auto started = testing::SteadyClock::now();
  const double requests_before = lb.number(hole.address(), "requests");
  const uint64_t received_before = hole.received();
  LoadPlan down = steady;
  down.requests_max = 600;
  down.reply_wait = 1000ms;  // the client's timeout: ten times the balancer's
  down.stop_when = [] { return false; };
  const LoadTally during = OpenLoad(host(), lb.listen(), down).run();
  const double requests_after = lb.number(hole.address(), "requests");
  const double elapsed_s =
      std::chrono::duration<double>(testing::SteadyClock::now() - started).count();
  const uint64_t probes = hole.received() - received_before;
  EXPECT_EQ(during.sent, 600);
  EXPECT_EQ(during.wrong, 0);
  ASSERT_GE(requests_before, 0) << "no requests field in /api/status";
  EXPECT_LE(requests_after - requests_before, elapsed_s / kProbeIntervalS + 2)
      << "in " << elapsed_s << " s; " << lb.servers().dump();
  EXPECT_EQ(requests_after - requests_before, static_cast<double>(probes));
  EXPECT_GE(probes, 1u) << "no half-open probe in " << elapsed_s << " s";
  EXPECT_LE(static_cast<uint64_t>(during.unanswered()), probes)
      << during.answered << " of " << during.sent << " answered";
  EXPECT_EQ(health(), "down: timeouts") << lb.servers().dump();

  // It answers again: the next probe brings it UP and it gets work once more. At this
  // light load shortest expected delay sends nearly everything to whichever server reads
  // fastest (as dnsdist's latency tie-break does), so not a third of it; but a server left
  // without replies for a second is explored, so it gets some within the 2 s below.
  hole.set_silent(false);
  steady.stop_when = [&] { return health() == "up"; };
  (void)OpenLoad(host(), lb.listen(), steady).run();
  ASSERT_EQ(health(), "up") << lb.servers().dump();
  const uint64_t received_up = hole.received();
  LoadPlan up = steady;
  up.requests_max = 400;
  up.reply_wait = 2000ms;
  up.stop_when = [] { return false; };
  const LoadTally after = OpenLoad(host(), lb.listen(), up).run();
  EXPECT_EQ(after.answered, after.sent);
  EXPECT_GE(hole.received() - received_up, 1u) << lb.servers().dump();
  EXPECT_EQ(lb.field(hole.address(), "state"), "up");
  EXPECT_EQ(lb.stop(), 0) << lb.child().output();
}

// ---- 3: an active check with an expected reply ----

TEST_P(SpeedHealthTest, ActiveCheckTakesOutTheServerThatAnswersWrongly) {
  const std::string probe = "\xde\xad\xbe\xef";
  ProbeAwareServer right(host(), probe, "\xca\xfe ok");
  ProbeAwareServer wrong(host(), probe, "");  // echoes the probe: "deadbeef" is not "cafe"
  ASSERT_TRUE(right.ok() && wrong.ok());
  Balancer lb("check", host(),
              R"({"health_check": {"payload_hex": "deadbeef", "expect_hex": "cafe",
                  "interval_ms": 20, "timeout_ms": 100, "rise": 2, "fall": 2}})",
              {"--workers", "1", "--backend", backend_list({right.address(), wrong.address()})});
  ASSERT_EQ(lb.wait_ready(), "");
  const auto settled = [&] {
    return lb.field(wrong.address(), "health") == "down: health check" &&
           lb.field(wrong.address(), "check") == "unhealthy" &&
           lb.field(right.address(), "check") == "healthy";
  };
  ASSERT_TRUE(wait_until(settled, 20s)) << lb.servers().dump();
  EXPECT_EQ(lb.field(wrong.address(), "check_failure"), "wrong reply") << lb.servers().dump();
  EXPECT_EQ(lb.field(wrong.address(), "state"), "down");
  EXPECT_EQ(lb.field(right.address(), "health"), "up") << lb.servers().dump();
  EXPECT_EQ(lb.field(right.address(), "state"), "up");

  const uint64_t wrong_before = wrong.others();
  const uint64_t right_before = right.others();
  const uint64_t wrong_probes = wrong.probes();
  LoadPlan plan;
  plan.requests_per_s = 200;
  plan.requests_max = 400;
  plan.reply_wait = 2000ms;
  const LoadTally tally = OpenLoad(host(), lb.listen(), plan).run();
  EXPECT_EQ(tally.answered, tally.sent);
  EXPECT_EQ(tally.wrong, 0);
  EXPECT_EQ(wrong.others() - wrong_before, 0u) << "traffic reached the unhealthy server";
  EXPECT_EQ(right.others() - right_before, static_cast<uint64_t>(tally.sent));
  EXPECT_GT(wrong.probes(), wrong_probes) << "the checks stopped";
  EXPECT_EQ(lb.field(wrong.address(), "health"), "down: health check");
  EXPECT_EQ(lb.field(right.address(), "health"), "up");
  EXPECT_EQ(lb.stop(), 0) << lb.child().output();
}

// ---- 4: identical servers at low load ----

// Three identical servers (exponential service, mean 0.5 ms) at 200 requests/s, a tenth
// of an Erlang in all: every queue is almost always empty, so shortest expected delay
// sends each request to whichever server reads fastest (as dnsdist's leastOutstanding
// breaks its ties by latency). None may be left idle for good, though: a server whose
// learnt figures go stale for a second is explored (given the fastest weight) and its
// estimate re-learnt, so each keeps getting some of the work and reads alike.
TEST_P(SpeedHealthTest, IdenticalServersAreNeverLeftIdleAtLowLoad) {
  ExponentialServer a(host(), 500, 21), b(host(), 500, 22), c(host(), 500, 23);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  Balancer lb(
      "identical", host(), R"({"policy": "shortest-queue"})",
      {"--workers", "1", "--backend", backend_list({a.address(), b.address(), c.address()})});
  ASSERT_EQ(lb.wait_ready(), "");
  LoadPlan plan;
  plan.requests_per_s = 200;
  plan.requests_max = 1500;
  plan.reply_wait = 2000ms;
  const LoadTally tally = OpenLoad(host(), lb.listen(), plan).run();
  EXPECT_EQ(tally.answered, tally.sent);
  for (const ExponentialServer* server : {&a, &b, &c})
    EXPECT_GE(server->answered(), static_cast<uint64_t>(tally.sent) / 100)
        << server->address().to_string() << " of " << a.answered() << " / " << b.answered() << " / "
        << c.answered() << "; status " << lb.servers().dump();
  EXPECT_EQ(lb.stop(), 0) << lb.child().output();
}

INSTANTIATE_TEST_SUITE_P(Loopback, SpeedHealthTest, ::testing::Values("127.0.0.1", "::1"),
                         [](const ::testing::TestParamInfo<std::string>& address) {
                           return address.param == "::1" ? std::string("IPv6")
                                                         : std::string("IPv4");
                         });

}  // namespace
}  // namespace shortline

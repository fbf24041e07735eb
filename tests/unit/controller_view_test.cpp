// The demo's pure pieces: the load plan (rises, holds, falls, ends before the demo does),
// the /api/status parsing, the sparkline and table, and the clients' JSON totals.
#include <gtest/gtest.h>

#include "control/controller/demo_load.h"
#include "control/controller/demo_report.h"
#include "control/controller/live_view.h"

namespace shortline::controller {
namespace {

TEST(ControllerDemoLoadTest, LoadRisesHoldsFallsAndLeavesAnIdleTail) {
  const auto plans = plan_demo_load(10, 1000, 60, 350);
  ASSERT_EQ(plans.size(), 10u);
  EXPECT_EQ(plans.front().id, 1000u);
  EXPECT_EQ(plans.back().id, 1009u);
  for (const auto& plan : plans) {
    EXPECT_DOUBLE_EQ(plan.rate_rps, 35);
    EXPECT_GT(plan.duration_s, 0);
    EXPECT_LE(plan.start_s + plan.duration_s, 60 * 0.65 + 1e-9);  // idle tail to shrink in
  }
  EXPECT_DOUBLE_EQ(offered_rps(plans, 0), 0);                 // warm-up
  EXPECT_LT(offered_rps(plans, 6), offered_rps(plans, 15));   // rising
  EXPECT_DOUBLE_EQ(offered_rps(plans, 24), 350);              // the peak holds everyone
  EXPECT_LT(offered_rps(plans, 35), offered_rps(plans, 28));  // falling
  EXPECT_DOUBLE_EQ(offered_rps(plans, 50), 0);                // idle
}

TEST(ControllerDemoLoadTest, SingleClientAndNoClients) {
  const auto one = plan_demo_load(1, 5, 10, 100);
  ASSERT_EQ(one.size(), 1u);
  EXPECT_DOUBLE_EQ(one[0].rate_rps, 100);
  EXPECT_NEAR(one[0].start_s, 0.5, 1e-9);
  EXPECT_NEAR(one[0].start_s + one[0].duration_s, 6.5, 1e-9);
  EXPECT_TRUE(plan_demo_load(0, 5, 10, 100).empty());
}

TEST(ControllerLiveViewTest, ParsesServersFromStatusJsonSortedById) {
  const auto servers = parse_status_servers(R"({"uptime_ms": 5, "servers": [
      {"id": 3, "address": "127.0.0.1:50003", "state": "draining", "reported_queue": 4,
       "in_flight": 2, "speed": 0.5, "requests": 120, "replies": 118},
      {"id": 1, "address": "127.0.0.1:50001", "state": "up", "reported_queue": -1},
      "junk"], "counters": {}})");
  ASSERT_TRUE(servers.has_value());
  ASSERT_EQ(servers->size(), 2u);
  EXPECT_EQ((*servers)[0].id, 1u);
  EXPECT_EQ((*servers)[0].queue, -1);
  EXPECT_EQ((*servers)[0].requests, -1);  // missing: unknown
  EXPECT_EQ((*servers)[1].state, "draining");
  EXPECT_EQ((*servers)[1].queue, 4);
  EXPECT_DOUBLE_EQ((*servers)[1].speed, 0.5);
  EXPECT_EQ((*servers)[1].requests, 120);
  EXPECT_FALSE(parse_status_servers("not json").has_value());
  EXPECT_FALSE(parse_status_servers(R"({"servers": 3})").has_value());
  EXPECT_FALSE(parse_status_servers("[]").has_value());
}

TEST(ControllerLiveViewTest, SparklineScalesToTopAndKeepsTheNewest) {
  EXPECT_EQ(sparkline({}, 4, 10), "");
  EXPECT_EQ(sparkline({0, 4, 8}, 8, 10), " \u2584\u2588");
  EXPECT_EQ(sparkline({1}, 4, 10), "\u2582");       // 1 of 4: two eighths
  EXPECT_EQ(sparkline({9}, 4, 10), "\u2588");       // above the top: full
  EXPECT_EQ(sparkline({0, 0, 8}, 8, 1), "\u2588");  // only the newest fits
  EXPECT_EQ(sparkline({3}, 0, 10), " ");
}

TEST(ControllerLiveViewTest, FrameShowsEachServerAndTheCountHistory) {
  ViewFrame frame;
  frame.elapsed_s = 12.4;
  frame.duration_s = 60;
  frame.offered_rps = 175;
  frame.servers_min = 1;
  frame.servers_max = 6;
  frame.servers_running = 2;
  frame.source = "from the balancer";
  frame.servers = {{0, "127.0.0.1:50000", "up", 3, 1, 1.0, 500},
                   {1, "127.0.0.1:50001", "running", -1, -1, -1, -1}};
  frame.server_count_history = {1, 1, 2, 2};
  frame.events = {"13:00:01 added server 1"};
  const std::string text = render_frame(frame);
  EXPECT_NE(text.find("t=12s/60s"), std::string::npos) << text;
  EXPECT_NE(text.find("offered 175 req/s"), std::string::npos) << text;
  EXPECT_NE(text.find("servers 2 (min 1, max 6)"), std::string::npos) << text;
  EXPECT_NE(text.find("127.0.0.1:50000"), std::string::npos) << text;
  EXPECT_NE(text.find("1.00"), std::string::npos) << text;
  EXPECT_NE(text.find("500"), std::string::npos) << text;
  EXPECT_NE(text.find("now 2, peak 2"), std::string::npos) << text;
  EXPECT_NE(text.find("added server 1"), std::string::npos) << text;
}

TEST(ControllerDemoReportTest, ReadsTheLastJsonLineAndAddsClientsUp) {
  const auto a = parse_client_output(
      "some log line\n"
      R"({"client_id":1000,"requests":100,"sent":104,"answered":100,"retried":4,"failed":0,)"
      R"("latency_us":{"min":900,"p50":1000,"p90":2000,"p99":5000,"p999":9000,"max":9500,)"
      R"("mean":1200.0},"servers":{"0":60,"1":40}})"
      "\n");
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->client_id, 1000u);
  EXPECT_EQ(a->retried, 4u);
  EXPECT_DOUBLE_EQ(a->p99_us, 5000);
  EXPECT_EQ(a->answered_by_server.at("1"), 40u);
  EXPECT_FALSE(parse_client_output("no json here\n").has_value());
  EXPECT_FALSE(parse_client_output("{broken\n").has_value());

  ClientResult b;
  b.requests = b.sent = b.answered = 50;
  b.failed = 2;
  b.p50_us = 3000;
  b.p99_us = 4000;
  b.mean_us = 3000;
  b.answered_by_server = {{"1", 50}};
  const std::string text = format_client_totals({*a, b}, 3);
  EXPECT_NE(text.find("2 of 3 reported"), std::string::npos) << text;
  EXPECT_NE(text.find("answered 150"), std::string::npos) << text;
  EXPECT_NE(text.find("failed 2"), std::string::npos) << text;
  EXPECT_NE(text.find("mean 1.8 ms"), std::string::npos) << text;  // (100*1.2 + 50*3) / 150
  EXPECT_NE(text.find("p99 5.0 ms"), std::string::npos) << text;   // the worst client's
  EXPECT_NE(text.find("0=60 1=90"), std::string::npos) << text;
}

}  // namespace
}  // namespace shortline::controller

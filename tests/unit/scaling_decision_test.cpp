// The scaling decision: the seed's rule (add above 0.9 x threshold, remove an empty server
// while more than one runs), hysteresis, cooldown, min/max, and outstanding requests.
#include "control/scaling_decision.h"

#include <gtest/gtest.h>

#include <vector>

namespace shortline {
namespace {

using Kind = ScalingDecision::Kind;

ScalingServer server(uint32_t id, double queue, bool up = true) {
  return ScalingServer{id, true, up, true, queue};
}

ScalingConfig config() {
  ScalingConfig c;
  c.threshold = 5;
  c.min_servers = 1;
  c.max_servers = 4;
  c.scale_up_hold_ms = 100;
  c.scale_down_idle_ms = 1000;
  c.scale_cooldown_ms = 500;
  return c;
}

// Runs the decision every 10 ms from `from_ms` to `to_ms` with fixed loads; returns the first
// action's step (or the last step) and the time it happened in `at_ms`.
ScalingStep run(const std::vector<ScalingServer>& servers, const ScalingConfig& c,
                ScalingHistory& history, int64_t from_ms, int64_t to_ms, int64_t& at_ms) {
  ScalingStep step;
  for (int64_t now = from_ms; now <= to_ms; now += 10) {
    step = decide_scaling({now, servers, false}, c, history);
    history = step.history;
    at_ms = now;
    if (step.decision.kind != Kind::none) break;
  }
  return step;
}

TEST(ScalingDecision, AddsWhenAQueueStaysAboveNinetyPercentOfTheThreshold) {
  ScalingHistory history;
  int64_t at = 0;
  const auto step = run({server(1, 4.6), server(2, 1)}, config(), history, 0, 1000, at);
  EXPECT_EQ(step.decision.kind, Kind::add);
  EXPECT_EQ(step.decision.reason, wire::ScaleReason::queue_high);
  EXPECT_EQ(at, 100);  // after the hold time, not before
  EXPECT_EQ(step.decision.load.servers, 2u);
  EXPECT_EQ(step.decision.load.queue_max, 5u);
}

TEST(ScalingDecision, AtOrBelowNinetyPercentNothingHappens) {
  ScalingHistory history;
  int64_t at = 0;
  const auto step = run({server(1, 4.5), server(2, 4.5)}, config(), history, 0, 500, at);
  EXPECT_EQ(step.decision.kind, Kind::none);
}

TEST(ScalingDecision, AShortSpikeDoesNotAdd) {
  ScalingHistory history;
  const ScalingConfig c = config();
  const std::vector<ScalingServer> high = {server(1, 9)};
  const std::vector<ScalingServer> low = {server(1, 1)};
  for (int64_t now = 0; now < 1000; now += 10) {
    const bool spike = (now / 10) % 9 != 0;  // high for 80 ms, then a dip, repeatedly
    const auto step = decide_scaling({now, spike ? high : low, false}, c, history);
    EXPECT_EQ(step.decision.kind, Kind::none) << now;
    history = step.history;
  }
}

TEST(ScalingDecision, CooldownSeparatesActions) {
  ScalingHistory history;
  const ScalingConfig c = config();
  int64_t first = 0;
  auto step = run({server(1, 9)}, c, history, 0, 1000, first);
  ASSERT_EQ(step.decision.kind, Kind::add);
  int64_t second = 0;
  step = run({server(1, 9)}, c, history, first + 10, first + 2000, second);
  ASSERT_EQ(step.decision.kind, Kind::add);
  EXPECT_GE(second - first, c.scale_cooldown_ms);
}

TEST(ScalingDecision, NeverAddsAtTheMaximum) {
  ScalingHistory history;
  int64_t at = 0;
  std::vector<ScalingServer> full = {server(1, 9), server(2, 9), server(3, 9), server(4, 9)};
  auto step = run(full, config(), history, 0, 3000, at);
  EXPECT_EQ(step.decision.kind, Kind::none);
  // A DOWN server still counts: the controller restarts it rather than adding another.
  full[3].up = false;
  step = run(full, config(), history, 3010, 6000, at);
  EXPECT_EQ(step.decision.kind, Kind::none);
}

TEST(ScalingDecision, DrainingServersDoNotCountTowardsTheMaximum) {
  ScalingHistory history;
  int64_t at = 0;
  std::vector<ScalingServer> pool = {server(1, 9), server(2, 9), server(3, 9), server(4, 0)};
  pool[3].up = false;
  pool[3].counted = false;  // draining
  const auto step = run(pool, config(), history, 0, 3000, at);
  EXPECT_EQ(step.decision.kind, Kind::add);
}

TEST(ScalingDecision, RemovesAServerThatStaysEmptyWhileMoreThanOneRuns) {
  ScalingHistory history;
  int64_t at = 0;
  const auto step = run({server(1, 1), server(2, 0)}, config(), history, 0, 5000, at);
  EXPECT_EQ(step.decision.kind, Kind::remove);
  EXPECT_EQ(step.decision.server_id, 2u);
  EXPECT_EQ(step.decision.reason, wire::ScaleReason::queue_empty);
  EXPECT_EQ(at, 1000);  // after the idle time
}

TEST(ScalingDecision, NeverRemovesTheLastServer) {
  ScalingHistory history;
  int64_t at = 0;
  const auto step = run({server(1, 0)}, config(), history, 0, 5000, at);
  EXPECT_EQ(step.decision.kind, Kind::none);
}

TEST(ScalingDecision, NeverRemovesBelowTheMinimum) {
  ScalingConfig c = config();
  c.min_servers = 3;
  ScalingHistory history;
  int64_t at = 0;
  auto step = run({server(1, 0), server(2, 0), server(3, 0)}, c, history, 0, 5000, at);
  EXPECT_EQ(step.decision.kind, Kind::none);
  step = run({server(1, 0), server(2, 0), server(3, 0), server(4, 0)}, c, history, 5010, 9000, at);
  EXPECT_EQ(step.decision.kind, Kind::remove);
  // Servers 1-3 have been empty long enough, 4 has just joined: of those, the highest id
  // (the newest) goes.
  EXPECT_EQ(step.decision.server_id, 3u);
  EXPECT_EQ(at, 5010);
}

TEST(ScalingDecision, ABriefRequestResetsTheIdleTime) {
  ScalingHistory history;
  const ScalingConfig c = config();
  const std::vector<ScalingServer> idle = {server(1, 2), server(2, 0)};
  const std::vector<ScalingServer> busy = {server(1, 2), server(2, 1)};
  for (int64_t now = 0; now < 3000; now += 10) {
    const bool blip = now % 800 == 0;  // busy every 800 ms, idle time is 1000 ms
    const auto step = decide_scaling({now, blip ? busy : idle, false}, c, history);
    EXPECT_EQ(step.decision.kind, Kind::none) << now;
    history = step.history;
  }
}

TEST(ScalingDecision, StaticServersAreNeverRemoved) {
  ScalingHistory history;
  int64_t at = 0;
  std::vector<ScalingServer> pool = {server(1, 1), server(2, 0)};
  pool[1].removable = false;
  const auto step = run(pool, config(), history, 0, 5000, at);
  EXPECT_EQ(step.decision.kind, Kind::none);
}

TEST(ScalingDecision, NoRemovalThatWouldPushTheOthersTowardsTheAddLevel) {
  ScalingHistory history;
  int64_t at = 0;
  // Two busy servers (3 each) and one empty: without it the others would average 3,
  // above half the add level (2.25), so the empty one stays.
  const auto step = run({server(1, 3), server(2, 3), server(3, 0)}, config(), history, 0, 5000, at);
  EXPECT_EQ(step.decision.kind, Kind::none);
}

TEST(ScalingDecision, AboveTheMaximumTheLeastLoadedIsRemoved) {
  ScalingConfig c = config();
  c.max_servers = 2;
  ScalingHistory history;
  const std::vector<ScalingServer> pool = {server(1, 3), server(2, 1), server(3, 2)};
  const auto step = decide_scaling({0, pool, false}, c, history);
  EXPECT_EQ(step.decision.kind, Kind::remove);
  EXPECT_EQ(step.decision.server_id, 2u);
  EXPECT_EQ(step.decision.reason, wire::ScaleReason::above_max);
}

TEST(ScalingDecision, NothingWhileARequestIsOutstandingButHistoryAdvances) {
  ScalingHistory history;
  const ScalingConfig c = config();
  const std::vector<ScalingServer> pool = {server(1, 9)};
  for (int64_t now = 0; now <= 500; now += 10) {
    const auto step = decide_scaling({now, pool, true}, c, history);
    EXPECT_EQ(step.decision.kind, Kind::none);
    history = step.history;
  }
  EXPECT_EQ(history.high_since_ms, 0);
  // Once the reply came, the condition has held long enough already.
  const auto step = decide_scaling({510, pool, false}, c, history);
  EXPECT_EQ(step.decision.kind, Kind::add);
}

TEST(ScalingDecision, EmptyPoolDecidesNothing) {
  ScalingHistory history;
  const auto step = decide_scaling({0, {}, false}, config(), history);
  EXPECT_EQ(step.decision.kind, Kind::none);
  EXPECT_EQ(step.decision.load.servers, 0u);
}

TEST(ScalingDecision, DownServersNeitherTriggerNorGetRemoved) {
  ScalingHistory history;
  int64_t at = 0;
  const auto step =
      run({server(1, 1), server(2, 0, false), server(3, 9, false)}, config(), history, 0, 5000, at);
  EXPECT_EQ(step.decision.kind, Kind::none);
}

}  // namespace
}  // namespace shortline

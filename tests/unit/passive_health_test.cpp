// Passive health rules on their own (pure, no table): the timeout streak, the half-open
// probe's steps and timings, outlier selection and the ejection cap.
#include "control/passive_health.h"

#include <gtest/gtest.h>

#include <vector>

namespace shortline {
namespace {

ServerCounts counts(uint64_t replies, uint64_t timeouts) {
  return {replies + timeouts, replies, timeouts, 0};
}

TEST(TimeoutStreakTest, CountsTimeoutsSinceTheLastReply) {
  TimeoutStreak streak;
  streak.restart(counts(10, 4));  // history before the restart never counts
  EXPECT_EQ(streak.observe(counts(10, 4)), 0u);
  EXPECT_EQ(streak.observe(counts(10, 5)), 1u);
  EXPECT_EQ(streak.observe(counts(10, 7)), 3u);
  // One reply ends the streak; only timeouts after it count.
  EXPECT_EQ(streak.observe(counts(11, 7)), 0u);
  EXPECT_EQ(streak.observe(counts(11, 8)), 1u);
  EXPECT_EQ(streak.observe(counts(11, 9)), 2u);
  // A slow server that answers now and then never builds a long streak.
  uint64_t replies = 11;
  uint64_t timeouts = 9;
  for (int round = 0; round < 100; ++round) {
    ++replies;
    EXPECT_EQ(streak.observe(counts(replies, timeouts)), 0u);
    timeouts += 2;
    EXPECT_EQ(streak.observe(counts(replies, timeouts)), 2u);
  }
}

class HalfOpenProbeTest : public ::testing::Test {
 protected:
  HalfOpenProbeTest() {
    config_.probe_interval_ms = 1000;
    config_.request_timeout_ms = 300;
  }
  HalfOpenProbe::Step step(const ServerCounts& now, int64_t now_ms, bool taken) {
    return probe_.step(now, now_ms, config_, taken);
  }
  PassiveHealthConfig config_;
  HalfOpenProbe probe_;
};

using Step = HalfOpenProbe::Step;

TEST_F(HalfOpenProbeTest, ArmsOneTimeoutAfterDownThenWaitsForTheVerdict) {
  probe_.start(counts(10, 5), 100 - config_.request_timeout_ms, config_);
  EXPECT_EQ(probe_.probes(), 0u);
  // What was in flight when it went DOWN times out first; then the first probe.
  EXPECT_EQ(step(counts(10, 5), 99, false), Step::wait);
  EXPECT_EQ(step(counts(10, 5), 100, false), Step::arm);
  EXPECT_EQ(probe_.probes(), 1u);
  EXPECT_EQ(step(counts(10, 5), 101, false), Step::wait);   // token out, not taken
  EXPECT_EQ(step(counts(10, 5), 150, true), Step::wait);    // taken, in flight
  EXPECT_EQ(step(counts(10, 6), 400, true), Step::failed);  // it timed out
  // The next probe probe_interval_ms after that verdict, not before.
  EXPECT_EQ(step(counts(10, 6), 401, false), Step::wait);
  EXPECT_EQ(step(counts(10, 6), 1399, false), Step::wait);
  EXPECT_EQ(step(counts(10, 6), 1400, false), Step::arm);
  EXPECT_EQ(probe_.probes(), 2u);
  EXPECT_EQ(step(counts(10, 6), 1450, true), Step::wait);
  EXPECT_EQ(step(counts(11, 6), 1460, true), Step::answered);
}

TEST_F(HalfOpenProbeTest, ATakenTokenWithNoVerdictIsLostAfterTwiceTheTimeout) {
  probe_.start(counts(0, 3), -config_.request_timeout_ms, config_);
  ASSERT_EQ(step(counts(0, 3), 0, false), Step::arm);
  // Taken but never sent (no socket): no timeout ever comes.
  EXPECT_EQ(step(counts(0, 3), 2 * config_.request_timeout_ms, true), Step::wait);
  EXPECT_EQ(step(counts(0, 3), 2 * config_.request_timeout_ms + 1, true), Step::failed);
  const int64_t next_ms = 2 * config_.request_timeout_ms + 1 + config_.probe_interval_ms;
  EXPECT_EQ(step(counts(0, 3), next_ms - 1, false), Step::wait);
  EXPECT_EQ(step(counts(0, 3), next_ms, false), Step::arm);
  // A token nobody takes (no traffic) is never declared lost.
  EXPECT_EQ(step(counts(0, 3), next_ms + 100 * config_.request_timeout_ms, false), Step::wait);
  EXPECT_EQ(probe_.probes(), 2u);
}

TEST_F(HalfOpenProbeTest, AnyReplyMeansItLives) {
  probe_.start(counts(10, 5), -config_.request_timeout_ms, config_);
  EXPECT_EQ(step(counts(11, 5), 0, false), Step::answered);  // a late reply, before arming

  HalfOpenProbe waiting;
  waiting.start(counts(10, 5), -config_.request_timeout_ms, config_);
  ASSERT_EQ(waiting.step(counts(10, 5), 0, config_, false), Step::arm);
  ASSERT_EQ(waiting.step(counts(10, 6), 10, config_, true), Step::failed);
  EXPECT_EQ(waiting.step(counts(11, 6), 20, config_, false), Step::answered);  // between probes
}

TEST(EjectionCapTest, ATenthOfThePoolAtLeastOneNeverTheLast) {
  EXPECT_EQ(ejection_cap(20, 10), 2u);
  EXPECT_EQ(ejection_cap(10, 10), 1u);
  EXPECT_EQ(ejection_cap(5, 10), 1u);  // at least one
  EXPECT_EQ(ejection_cap(2, 10), 1u);
  EXPECT_EQ(ejection_cap(1, 10), 0u);  // never a pool's last server
  EXPECT_EQ(ejection_cap(0, 10), 0u);
  EXPECT_EQ(ejection_cap(20, 0), 0u);  // 0 %: off
  EXPECT_EQ(ejection_cap(100, 25), 25u);
  EXPECT_EQ(ejection_cap(4, 50), 2u);
}

TEST(EjectionCapTest, NeverThePoolsLastServerAtAHighPercent) {
  EXPECT_EQ(ejection_cap(2, 100), 1u);
  EXPECT_EQ(ejection_cap(10, 100), 9u);
  EXPECT_EQ(ejection_cap(4, 75), 3u);
  // The pool's other server is out already; the last one fails alone: keep it.
  PassiveHealthConfig config;
  config.outlier_failure_ratio = 5;
  config.outlier_max_ejected_percent = 100;
  const std::vector<OutlierSample> samples = {{0, 0, true}, {100, 50, false}};
  EXPECT_TRUE(find_outliers(samples, config).empty());
}

PassiveHealthConfig outlier_config() {
  PassiveHealthConfig config;
  config.outlier_failure_ratio = 5;
  config.outlier_max_ejected_percent = 10;
  return config;
}

std::vector<OutlierSample> healthy_pool(std::size_t size) {
  return std::vector<OutlierSample>(size, OutlierSample{100, 1, false});  // 1 %
}

TEST(FindOutliersTest, OneFarAboveThePoolIsChosen) {
  auto samples = healthy_pool(10);
  samples[6] = {100, 30, false};
  EXPECT_EQ(find_outliers(samples, outlier_config()), std::vector<std::size_t>{6});

  // Above the 5 % floor but not 5x the rest (2 %): kept.
  samples = std::vector<OutlierSample>(10, OutlierSample{100, 2, false});
  samples[6] = {100, 8, false};
  EXPECT_TRUE(find_outliers(samples, outlier_config()).empty());
  samples[6] = {100, 11, false};  // 11 % against 2 %
  EXPECT_EQ(find_outliers(samples, outlier_config()), std::vector<std::size_t>{6});
  // 5x the rest but below the 5 % floor: kept.
  samples = std::vector<OutlierSample>(10, OutlierSample{1000, 1, false});
  samples[2] = {1000, 40, false};  // 4 %, 40x the rest
  EXPECT_TRUE(find_outliers(samples, outlier_config()).empty());
  // Off when the ratio is 0.
  samples = healthy_pool(10);
  samples[6] = {100, 90, false};
  PassiveHealthConfig off = outlier_config();
  off.outlier_failure_ratio = 0;
  EXPECT_TRUE(find_outliers(samples, off).empty());
}

TEST(FindOutliersTest, TooFewRequestsGiveNoVerdict) {
  auto samples = healthy_pool(10);
  samples[3] = {PassiveHealthConfig::kOutlierRequestsMin - 1, 19, false};  // all but one failed
  EXPECT_TRUE(find_outliers(samples, outlier_config()).empty());
  samples[3] = {PassiveHealthConfig::kOutlierRequestsMin, 19, false};
  EXPECT_EQ(find_outliers(samples, outlier_config()), std::vector<std::size_t>{3});
}

TEST(FindOutliersTest, TheCapCountsThoseAlreadyOutAndTakesTheWorstFirst) {
  auto samples = healthy_pool(20);  // cap 2
  samples[4] = {100, 50, false};
  samples[9] = {100, 90, false};
  samples[15] = {100, 60, false};
  EXPECT_EQ(find_outliers(samples, outlier_config()), (std::vector<std::size_t>{9, 15}));

  samples[1] = {0, 0, true};  // one out already: room for one more
  EXPECT_EQ(find_outliers(samples, outlier_config()), std::vector<std::size_t>{9});
  samples[2] = {0, 0, true};  // two out: none
  EXPECT_TRUE(find_outliers(samples, outlier_config()).empty());

  // A pool of 5: one at a time. A pool of 1: never.
  auto five = healthy_pool(5);
  five[0] = {100, 50, false};
  five[3] = {100, 70, false};
  EXPECT_EQ(find_outliers(five, outlier_config()), std::vector<std::size_t>{3});
  const std::vector<OutlierSample> one = {{100, 100, false}};
  EXPECT_TRUE(find_outliers(one, outlier_config()).empty());
}

TEST(FindOutliersTest, EqualRatesGoInPoolOrder) {
  auto samples = healthy_pool(10);
  samples[7] = {100, 50, false};
  samples[2] = {100, 50, false};
  EXPECT_EQ(find_outliers(samples, outlier_config()), std::vector<std::size_t>{2});
}

}  // namespace
}  // namespace shortline

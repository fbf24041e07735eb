// The load combination (report minus our in-flight, clamped), one-way load, smoothing, and
// the speed estimate mapped to weights (a server four times slower gets a quarter).
#include "control/load_estimate.h"

#include <gtest/gtest.h>

#include <vector>

namespace shortline {
namespace {

TEST(LoadEstimate, OtherLoadIsTheReportedQueueThatIsNotOurs) {
  EXPECT_EQ(other_load_two_way(10, 4), 6);
  EXPECT_EQ(other_load_two_way(4, 4), 0);
  EXPECT_EQ(other_load_two_way(0, 0), 0);
}

TEST(LoadEstimate, OtherLoadNeverGoesNegative) {
  // Our requests on the wire are in flight but not yet in the server's queue.
  EXPECT_EQ(other_load_two_way(2, 5), 0);
  EXPECT_EQ(other_load_two_way(0, 100), 0);
  // A transiently negative in-flight count (a reply counted before its dispatch delta was
  // published) does not inflate the estimate.
  EXPECT_EQ(other_load_two_way(3, -2), 3);
}

TEST(LoadEstimate, OneWayLoadIsTheReportPlusWhatWasSentSince) {
  EXPECT_EQ(other_load_one_way(7), 7);
  EXPECT_EQ(current_load(7, 0, 120, 100, true), 27);
  EXPECT_EQ(current_load(3, 5, 120, 100, false), 8);
}

TEST(LoadEstimate, SmoothingStartsAtTheFirstSampleAndFollowsTime) {
  EXPECT_DOUBLE_EQ(smooth(-1, 5, 0, 100), 5);
  EXPECT_DOUBLE_EQ(smooth(2, 10, 0, 100), 2);  // no time passed: no change
  const double after_tau = smooth(0, 1, 100, 100);
  EXPECT_NEAR(after_tau, 0.632, 0.001);        // 1 - 1/e after one time constant
  EXPECT_NEAR(smooth(0, 1, 1e6, 100), 1.0, 1e-9);
  EXPECT_DOUBLE_EQ(smooth(4, 8, -5, 100), 4);  // a clock step back changes nothing
}

TEST(LoadEstimate, FourTimesSlowerGetsAQuarterOfTheWeight) {
  const std::vector<SpeedSample> samples = {{1000, 1}, {1000, 1}, {4000, 1}};
  const auto out = speed_weights(samples);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].weight, kWeightScale);
  EXPECT_EQ(out[1].weight, kWeightScale);
  EXPECT_EQ(out[2].weight, kWeightScale / 4);
  EXPECT_DOUBLE_EQ(out[2].speed, 0.25);
}

TEST(LoadEstimate, WorkersMultiplyTheServiceRate) {
  const std::vector<SpeedSample> samples = {{1000, 4}, {1000, 1}};
  const auto out = speed_weights(samples);
  EXPECT_EQ(out[0].weight, kWeightScale);
  EXPECT_EQ(out[1].weight, kWeightScale / 4);
}

TEST(LoadEstimate, UnknownSpeedTakesTheMedianOfTheKnown) {
  const std::vector<SpeedSample> samples = {{1000, 1}, {2000, 1}, {4000, 1}, {0, 1}};
  const auto out = speed_weights(samples);
  EXPECT_EQ(out[3].weight, kWeightScale / 2);
  EXPECT_DOUBLE_EQ(out[3].speed, 0.5);
}

TEST(LoadEstimate, NothingKnownMeansEveryoneEqual) {
  const std::vector<SpeedSample> samples = {{0, 1}, {-1, 3}};
  for (const auto& w : speed_weights(samples)) {
    EXPECT_EQ(w.weight, kWeightScale);
    EXPECT_DOUBLE_EQ(w.speed, 1.0);
  }
  EXPECT_TRUE(speed_weights({}).empty());
}

TEST(LoadEstimate, AVerySlowServerKeepsAWeightOfOne) {
  const std::vector<SpeedSample> samples = {{10, 1}, {1e7, 1}};
  const auto out = speed_weights(samples);
  EXPECT_EQ(out[1].weight, 1u);
  EXPECT_GT(out[1].speed, 0.0);
}

// Shortest expected delay with these weights: the data plane picks the least
// (load + 1) / weight, so a quarter-speed server is chosen only once the fast one holds
// four times its queue.
TEST(LoadEstimate, WeightsGiveShortestExpectedDelay) {
  const std::vector<SpeedSample> samples = {{1000, 1}, {4000, 1}};
  const auto out = speed_weights(samples);
  const auto delay = [](int64_t load, uint32_t weight) {
    return static_cast<double>(load + 1) / weight;
  };
  EXPECT_LT(delay(2, out[0].weight), delay(0, out[1].weight));  // fast with 2 queued still wins
  EXPECT_GE(delay(4, out[0].weight), delay(0, out[1].weight));  // at 4 the slow one is as good
}

}  // namespace
}  // namespace shortline

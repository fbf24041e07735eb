// Tests of the open-loop arrival schedule: even spacing is exact, and --poisson gives
// exponential gaps with the rate's mean (checked on a fixed seed, so never flaky).
#include "tools/client/arrival_schedule.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

namespace shortline::tools {
namespace {

std::vector<double> gaps_ns(ArrivalSchedule& schedule, size_t count) {
  std::vector<double> gaps;
  gaps.reserve(count);
  uint64_t previous = schedule.next_ns();
  for (size_t i = 0; i < count; ++i) {
    schedule.advance();
    EXPECT_GE(schedule.next_ns(), previous);
    gaps.push_back(static_cast<double>(schedule.next_ns() - previous));
    previous = schedule.next_ns();
  }
  return gaps;
}

TEST(ArrivalScheduleTest, EvenSpacingIsExactAndStartsAtZero) {
  ArrivalSchedule schedule(4000, false, 1);
  EXPECT_FALSE(schedule.poisson());
  EXPECT_EQ(schedule.next_ns(), 0u);
  for (uint64_t k = 1; k <= 100'000; ++k) {
    schedule.advance();
    ASSERT_EQ(schedule.next_ns(), k * 250'000) << k;
  }
}

TEST(ArrivalScheduleTest, PoissonGapsAreExponentialWithTheRatesMean) {
  constexpr double kRate = 5000;
  constexpr double kMeanNs = 1e9 / kRate;
  ArrivalSchedule schedule(kRate, true, 42);
  EXPECT_TRUE(schedule.poisson());
  EXPECT_EQ(schedule.next_ns(), 0u);
  const auto gaps = gaps_ns(schedule, 200'000);
  double sum = 0;
  double below_mean = 0;
  for (const double gap : gaps) {
    sum += gap;
    if (gap < kMeanNs) ++below_mean;
  }
  const double mean = sum / static_cast<double>(gaps.size());
  double squares = 0;
  for (const double gap : gaps) squares += (gap - mean) * (gap - mean);
  const double deviation = std::sqrt(squares / static_cast<double>(gaps.size()));
  EXPECT_NEAR(mean / kMeanNs, 1.0, 0.01);
  EXPECT_NEAR(deviation / mean, 1.0, 0.02);  // exponential: standard deviation = mean
  // P(gap < mean) = 1 - 1/e for an exponential; even spacing would give 0 or 1.
  EXPECT_NEAR(below_mean / static_cast<double>(gaps.size()), 1.0 - std::exp(-1.0), 0.01);
}

TEST(ArrivalScheduleTest, PoissonIsReproducibleFromItsSeed) {
  ArrivalSchedule a(1000, true, 7);
  ArrivalSchedule b(1000, true, 7);
  ArrivalSchedule c(1000, true, 8);
  bool differs = false;
  for (int i = 0; i < 1000; ++i) {
    a.advance();
    b.advance();
    c.advance();
    ASSERT_EQ(a.next_ns(), b.next_ns());
    differs = differs || a.next_ns() != c.next_ns();
  }
  EXPECT_TRUE(differs);
}

}  // namespace
}  // namespace shortline::tools

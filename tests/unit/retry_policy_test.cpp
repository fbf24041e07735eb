// The client's retry rules: exponential backoff with a cap, jitter bounds, the budget.
#include "tools/client/retry_policy.h"

#include <gtest/gtest.h>

namespace shortline::tools {
namespace {

TEST(RetryPolicy, BackoffDoublesUpToTheCap) {
  RetryPolicy policy;
  policy.backoff_base_ms = 10;
  policy.backoff_max_ms = 75;
  EXPECT_EQ(backoff_us(policy, 1), 10'000U);
  EXPECT_EQ(backoff_us(policy, 2), 20'000U);
  EXPECT_EQ(backoff_us(policy, 3), 40'000U);
  EXPECT_EQ(backoff_us(policy, 4), 75'000U);
  EXPECT_EQ(backoff_us(policy, 100), 75'000U);  // no shift overflow
}

TEST(RetryPolicy, JitterStaysBetweenHalfAndFull) {
  RetryPolicy policy;
  policy.backoff_base_ms = 8;
  policy.backoff_max_ms = 1000;
  EXPECT_EQ(backoff_with_jitter_us(policy, 1, 0.0), 4'000U);
  EXPECT_EQ(backoff_with_jitter_us(policy, 1, 0.5), 6'000U);
  EXPECT_LE(backoff_with_jitter_us(policy, 1, 0.999999), 8'000U);
  EXPECT_LE(backoff_with_jitter_us(policy, 1, 7.0), 8'000U);  // clamped
  policy.backoff_base_ms = 0;
  EXPECT_EQ(backoff_with_jitter_us(policy, 3, 0.7), 0U);
}

TEST(RetryBudget, RetriesNeverExceedTheFraction) {
  RetryBudget budget(0.1);
  for (int i = 0; i < 9; ++i) budget.on_request();
  EXPECT_FALSE(budget.try_spend());  // 1 retry > 0.1 x 9
  budget.on_request();
  EXPECT_TRUE(budget.try_spend());  // 1 <= 0.1 x 10
  EXPECT_FALSE(budget.try_spend());
  for (int i = 0; i < 1000; ++i) {
    budget.on_request();
    (void)budget.try_spend();
    EXPECT_LE(budget.retries() * 10, budget.requests());
  }
  EXPECT_EQ(budget.retries(), 101U);
  EXPECT_GT(budget.denied(), 0U);
}

TEST(RetryBudget, ExactForFractionsWithoutABinaryForm) {
  RetryBudget budget(0.29);
  for (int i = 0; i < 100; ++i) budget.on_request();
  int granted = 0;
  while (budget.try_spend()) ++granted;
  EXPECT_EQ(granted, 29);  // 0.29 x 100 in floating point is 28.999...
}

TEST(RetryBudget, ZeroAllowsNone) {
  RetryBudget budget(0.0);
  for (int i = 0; i < 100; ++i) budget.on_request();
  EXPECT_FALSE(budget.try_spend());
}

}  // namespace
}  // namespace shortline::tools

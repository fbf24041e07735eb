// Restart backoff: doubling from the base, capped, and forgiven after a stable run.
#include <gtest/gtest.h>

#include "control/controller/restart_backoff.h"

namespace shortline::controller {
namespace {

TEST(ControllerBackoffTest, DoublesFromBaseUpToTheCap) {
  const RestartBackoff backoff{250, 8000, 10000};
  EXPECT_EQ(backoff.delay_ms(0), 250u);
  EXPECT_EQ(backoff.delay_ms(1), 500u);
  EXPECT_EQ(backoff.delay_ms(2), 1000u);
  EXPECT_EQ(backoff.delay_ms(3), 2000u);
  EXPECT_EQ(backoff.delay_ms(4), 4000u);
  EXPECT_EQ(backoff.delay_ms(5), 8000u);
  EXPECT_EQ(backoff.delay_ms(6), 8000u);
  EXPECT_EQ(backoff.delay_ms(1000), 8000u);  // no overflow however many crashes
}

TEST(ControllerBackoffTest, CapThatIsNotAPowerOfTwoMultipleIsHitExactly) {
  const RestartBackoff backoff{300, 1000, 10000};
  EXPECT_EQ(backoff.delay_ms(0), 300u);
  EXPECT_EQ(backoff.delay_ms(1), 600u);
  EXPECT_EQ(backoff.delay_ms(2), 1000u);
  EXPECT_EQ(backoff.delay_ms(3), 1000u);
}

TEST(ControllerBackoffTest, BaseEqualToCapNeverGrows) {
  const RestartBackoff backoff{500, 500, 10000};
  EXPECT_EQ(backoff.delay_ms(0), 500u);
  EXPECT_EQ(backoff.delay_ms(7), 500u);
}

TEST(ControllerBackoffTest, StableRunStartsTheScheduleOver) {
  const RestartBackoff backoff{250, 8000, 10000};
  // Crashes in a row keep climbing...
  uint32_t attempt = backoff.next_attempt(0, 100);
  EXPECT_EQ(attempt, 0u);
  attempt = backoff.next_attempt(attempt + 1, 100);
  EXPECT_EQ(attempt, 1u);
  attempt = backoff.next_attempt(attempt + 1, 9999);
  EXPECT_EQ(attempt, 2u);
  EXPECT_EQ(backoff.delay_ms(attempt), 1000u);
  // ...until one run lasts stable_ms: back to the base delay.
  attempt = backoff.next_attempt(attempt + 1, 10000);
  EXPECT_EQ(attempt, 0u);
  EXPECT_EQ(backoff.delay_ms(attempt), 250u);
}

}  // namespace
}  // namespace shortline::controller

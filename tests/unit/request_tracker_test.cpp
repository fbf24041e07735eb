// The client's request tracker: matching replies to attempts, duplicates, late replies,
// timers, and the ring's bound on unfinished requests.
#include "tools/client/request_tracker.h"

#include <gtest/gtest.h>

namespace shortline::tools {
namespace {

constexpr uint64_t kTimeout = 1000;

TEST(RequestTracker, FirstReplyAnswersLaterOnesAreDuplicates) {
  RequestTracker tracker(8);
  tracker.start(1, 100, kTimeout);
  EXPECT_EQ(tracker.unfinished(), 1U);
  uint64_t latency = 0;
  EXPECT_EQ(tracker.on_reply(1, 350, latency), ReplyOutcome::answered);
  EXPECT_EQ(latency, 250U);
  EXPECT_EQ(tracker.unfinished(), 0U);
  EXPECT_EQ(tracker.on_reply(1, 400, latency), ReplyOutcome::duplicate);
  EXPECT_EQ(tracker.on_reply(2, 400, latency), ReplyOutcome::late);  // never sent
  EXPECT_FALSE(tracker.pop_due(100 + kTimeout).has_value());         // its timer is stale
}

TEST(RequestTracker, ReplyToEarlierAttemptCountsOnceWithLatencyFromFirstSend) {
  RequestTracker tracker(8);
  tracker.start(5, 0, kTimeout);
  const auto timeout = tracker.pop_due(kTimeout);
  ASSERT_TRUE(timeout.has_value());
  EXPECT_EQ(timeout->kind, TimerEvent::Kind::timeout);
  EXPECT_EQ(timeout->attempt, 1U);
  tracker.schedule_retry(5, kTimeout + 50);
  const auto resend = tracker.pop_due(kTimeout + 50);
  ASSERT_TRUE(resend.has_value());
  EXPECT_EQ(resend->kind, TimerEvent::Kind::resend);
  tracker.resend(5, kTimeout + 50, kTimeout);
  EXPECT_EQ(tracker.find(5)->attempts, 2U);
  uint64_t latency = 0;
  EXPECT_EQ(tracker.on_reply(5, 1200, latency), ReplyOutcome::answered);  // attempt 1's reply
  EXPECT_EQ(latency, 1200U);
  EXPECT_EQ(tracker.on_reply(5, 1300, latency), ReplyOutcome::duplicate);  // attempt 2's
  EXPECT_FALSE(tracker.pop_due(10 * kTimeout).has_value());
}

TEST(RequestTracker, ReplyWhileAwaitingRetryAnswersAndCancelsTheResend) {
  RequestTracker tracker(8);
  tracker.start(3, 0, kTimeout);
  ASSERT_TRUE(tracker.pop_due(kTimeout).has_value());
  tracker.schedule_retry(3, 2 * kTimeout);
  uint64_t latency = 0;
  EXPECT_EQ(tracker.on_reply(3, kTimeout + 1, latency), ReplyOutcome::answered);
  EXPECT_FALSE(tracker.pop_due(3 * kTimeout).has_value());
}

TEST(RequestTracker, FailedRequestsReplyLate) {
  RequestTracker tracker(8);
  tracker.start(9, 0, kTimeout);
  ASSERT_TRUE(tracker.pop_due(kTimeout).has_value());
  tracker.fail(9);
  EXPECT_EQ(tracker.unfinished(), 0U);
  uint64_t latency = 0;
  EXPECT_EQ(tracker.on_reply(9, 2 * kTimeout, latency), ReplyOutcome::late);
}

TEST(RequestTracker, TimersFireInOrder) {
  RequestTracker tracker(8);
  tracker.start(1, 30, kTimeout);
  tracker.start(2, 10, kTimeout);
  tracker.start(3, 20, kTimeout);
  EXPECT_EQ(tracker.next_timer_ns(), 10 + kTimeout);
  EXPECT_FALSE(tracker.pop_due(kTimeout).has_value());
  EXPECT_EQ(tracker.pop_due(2 * kTimeout)->request_id, 2U);
  EXPECT_EQ(tracker.pop_due(2 * kTimeout)->request_id, 3U);
  EXPECT_EQ(tracker.pop_due(2 * kTimeout)->request_id, 1U);
  EXPECT_FALSE(tracker.pop_due(2 * kTimeout).has_value());
}

TEST(RequestTracker, RingBoundsUnfinishedRequests) {
  RequestTracker tracker(3);  // rounded up to 4
  EXPECT_EQ(tracker.capacity(), 4U);
  for (uint64_t id = 1; id <= 4; ++id) tracker.start(id, 0, kTimeout);
  EXPECT_FALSE(tracker.can_start(5));  // shares a slot with unfinished request 1
  uint64_t latency = 0;
  EXPECT_EQ(tracker.on_reply(1, 5, latency), ReplyOutcome::answered);
  EXPECT_TRUE(tracker.can_start(5));
  tracker.start(5, 6, kTimeout);
  EXPECT_EQ(tracker.on_reply(1, 7, latency), ReplyOutcome::late);  // forgotten: slot reused
  EXPECT_EQ(tracker.fail_all_unfinished(), 4U);
  EXPECT_EQ(tracker.unfinished(), 0U);
  EXPECT_FALSE(tracker.next_timer_ns().has_value());
}

}  // namespace
}  // namespace shortline::tools

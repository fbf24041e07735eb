// ScaleRequest idempotency: a retry (same sequence) gets the same reply and causes no second
// action; a new sequence is a new action; a reused sequence naming another request (the
// balancer restarted) is new; the memory of replies is bounded.
#include <gtest/gtest.h>

#include "control/controller/scale_listener.h"

namespace shortline::controller {
namespace {

wire::ScaleRequest request(wire::ScaleAction action, uint64_t sequence, uint32_t server_id = 0) {
  wire::ScaleRequest r;
  r.action = action;
  r.sequence = sequence;
  r.server_id = server_id;
  return r;
}

// An executor that counts its calls and hands out server ids 100, 101, ...
struct CountingExecutor {
  int calls = 0;
  wire::ScaleReply operator()(const wire::ScaleRequest& r) {
    wire::ScaleReply reply;
    reply.sequence = 0;  // answer_scale_request sets it
    reply.server_id = r.action == wire::ScaleAction::add ? 100 + calls : r.server_id;
    ++calls;
    return reply;
  }
};

TEST(ControllerScaleTest, RetryGetsTheSameReplyWithoutASecondAction) {
  ScaleReplyCache cache(16);
  CountingExecutor executor;
  const ScaleExecutor execute = [&executor](const wire::ScaleRequest& r) { return executor(r); };
  const auto first = answer_scale_request(cache, request(wire::ScaleAction::add, 41), execute);
  EXPECT_TRUE(first.executed);
  EXPECT_EQ(first.reply.sequence, 41u);
  EXPECT_EQ(first.reply.server_id, 100u);
  for (int retry = 0; retry < 3; ++retry) {
    const auto again = answer_scale_request(cache, request(wire::ScaleAction::add, 41), execute);
    EXPECT_FALSE(again.executed);
    EXPECT_EQ(again.reply.sequence, 41u);
    EXPECT_EQ(again.reply.server_id, 100u);  // the same server, not a new one
  }
  EXPECT_EQ(executor.calls, 1);
}

TEST(ControllerScaleTest, NewSequenceIsANewAction) {
  ScaleReplyCache cache(16);
  CountingExecutor executor;
  const ScaleExecutor execute = [&executor](const wire::ScaleRequest& r) { return executor(r); };
  const auto a = answer_scale_request(cache, request(wire::ScaleAction::add, 1), execute);
  const auto b = answer_scale_request(cache, request(wire::ScaleAction::add, 2), execute);
  EXPECT_TRUE(a.executed && b.executed);
  EXPECT_NE(a.reply.server_id, b.reply.server_id);
  // Late retries of either still get their own replies.
  EXPECT_EQ(
      answer_scale_request(cache, request(wire::ScaleAction::add, 1), execute).reply.server_id,
      a.reply.server_id);
  EXPECT_EQ(executor.calls, 2);
}

TEST(ControllerScaleTest, ReusedSequenceForAnotherRequestIsNew) {
  ScaleReplyCache cache(16);
  CountingExecutor executor;
  const ScaleExecutor execute = [&executor](const wire::ScaleRequest& r) { return executor(r); };
  (void)answer_scale_request(cache, request(wire::ScaleAction::add, 5), execute);
  const auto remove =
      answer_scale_request(cache, request(wire::ScaleAction::remove, 5, 100), execute);
  EXPECT_TRUE(remove.executed);
  EXPECT_EQ(remove.reply.server_id, 100u);
  EXPECT_EQ(cache.size(), 1u);  // the new request replaced the old one under its sequence
  EXPECT_EQ(executor.calls, 2);
}

TEST(ControllerScaleTest, MemoryIsBoundedOldestForgottenFirst) {
  ScaleReplyCache cache(3);
  CountingExecutor executor;
  const ScaleExecutor execute = [&executor](const wire::ScaleRequest& r) { return executor(r); };
  for (uint64_t sequence = 1; sequence <= 4; ++sequence)
    (void)answer_scale_request(cache, request(wire::ScaleAction::add, sequence), execute);
  EXPECT_EQ(cache.size(), 3u);
  EXPECT_EQ(cache.find(request(wire::ScaleAction::add, 1)), nullptr);
  EXPECT_NE(cache.find(request(wire::ScaleAction::add, 4)), nullptr);
  cache.clear();
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_TRUE(answer_scale_request(cache, request(wire::ScaleAction::add, 4), execute).executed);
}

}  // namespace
}  // namespace shortline::controller

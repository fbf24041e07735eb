// ScaleRequest idempotency: a retry (same sequence) gets the same reply and causes no second
// action; a new sequence is a new action; a reused sequence naming another request (the
// balancer restarted) is new; the memory of replies is bounded. Several balancers: their
// sequences are told apart by sender, and their ADDs for the same load start one server.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "control/controller/pool_manager.h"
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
  const ScaleExecutor execute = [&executor](const wire::ScaleRequest& r, std::string_view) { return executor(r); };
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
  const ScaleExecutor execute = [&executor](const wire::ScaleRequest& r, std::string_view) { return executor(r); };
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
  const ScaleExecutor execute = [&executor](const wire::ScaleRequest& r, std::string_view) { return executor(r); };
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
  const ScaleExecutor execute = [&executor](const wire::ScaleRequest& r, std::string_view) { return executor(r); };
  for (uint64_t sequence = 1; sequence <= 4; ++sequence)
    (void)answer_scale_request(cache, request(wire::ScaleAction::add, sequence), execute);
  EXPECT_EQ(cache.size(), 3u);
  EXPECT_EQ(cache.find(request(wire::ScaleAction::add, 1)), nullptr);
  EXPECT_NE(cache.find(request(wire::ScaleAction::add, 4)), nullptr);
  cache.clear();
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_TRUE(answer_scale_request(cache, request(wire::ScaleAction::add, 4), execute).executed);
}

TEST(ControllerScaleTest, SendersCountTheirSequencesApart) {
  ScaleReplyCache cache(16);
  CountingExecutor executor;
  const ScaleExecutor execute = [&executor](const wire::ScaleRequest& r, std::string_view) { return executor(r); };
  const auto remove = request(wire::ScaleAction::remove, 1, 7);
  EXPECT_TRUE(answer_scale_request(cache, remove, execute, "127.0.0.1:40001").executed);
  EXPECT_TRUE(answer_scale_request(cache, remove, execute, "127.0.0.1:40002").executed);
  EXPECT_FALSE(answer_scale_request(cache, remove, execute, "127.0.0.1:40001").executed);
  EXPECT_EQ(executor.calls, 2);
}

// A pool whose "servers" are sleep processes in a temporary folder: the PoolManager starts
// and stops real children, which the supervisor kills at the end of the test.
class PoolManagerScaleTest : public ::testing::Test {
 protected:
  static constexpr int64_t kWindowMs = 2000;

  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("controller_scale_test." + std::to_string(::getpid()));
    PoolSettings settings;
    settings.command = "/bin/sleep 600";
    settings.output_dir = dir_.string();
    settings.stop_timeout_ms = 100;
    settings.add_window_ms = kWindowMs;
    PoolLimits limits{100, 50100, 50199, 1, 8};
    manager_.emplace(ServerPool(limits, [](uint16_t) { return true; }), settings, supervisor_,
                     log_);
    ASSERT_EQ(manager_->start(1, 0), "");
  }
  void TearDown() override {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  // Two balancers, each with its own sequences, through the listener's idempotent step.
  wire::ScaleReply ask(std::string_view sender, const wire::ScaleRequest& r, int64_t now_ms) {
    const ScaleExecutor execute = [this, now_ms](const wire::ScaleRequest& q,
                                                 std::string_view from) {
      return manager_->execute(q, now_ms, from);
    };
    return answer_scale_request(cache_, r, execute, sender).reply;
  }

  std::filesystem::path dir_;
  ProcessSupervisor supervisor_;
  ControllerLog log_;
  ScaleReplyCache cache_{64};
  std::optional<PoolManager> manager_;
};

TEST_F(PoolManagerScaleTest, TwoBalancersAskingAddWithinTheCooldownStartOneServer) {
  const auto a = ask("127.0.0.1:40001", request(wire::ScaleAction::add, 1), 1000);
  const auto b = ask("127.0.0.1:40002", request(wire::ScaleAction::add, 1), 1500);
  EXPECT_EQ(a.result, wire::ScaleResult::ok);
  EXPECT_EQ(b.result, wire::ScaleResult::ok);  // answered: done, with the same server
  EXPECT_EQ(b.server_id, a.server_id);
  EXPECT_EQ(b.address.to_string(), a.address.to_string());
  EXPECT_EQ(manager_->pool().active(), 2u);
  EXPECT_EQ(supervisor_.running(ChildRole::server), 2u);
  EXPECT_EQ(manager_->stats().added, 1u);
  EXPECT_EQ(manager_->stats().coalesced, 1u);
  // After the window the pool's reports have reached every balancer: a new ADD is new.
  const auto later = ask("127.0.0.1:40002", request(wire::ScaleAction::add, 2), 1000 + kWindowMs);
  EXPECT_EQ(later.result, wire::ScaleResult::ok);
  EXPECT_NE(later.server_id, a.server_id);
  EXPECT_EQ(manager_->pool().active(), 3u);
}

TEST_F(PoolManagerScaleTest, OneBalancersSecondAddIsItsOwnDecision) {
  const auto a = ask("127.0.0.1:40001", request(wire::ScaleAction::add, 1), 1000);
  const auto b = ask("127.0.0.1:40001", request(wire::ScaleAction::add, 2), 1200);
  EXPECT_NE(b.server_id, a.server_id) << "the asker had its answer: asking again is new";
  EXPECT_EQ(manager_->stats().added, 2u);
  EXPECT_EQ(manager_->stats().coalesced, 0u);
}

TEST_F(PoolManagerScaleTest, AnAddWhoseServerIsGoneIsANewDecision) {
  const auto a = ask("127.0.0.1:40001", request(wire::ScaleAction::add, 1), 1000);
  // An operator (or a balancer) removed the server just started: it takes no load.
  (void)ask("127.0.0.1:40003", request(wire::ScaleAction::remove, 1, a.server_id), 1100);
  const auto b = ask("127.0.0.1:40002", request(wire::ScaleAction::add, 1), 1200);
  EXPECT_EQ(b.result, wire::ScaleResult::ok);
  EXPECT_NE(b.server_id, a.server_id);
  EXPECT_EQ(manager_->stats().added, 2u);
}

TEST_F(PoolManagerScaleTest, RemoveTwiceRemovesOnce) {
  const auto added = ask("127.0.0.1:40001", request(wire::ScaleAction::add, 1), 1000);
  ASSERT_EQ(manager_->pool().active(), 2u);
  const auto remove = [&](std::string_view sender, uint64_t sequence) {
    return ask(sender, request(wire::ScaleAction::remove, sequence, added.server_id), 9000);
  };
  const auto first = remove("127.0.0.1:40001", 2);
  const auto second = remove("127.0.0.1:40002", 1);
  EXPECT_EQ(first.result, wire::ScaleResult::ok);
  EXPECT_EQ(second.result, wire::ScaleResult::ok);  // already on its way out
  EXPECT_EQ(second.server_id, added.server_id);
  EXPECT_EQ(manager_->stats().removed, 1u);
  EXPECT_EQ(manager_->pool().active(), 1u);  // the other server stays: min_servers is 1
}

}  // namespace
}  // namespace shortline::controller

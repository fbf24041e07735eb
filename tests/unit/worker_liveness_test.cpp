// Worker stall detection against a real server table: workers that keep entering batches
// are live, one that stops is named after the stall time, offline ones never are, and a
// worker that catches up clears the stall.
#include <gtest/gtest.h>

#include "control/worker_liveness.h"
#include "dataplane/server_table.h"

namespace shortline {
namespace {

TEST(WorkerLiveness, AWorkerThatStopsTakingBatchesIsNamedAfterTheStallTime) {
  ServerTable table(4, 3);  // three workers
  (void)table.enter_batch(0);
  (void)table.enter_batch(1);  // worker 2 never starts: offline, not stalled
  WorkerLiveness liveness(2000);
  int64_t now = 0;
  for (; now < 5000; now += 100) {  // both running workers keep up
    liveness.check(table, now);
    (void)table.enter_batch(0);
    (void)table.enter_batch(1);
    EXPECT_TRUE(liveness.stalled().empty()) << now;
  }
  // Worker 1 stops: nothing for just under the stall time, then it is named.
  liveness.check(table, now);  // a fresh probe
  const int64_t probe_at = now;
  for (now += 100; now < probe_at + 2000; now += 100) {
    (void)table.enter_batch(0);
    liveness.check(table, now);
    EXPECT_TRUE(liveness.stalled().empty()) << now;
  }
  liveness.check(table, now);
  ASSERT_EQ(liveness.stalled(), std::vector<uint32_t>{1});
  EXPECT_EQ(liveness.stalled_for_ms(), 2000);
  liveness.check(table, now + 500);
  EXPECT_EQ(liveness.stalled_for_ms(), 2500);
  // It catches up: the next check announces a new probe and clears the stall.
  (void)table.enter_batch(1);
  liveness.check(table, now + 600);
  EXPECT_TRUE(liveness.stalled().empty());
  EXPECT_EQ(liveness.stalled_for_ms(), 0);
}

TEST(WorkerLiveness, AStoppingWorkerIsNotAStall) {
  ServerTable table(4, 2);
  (void)table.enter_batch(0);
  (void)table.enter_batch(1);
  WorkerLiveness liveness(2000);
  liveness.check(table, 0);
  table.go_offline(1);  // draining and stopped: it holds no snapshot and takes no batch
  for (int64_t now = 100; now <= 20'000; now += 100) {
    (void)table.enter_batch(0);
    liveness.check(table, now);
    EXPECT_TRUE(liveness.stalled().empty()) << now;
  }
}

}  // namespace
}  // namespace shortline

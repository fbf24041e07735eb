// Reply-latency histograms: bucket edges, merge and quantiles of the plain histogram, and
// the table's per-slot cells that a reused slot restarts from zero.
#include "dataplane/reply_latency.h"

#include <gtest/gtest.h>

#include <cmath>

namespace shortline {
namespace {

TEST(ReplyLatency, BucketsAreUpperBoundsInclusive) {
  EXPECT_EQ(reply_latency_bucket(0), 0u);
  EXPECT_EQ(reply_latency_bucket(50'000), 0u);  // le="5e-05" holds 50 us itself
  EXPECT_EQ(reply_latency_bucket(50'001), 1u);
  EXPECT_EQ(reply_latency_bucket(1'000'000), 4u);
  EXPECT_EQ(reply_latency_bucket(5'000'000'000), kReplyLatencyBuckets - 2);
  EXPECT_EQ(reply_latency_bucket(5'000'000'001), kReplyLatencyBuckets - 1);  // +Inf
  const auto bounds = LatencyHistogram::bounds_seconds();
  EXPECT_DOUBLE_EQ(bounds[0], 50e-6);
  EXPECT_DOUBLE_EQ(bounds[kReplyLatencyBuckets - 2], 5.0);
  EXPECT_TRUE(std::isinf(bounds.back()));
  for (std::size_t b = 1; b < bounds.size(); ++b) EXPECT_LT(bounds[b - 1], bounds[b]);
}

TEST(ReplyLatency, QuantileInterpolatesInsideItsBucket) {
  LatencyHistogram h;
  EXPECT_EQ(h.quantile_seconds(0.99), -1);
  h.counts[4] = 100;  // (0.5 ms, 1 ms]
  h.count = 100;
  EXPECT_NEAR(h.quantile_seconds(0.5), 0.75e-3, 1e-12);
  EXPECT_NEAR(h.quantile_seconds(1.0), 1e-3, 1e-12);
  h.counts.back() = 100;  // as many beyond 5 s
  h.count = 200;
  EXPECT_DOUBLE_EQ(h.quantile_seconds(0.99), 5.0);  // +Inf reads as the last finite bound
  LatencyHistogram other;
  other.counts[0] = 3;
  other.count = 3;
  other.sum_seconds = 1;
  h.merge(other);
  EXPECT_EQ(h.count, 203u);
  EXPECT_EQ(h.counts[0], 3u);
  EXPECT_DOUBLE_EQ(h.sum_seconds, 1.0);
}

TEST(ReplyLatency, TableSumsWorkersPerSlotAndInTotal) {
  ReplyLatencyTable table(4, 2);
  table.record(0, 1, 7, 80'000);     // worker 0, slot 1: 80 us
  table.record(1, 1, 7, 2'000'000);  // worker 1, slot 1: 2 ms
  table.record(1, 2, 3, 400'000);
  const LatencyHistogram slot1 = table.server(1, 7);
  EXPECT_EQ(slot1.count, 2u);
  EXPECT_EQ(slot1.counts[1], 1u);
  EXPECT_EQ(slot1.counts[5], 1u);
  EXPECT_NEAR(slot1.sum_seconds, 2.08e-3, 1e-12);
  EXPECT_EQ(table.server(2, 3).count, 1u);
  EXPECT_EQ(table.server(0, 1).count, 0u);
  EXPECT_EQ(table.whole().count, 3u);
}

TEST(ReplyLatency, ReusedSlotStartsFromZeroButTheTotalKeepsCounting) {
  ReplyLatencyTable table(4, 1);
  table.record(0, 1, 1, 80'000);
  table.record(0, 1, 1, 80'000);
  EXPECT_EQ(table.server(1, 2).count, 0u);  // the next server there: nothing of the last
  table.record(0, 1, 2, 3'000'000);
  EXPECT_EQ(table.server(1, 2).count, 1u);
  EXPECT_EQ(table.server(1, 1).count, 0u);  // the cell now belongs to generation 2
  EXPECT_EQ(table.whole().count, 3u);       // monotonic: a counter never goes back
}

TEST(ReplyLatency, SlotsPastTheCapCountOnlyInTheTotal) {
  ReplyLatencyTable table(ReplyLatencyTable::kSlotsMax + 10, 1);
  EXPECT_EQ(table.covered_slots(), ReplyLatencyTable::kSlotsMax);
  EXPECT_EQ(table.bytes(), (ReplyLatencyTable::kSlotsMax + 1) * sizeof(LatencyCell));
  table.record(0, ReplyLatencyTable::kSlotsMax + 5, 1, 80'000);
  EXPECT_EQ(table.server(ReplyLatencyTable::kSlotsMax + 5, 1).count, 0u);
  EXPECT_EQ(table.whole().count, 1u);
  EXPECT_EQ(sizeof(LatencyCell), 192u);  // the README's sizing says so
}

}  // namespace
}  // namespace shortline

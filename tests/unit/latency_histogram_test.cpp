// The client's latency histogram: bucket boundaries, percentile bounds, merge.
#include "tools/client/latency_histogram.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

namespace shortline::tools {
namespace {

TEST(LatencyHistogram, EmptyReportsZero) {
  const LatencyHistogram histogram;
  EXPECT_EQ(histogram.count(), 0U);
  EXPECT_EQ(histogram.percentile_ns(0.5), 0U);
  EXPECT_EQ(histogram.min_ns(), 0U);
  EXPECT_EQ(histogram.mean_ns(), 0.0);
}

TEST(LatencyHistogram, SmallValuesAreExact) {
  LatencyHistogram histogram;
  for (uint64_t v = 0; v < 64; ++v) histogram.record(v);
  EXPECT_EQ(histogram.percentile_ns(0.5), 31U);
  EXPECT_EQ(histogram.percentile_ns(1.0), 63U);
  EXPECT_EQ(histogram.percentile_ns(0.0), 0U);
  EXPECT_EQ(histogram.min_ns(), 0U);
  EXPECT_EQ(histogram.max_ns(), 63U);
}

TEST(LatencyHistogram, BucketsAreContiguousAndMonotone) {
  std::size_t previous = 0;
  for (uint64_t v = 1; v < 1'000'000; v += 1 + v / 50) {
    const std::size_t bucket = LatencyHistogram::bucket_of(v);
    EXPECT_GE(bucket, previous);
    EXPECT_LE(v, LatencyHistogram::bucket_upper_ns(bucket));
    if (bucket > 0) {
      EXPECT_GT(v, LatencyHistogram::bucket_upper_ns(bucket - 1));
    }
    previous = bucket;
  }
  EXPECT_LT(LatencyHistogram::bucket_of(UINT64_MAX), LatencyHistogram::kBucketCount);
  EXPECT_EQ(LatencyHistogram::bucket_upper_ns(LatencyHistogram::kBucketCount - 1), UINT64_MAX);
}

// Against exact percentiles of random samples: never below, at most 1/64 above.
TEST(LatencyHistogram, PercentilesWithinRelativeError) {
  std::mt19937_64 rng(42);
  std::lognormal_distribution<double> draw(11.0, 1.5);  // ~60 us median, long tail
  std::vector<uint64_t> samples;
  LatencyHistogram histogram;
  for (int i = 0; i < 20000; ++i) {
    const auto v = static_cast<uint64_t>(draw(rng));
    samples.push_back(v);
    histogram.record(v);
  }
  std::sort(samples.begin(), samples.end());
  for (double q : {0.5, 0.9, 0.99, 0.999}) {
    const auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(samples.size())));
    const uint64_t exact = samples[rank - 1];
    const uint64_t reported = histogram.percentile_ns(q);
    EXPECT_GE(reported, exact) << q;
    EXPECT_LE(static_cast<double>(reported), static_cast<double>(exact) * (1.0 + 1.0 / 64) + 1)
        << q;
  }
  EXPECT_EQ(histogram.percentile_ns(1.0), samples.back());
}

TEST(LatencyHistogram, MergeAddsCounts) {
  LatencyHistogram a;
  LatencyHistogram b;
  a.record(100);
  b.record(1'000'000);
  b.record(10);
  a.merge(b);
  EXPECT_EQ(a.count(), 3U);
  EXPECT_EQ(a.min_ns(), 10U);
  EXPECT_EQ(a.max_ns(), 1'000'000U);
  EXPECT_NEAR(a.mean_ns(), (100 + 1'000'000 + 10) / 3.0, 1e-6);
}

}  // namespace
}  // namespace shortline::tools

// Log-linear latency buckets and percentiles.
#include "tools/client/latency_histogram.h"

#include <algorithm>
#include <bit>
#include <cassert>
#include <cmath>

namespace shortline::tools {

std::size_t LatencyHistogram::bucket_of(uint64_t value_ns) {
  if (value_ns < kSubBuckets) return static_cast<std::size_t>(value_ns);
  const uint32_t exponent = 63 - static_cast<uint32_t>(std::countl_zero(value_ns));  // >= 6
  const uint32_t shift = exponent - kSubBucketBits;
  const uint64_t sub = (value_ns >> shift) - kSubBuckets;  // 0 .. 63
  return static_cast<std::size_t>(kSubBuckets + shift * kSubBuckets + sub);
}

uint64_t LatencyHistogram::bucket_upper_ns(std::size_t bucket) {
  assert(bucket < kBucketCount);
  if (bucket < kSubBuckets) return bucket;
  const uint64_t shift = (bucket - kSubBuckets) / kSubBuckets;
  const uint64_t sub = (bucket - kSubBuckets) % kSubBuckets;
  const uint64_t lower = (kSubBuckets + sub) << shift;
  return lower + ((uint64_t{1} << shift) - 1);
}

void LatencyHistogram::record(uint64_t value_ns) {
  ++buckets_[bucket_of(value_ns)];
  ++count_;
  min_ns_ = std::min(min_ns_, value_ns);
  max_ns_ = std::max(max_ns_, value_ns);
  sum_ns_ += static_cast<long double>(value_ns);
}

uint64_t LatencyHistogram::percentile_ns(double quantile) const {
  if (count_ == 0) return 0;
  const double clamped = std::clamp(quantile, 0.0, 1.0);
  const auto rank = std::max<uint64_t>(
      1, static_cast<uint64_t>(std::ceil(clamped * static_cast<double>(count_))));
  uint64_t seen = 0;
  for (std::size_t bucket = 0; bucket < kBucketCount; ++bucket) {
    seen += buckets_[bucket];
    if (seen >= rank) return std::min(bucket_upper_ns(bucket), max_ns_);
  }
  return max_ns_;
}

double LatencyHistogram::mean_ns() const {
  return count_ == 0 ? 0.0 : static_cast<double>(sum_ns_ / static_cast<long double>(count_));
}

void LatencyHistogram::merge(const LatencyHistogram& other) {
  for (std::size_t i = 0; i < kBucketCount; ++i) buckets_[i] += other.buckets_[i];
  count_ += other.count_;
  min_ns_ = std::min(min_ns_, other.min_ns_);
  max_ns_ = std::max(max_ns_, other.max_ns_);
  sum_ns_ += other.sum_ns_;
}

}  // namespace shortline::tools

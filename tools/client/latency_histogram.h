// A latency histogram with fixed log-linear buckets, allocated once: values below 64 ns
// are exact, above that each power of two is split into 64 buckets, so a percentile is
// within 1/64 (1.6%) of the true value. Single-threaded.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace shortline::tools {

class LatencyHistogram {
 public:
  static constexpr uint32_t kSubBucketBits = 6;
  static constexpr uint64_t kSubBuckets = uint64_t{1} << kSubBucketBits;
  static constexpr std::size_t kBucketCount = kSubBuckets + (64 - kSubBucketBits) * kSubBuckets;

  void record(uint64_t value_ns);
  // The smallest recorded value v such that at least `quantile` of the samples are <= v,
  // reported as its bucket's upper bound (never below the true value). 0 when empty.
  [[nodiscard]] uint64_t percentile_ns(double quantile) const;
  [[nodiscard]] uint64_t count() const { return count_; }
  [[nodiscard]] uint64_t min_ns() const { return count_ == 0 ? 0 : min_ns_; }
  [[nodiscard]] uint64_t max_ns() const { return max_ns_; }
  [[nodiscard]] double mean_ns() const;
  void merge(const LatencyHistogram& other);

  [[nodiscard]] static std::size_t bucket_of(uint64_t value_ns);
  // Largest value that falls in `bucket`.
  [[nodiscard]] static uint64_t bucket_upper_ns(std::size_t bucket);

 private:
  std::array<uint64_t, kBucketCount> buckets_{};
  uint64_t count_ = 0;
  uint64_t min_ns_ = UINT64_MAX;
  uint64_t max_ns_ = 0;
  long double sum_ns_ = 0;
};

}  // namespace shortline::tools

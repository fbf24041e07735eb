// A log-linear latency histogram shared by the benchmark load generators (bench/e2e's
// shortline-bench-loadgen, bench/quality's shortline-bench-dns-loadgen): fixed size, no
// allocation, ~3% resolution from nanoseconds to hours.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>

namespace shortline::bench {

// 32 linear sub-buckets per power of two of nanoseconds.
class Histogram {
 public:
  static constexpr unsigned kSubBits = 5;
  static constexpr size_t kBuckets = (64 - kSubBits + 1) << kSubBits;

  void record(uint64_t value_ns) {
    ++counts_[index(value_ns)];
    ++total_;
    sum_ns_ += value_ns;
    max_ns_ = std::max(max_ns_, value_ns);
  }

  // The midpoint of the bucket holding the q-quantile, in microseconds.
  [[nodiscard]] double quantile_us(double q) const {
    if (total_ == 0) return 0.0;
    const auto rank = static_cast<uint64_t>(q * static_cast<double>(total_ - 1)) + 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < kBuckets; ++i) {
      seen += counts_[i];
      if (seen >= rank) return static_cast<double>(midpoint(i)) / 1000.0;
    }
    return 0.0;
  }

  [[nodiscard]] uint64_t count() const { return total_; }
  [[nodiscard]] double mean_us() const {
    return total_ == 0 ? 0.0 : static_cast<double>(sum_ns_) / static_cast<double>(total_) / 1e3;
  }
  [[nodiscard]] double max_us() const { return static_cast<double>(max_ns_) / 1e3; }

 private:
  static size_t index(uint64_t v) {
    if (v < (1ULL << kSubBits)) return static_cast<size_t>(v);
    const unsigned exponent = 63U - static_cast<unsigned>(std::countl_zero(v));
    const uint64_t sub = (v >> (exponent - kSubBits)) & ((1ULL << kSubBits) - 1);
    return ((exponent - kSubBits + 1) << kSubBits) + sub;
  }
  static uint64_t midpoint(size_t i) {
    if (i < (1U << kSubBits)) return i;
    const size_t exponent = (i >> kSubBits) + kSubBits - 1;
    const uint64_t width = 1ULL << (exponent - kSubBits);
    const uint64_t low = (1ULL << exponent) + (i & ((1U << kSubBits) - 1)) * width;
    return low + width / 2;
  }

  std::array<uint64_t, kBuckets> counts_{};
  uint64_t total_ = 0;
  uint64_t sum_ns_ = 0;
  uint64_t max_ns_ = 0;
};

}  // namespace shortline::bench

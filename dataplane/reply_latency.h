// Reply-latency histograms: fixed buckets from 50 us to 5 s (1-2.5-5 steps), counted by
// each worker per server slot and in total, summed by the control side when it builds its
// status. A worker writes only its own row (relaxed atomics on cache lines no other
// worker writes); the memory is sized once at start-up and bounded (see ReplyLatencyTable).
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>

namespace shortline {

// Upper bounds of the finite buckets; one more bucket (+Inf) holds the rest.
inline constexpr std::array<uint64_t, 16> kReplyLatencyBoundsNs = {
    50'000,      100'000,     250'000,     500'000,       1'000'000,     2'500'000,
    5'000'000,   10'000'000,  25'000'000,  50'000'000,    100'000'000,   250'000'000,
    500'000'000, 1'000'000'000, 2'500'000'000, 5'000'000'000};
inline constexpr std::size_t kReplyLatencyBuckets = kReplyLatencyBoundsNs.size() + 1;

// The bucket a latency falls in (le semantics: a latency equal to a bound counts in it).
[[nodiscard]] uint32_t reply_latency_bucket(uint64_t latency_ns);

// A histogram as plain values, for status pages and the live page's percentiles.
struct LatencyHistogram {
  // Seconds; the last is +Inf.
  std::array<double, kReplyLatencyBuckets> upper_bounds_seconds = bounds_seconds();
  std::array<uint64_t, kReplyLatencyBuckets> counts{};  // per bucket, NOT cumulative
  double sum_seconds = 0;
  uint64_t count = 0;  // the sum of counts

  void merge(const LatencyHistogram& other);
  // The q-quantile (0 < q <= 1) interpolated linearly inside its bucket, as Prometheus'
  // histogram_quantile does; the highest finite bound when it falls in +Inf; -1 when empty.
  [[nodiscard]] double quantile_seconds(double q) const;
  [[nodiscard]] static std::array<double, kReplyLatencyBuckets> bounds_seconds();
};

// One worker's counts for one slot (or for all its replies). Single writer.
class alignas(64) LatencyCell {
 public:
  void record(uint32_t bucket, uint64_t latency_ns) {
    bump(counts_[bucket], 1);
    bump(sum_ns_, latency_ns);
  }
  // The slot holds another server now: its counts start from zero. The generation is
  // stored last (release), so a reader that sees it also sees the zeros.
  void restart(uint32_t generation);
  [[nodiscard]] uint32_t generation() const { return generation_.load(std::memory_order_acquire); }
  void add_to(LatencyHistogram& histogram) const;

 private:
  static void bump(std::atomic<uint64_t>& value, uint64_t amount) {
    value.store(value.load(std::memory_order_relaxed) + amount, std::memory_order_relaxed);
  }
  std::array<std::atomic<uint64_t>, kReplyLatencyBuckets> counts_{};
  std::atomic<uint64_t> sum_ns_{0};
  std::atomic<uint32_t> generation_{0};
};

// Every worker's cells: per worker one row of covered_slots() per-slot cells plus one
// whole-balancer cell that every reply also counts in. Memory is
// workers x (min(max_servers, kSlotsMax) + 1) x sizeof(LatencyCell) (192 bytes): at the
// defaults (1024 slots) about 192 KiB per worker (1.5 MiB for 8 workers); at the maxima
// (65536 slots, 256 workers) the cap keeps it at 48 MiB instead of 3 GiB. Servers in
// slots past the cap (more than 1024 servers at once) have no histogram of their own
// but still count in the whole-balancer one.
class ReplyLatencyTable {
 public:
  static constexpr uint32_t kSlotsMax = 1024;

  ReplyLatencyTable(uint32_t max_servers, uint32_t workers);

  [[nodiscard]] uint32_t covered_slots() const { return covered_; }
  [[nodiscard]] std::size_t bytes() const {
    return std::size_t{row_} * workers_ * sizeof(LatencyCell);
  }

  // --- worker side: `worker`'s own row only ---
  // `generation` is the slot's ServerSlot::generation the request was sent for.
  void record(uint32_t worker, uint32_t slot, uint32_t generation, uint64_t latency_ns) {
    const uint32_t bucket = reply_latency_bucket(latency_ns);
    LatencyCell* row = &cells_[std::size_t{worker} * row_];
    row[covered_].record(bucket, latency_ns);
    if (slot >= covered_) return;
    if (row[slot].generation() != generation) [[unlikely]] row[slot].restart(generation);
    row[slot].record(bucket, latency_ns);
  }

  // --- control side ---
  // The server now in `slot` (its current generation), all workers; empty past the cap.
  [[nodiscard]] LatencyHistogram server(uint32_t slot, uint32_t generation) const;
  // Every reply of every worker since start.
  [[nodiscard]] LatencyHistogram whole() const;

 private:
  uint32_t workers_;
  uint32_t covered_;
  uint32_t row_;  // covered_ + 1
  std::unique_ptr<LatencyCell[]> cells_;
};

}  // namespace shortline

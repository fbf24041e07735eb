// Reply-latency buckets, the plain histogram's merge and quantile, and the control side's
// sums over the workers' cells.
#include "dataplane/reply_latency.h"

#include <algorithm>
#include <cassert>

namespace shortline {

uint32_t reply_latency_bucket(uint64_t latency_ns) {
  // The first bound >= latency: a binary search, 4 comparisons over 16 bounds.
  const auto at =
      std::lower_bound(kReplyLatencyBoundsNs.begin(), kReplyLatencyBoundsNs.end(), latency_ns);
  return static_cast<uint32_t>(at - kReplyLatencyBoundsNs.begin());
}

std::array<double, kReplyLatencyBuckets> LatencyHistogram::bounds_seconds() {
  std::array<double, kReplyLatencyBuckets> bounds{};
  for (std::size_t b = 0; b < kReplyLatencyBoundsNs.size(); ++b)
    bounds[b] = static_cast<double>(kReplyLatencyBoundsNs[b]) / 1e9;
  bounds.back() = std::numeric_limits<double>::infinity();
  return bounds;
}

void LatencyHistogram::merge(const LatencyHistogram& other) {
  for (std::size_t b = 0; b < kReplyLatencyBuckets; ++b) counts[b] += other.counts[b];
  sum_seconds += other.sum_seconds;
  count += other.count;
}

double LatencyHistogram::quantile_seconds(double q) const {
  if (count == 0) return -1;
  const double rank = std::clamp(q, 0.0, 1.0) * static_cast<double>(count);
  uint64_t below = 0;
  for (std::size_t b = 0; b + 1 < kReplyLatencyBuckets; ++b) {
    const uint64_t through = below + counts[b];
    if (counts[b] != 0 && static_cast<double>(through) >= rank) {
      const double lower = b == 0 ? 0.0 : upper_bounds_seconds[b - 1];
      const double share = (rank - static_cast<double>(below)) / static_cast<double>(counts[b]);
      return lower + (upper_bounds_seconds[b] - lower) * std::max(share, 0.0);
    }
    below = through;
  }
  return upper_bounds_seconds[kReplyLatencyBuckets - 2];  // in +Inf: the last finite bound
}

void LatencyCell::restart(uint32_t generation) {
  for (auto& count : counts_) count.store(0, std::memory_order_relaxed);
  sum_ns_.store(0, std::memory_order_relaxed);
  generation_.store(generation, std::memory_order_release);
}

void LatencyCell::add_to(LatencyHistogram& histogram) const {
  for (std::size_t b = 0; b < kReplyLatencyBuckets; ++b) {
    const uint64_t n = counts_[b].load(std::memory_order_relaxed);
    histogram.counts[b] += n;
    histogram.count += n;
  }
  histogram.sum_seconds += static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9;
}

ReplyLatencyTable::ReplyLatencyTable(uint32_t max_servers, uint32_t workers)
    : workers_(workers),
      covered_(std::min(max_servers, kSlotsMax)),
      row_(covered_ + 1),
      cells_(std::make_unique<LatencyCell[]>(std::size_t{row_} * workers)) {
  assert(max_servers > 0 && workers > 0);
}

LatencyHistogram ReplyLatencyTable::server(uint32_t slot, uint32_t generation) const {
  LatencyHistogram histogram;
  if (slot >= covered_) return histogram;
  for (uint32_t w = 0; w < workers_; ++w) {
    const LatencyCell& cell = cells_[std::size_t{w} * row_ + slot];
    // A cell still holding a previous server's counts (or none yet) adds nothing.
    if (cell.generation() == generation) cell.add_to(histogram);
  }
  return histogram;
}

LatencyHistogram ReplyLatencyTable::whole() const {
  LatencyHistogram histogram;
  for (uint32_t w = 0; w < workers_; ++w) cells_[std::size_t{w} * row_ + covered_].add_to(histogram);
  return histogram;
}

}  // namespace shortline

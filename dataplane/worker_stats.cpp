// Sums over the declared counter list.
#include "dataplane/worker_stats.h"

namespace shortline {

uint64_t StatsTotals::drops() const {
  uint64_t total = 0;
  for (std::size_t i = 0; i < kCounterCount; ++i) {
    if (kCounterInfo[i].is_drop) total += values[i];
  }
  return total;
}

void StatsTotals::add(const StatsTotals& other) {
  for (std::size_t i = 0; i < kCounterCount; ++i) values[i] += other.values[i];
  sessions_open += other.sessions_open;
  sessions_pending += other.sessions_pending;
  sockets_busy += other.sockets_busy;
  sockets_quarantined += other.sockets_quarantined;
  batches += other.batches;
  batch_datagrams += other.batch_datagrams;
}

}  // namespace shortline

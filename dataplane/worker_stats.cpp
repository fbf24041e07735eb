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

}  // namespace shortline

// When to restart a crashed child: exponential backoff from a base delay, capped, and
// forgiven once the child has run long enough to count as healthy again. Pure arithmetic,
// so the schedule is unit-tested without processes.
#pragma once

#include <cassert>
#include <cstdint>

namespace shortline::controller {

struct RestartBackoff {
  uint32_t base_ms = 250;      // delay before the first restart
  uint32_t max_ms = 8000;      // the delay never grows past this
  uint32_t stable_ms = 10000;  // a child that ran this long starts the schedule over

  // Delay before restart number `attempt` (0 = the first restart): base * 2^attempt,
  // capped at max_ms.
  [[nodiscard]] uint32_t delay_ms(uint32_t attempt) const {
    assert(base_ms > 0 && base_ms <= max_ms);
    uint64_t delay = base_ms;
    for (uint32_t i = 0; i < attempt && delay < max_ms; ++i) delay *= 2;
    return delay < max_ms ? static_cast<uint32_t>(delay) : max_ms;
  }

  // The attempt number for the next restart of a child that crashed after running
  // `ran_ms`, having been restarted `attempts_so_far` times since it was last stable.
  [[nodiscard]] uint32_t next_attempt(uint32_t attempts_so_far, int64_t ran_ms) const {
    return ran_ms >= static_cast<int64_t>(stable_ms) ? 0 : attempts_so_far;
  }
};

}  // namespace shortline::controller

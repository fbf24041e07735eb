// Backoff and retry budget arithmetic.
#include "tools/client/retry_policy.h"

#include <algorithm>
#include <cassert>
#include <cmath>

namespace shortline::tools {

uint64_t backoff_us(const RetryPolicy& policy, uint32_t retry) {
  assert(retry >= 1);
  const uint64_t cap_us = uint64_t{policy.backoff_max_ms} * 1000;
  const uint32_t doublings = std::min<uint32_t>(retry - 1, 40);  // no shift overflow
  const uint64_t nominal_us = (uint64_t{policy.backoff_base_ms} * 1000) << doublings;
  return std::min(nominal_us, cap_us);
}

uint64_t backoff_with_jitter_us(const RetryPolicy& policy, uint32_t retry, double unit_random) {
  const uint64_t nominal = backoff_us(policy, retry);
  const uint64_t half = nominal / 2;
  const double random_part = std::clamp(unit_random, 0.0, 1.0) * static_cast<double>(nominal - half);
  return std::min(nominal, half + static_cast<uint64_t>(random_part));
}

RetryBudget::RetryBudget(double ratio)
    : ratio_ppm_(static_cast<uint64_t>(std::llround(std::clamp(ratio, 0.0, 1e6) * 1e6))) {}

bool RetryBudget::try_spend() {
  if ((retries_ + 1) * 1'000'000 > ratio_ppm_ * requests_) {
    ++denied_;
    return false;
  }
  ++retries_;
  return true;
}

}  // namespace shortline::tools

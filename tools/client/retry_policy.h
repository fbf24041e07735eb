// When the client retries: a per-attempt timeout, exponential backoff with jitter between
// attempts, and a retry budget so retries never exceed a fixed fraction of requests (a
// struggling server is not handed a retry storm on top of its load).
#pragma once

#include <cstdint>

namespace shortline::tools {

struct RetryPolicy {
  uint32_t timeout_ms = 1000;    // per attempt
  uint32_t retries_max = 0;      // attempts = 1 + retries_max
  uint32_t backoff_base_ms = 10; // wait before the first retry
  uint32_t backoff_max_ms = 1000;
};

// Nominal wait before retry number `retry` (1 = first retry): base * 2^(retry-1), capped.
[[nodiscard]] uint64_t backoff_us(const RetryPolicy& policy, uint32_t retry);
// With "equal jitter": half the nominal wait plus a random part of the other half, so
// clients that timed out together do not retry together. `unit_random` is in [0, 1).
[[nodiscard]] uint64_t backoff_with_jitter_us(const RetryPolicy& policy, uint32_t retry,
                                              double unit_random);

// Retries allowed so far <= ratio x requests issued so far. Integer arithmetic in parts per
// million, so the bound is exact.
class RetryBudget {
 public:
  explicit RetryBudget(double ratio);
  void on_request() { ++requests_; }
  // Takes one retry from the budget, or returns false when it is spent.
  [[nodiscard]] bool try_spend();
  [[nodiscard]] uint64_t requests() const { return requests_; }
  [[nodiscard]] uint64_t retries() const { return retries_; }
  [[nodiscard]] uint64_t denied() const { return denied_; }

 private:
  uint64_t ratio_ppm_;
  uint64_t requests_ = 0;
  uint64_t retries_ = 0;
  uint64_t denied_ = 0;
};

}  // namespace shortline::tools

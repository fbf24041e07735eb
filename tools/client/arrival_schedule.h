// When an open-loop client issues its requests: evenly spaced at the rate, or as a Poisson
// process (independent exponential gaps with the same mean), which is what many independent
// clients look like together and what queueing results such as M/M/1 assume. Even spacing
// hides queueing that bursty arrivals cause, so balancing-quality runs use --poisson.
#pragma once

#include <cstdint>
#include <random>

namespace shortline::tools {

class ArrivalSchedule {
 public:
  ArrivalSchedule(double rate_per_s, bool poisson, uint64_t seed)
      : interval_ns_(rate_per_s > 0 ? 1e9 / rate_per_s : 0),
        poisson_(poisson),
        rng_(seed),
        gap_ns_(interval_ns_ > 0 ? 1.0 / interval_ns_ : 1.0) {}

  // Offset from the start of the run, in ns, of the next arrival (the first is at 0).
  [[nodiscard]] uint64_t next_ns() const { return static_cast<uint64_t>(next_ns_); }

  // Moves on to the arrival after it.
  void advance() {
    ++count_;
    if (poisson_) {
      next_ns_ += gap_ns_(rng_);
    } else {
      next_ns_ = static_cast<double>(count_) * interval_ns_;  // no drift from summing
    }
  }

  [[nodiscard]] bool poisson() const { return poisson_; }

 private:
  double interval_ns_;
  bool poisson_;
  std::mt19937_64 rng_;
  std::exponential_distribution<double> gap_ns_;  // mean interval_ns_
  uint64_t count_ = 0;
  double next_ns_ = 0;
};

}  // namespace shortline::tools

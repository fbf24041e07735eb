// Service-time draws and simulated work.
#include "tools/server/service_model.h"

#include <algorithm>
#include <cmath>
#include <thread>

namespace shortline::tools {

uint64_t ServiceModel::service_time_us(uint32_t requested_work_us, std::mt19937_64& rng) const {
  double us = mean_us_;
  if (requested_work_us != 0) {
    us = requested_work_us;
  } else if (distribution_ == ServiceDistribution::exponential && mean_us_ > 0) {
    std::exponential_distribution<double> draw(1.0 / mean_us_);
    us = std::min(draw(rng), 100.0 * mean_us_);
  }
  return static_cast<uint64_t>(std::llround(us / speed_));
}

uint64_t ServiceModel::mean_us() const {
  return static_cast<uint64_t>(std::llround(mean_us_ / speed_));
}

void simulate_work(uint64_t duration_us) {
  constexpr uint64_t kSpinBelowUs = 200;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::microseconds(duration_us);
  if (duration_us >= kSpinBelowUs) {
    std::this_thread::sleep_until(deadline);
    return;
  }
  while (std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
}

}  // namespace shortline::tools

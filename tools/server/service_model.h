// How long the reference server works on one request, and the simulated work itself.
#pragma once

#include <chrono>
#include <cstdint>
#include <random>

#include "tools/server/server_options.h"

namespace shortline::tools {

class ServiceModel {
 public:
  ServiceModel(double mean_ms, ServiceDistribution distribution, double speed)
      : mean_us_(mean_ms * 1000.0), distribution_(distribution), speed_(speed) {}

  // Service time for one request: `requested_work_us` when non-zero, else a draw from the
  // distribution; either way divided by the speed. Exponential draws are capped at 100x the
  // mean so one unlucky request cannot stall a worker for minutes.
  [[nodiscard]] uint64_t service_time_us(uint32_t requested_work_us, std::mt19937_64& rng) const;
  // The configured mean after speed, for reports before any request has been served.
  [[nodiscard]] uint64_t mean_us() const;

 private:
  double mean_us_;
  ServiceDistribution distribution_;
  double speed_;
};

// Occupies the calling thread for `duration_us`: sleeps for long durations (an I/O-bound
// service), spins with yields for short ones, where a sleep would overshoot by far.
void simulate_work(uint64_t duration_us);

}  // namespace shortline::tools

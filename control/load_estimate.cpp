// Load combination and speed-to-weight mapping (pure; see the header for the reasoning).
#include "control/load_estimate.h"

#include <algorithm>
#include <cassert>
#include <cmath>

namespace shortline {

int64_t other_load_two_way(uint32_t reported_queue, int64_t in_flight) {
  const int64_t others = int64_t{reported_queue} - std::max<int64_t>(in_flight, 0);
  return std::max<int64_t>(others, 0);
}

int64_t other_load_one_way(uint32_t reported_queue) { return int64_t{reported_queue}; }

int64_t current_load(int64_t other_load, int64_t in_flight, uint64_t requests_total,
                     uint64_t dispatched_at_report, bool one_way) {
  if (one_way) return other_load + static_cast<int64_t>(requests_total - dispatched_at_report);
  return other_load + in_flight;
}

double smooth(double previous, double sample, double elapsed_ms, double tau_ms) {
  assert(tau_ms > 0);
  if (previous < 0) return sample;
  const double alpha = 1.0 - std::exp(-std::max(elapsed_ms, 0.0) / tau_ms);
  return previous + alpha * (sample - previous);
}

std::vector<SpeedWeight> speed_weights(std::span<const SpeedSample> samples) {
  std::vector<double> rates(samples.size(), 0.0);  // requests per microsecond; 0 = unknown
  std::vector<double> known;
  known.reserve(samples.size());
  for (std::size_t i = 0; i < samples.size(); ++i) {
    if (samples[i].service_us_mean <= 0) continue;
    rates[i] = std::max<uint32_t>(samples[i].workers, 1) / samples[i].service_us_mean;
    known.push_back(rates[i]);
  }
  std::vector<SpeedWeight> out(samples.size());
  if (known.empty()) return out;  // nothing measured yet: everyone equal
  const double fastest = *std::max_element(known.begin(), known.end());
  const auto middle = known.begin() + static_cast<std::ptrdiff_t>(known.size() / 2);
  std::nth_element(known.begin(), middle, known.end());
  const double median = *middle;
  for (std::size_t i = 0; i < samples.size(); ++i) {
    const double speed = (rates[i] > 0 ? rates[i] : median) / fastest;
    const double weight = std::round(speed * kWeightScale);
    out[i].speed = speed;
    out[i].weight = static_cast<uint32_t>(std::clamp(weight, 1.0, double{kWeightScale}));
  }
  return out;
}

}  // namespace shortline

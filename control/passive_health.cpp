// Passive health: timeout streaks, the half-open probe and outlier ejection (pure).
#include "control/passive_health.h"

#include <algorithm>

namespace shortline {

void TimeoutStreak::restart(const ServerCounts& now) {
  replies_ = now.replies;
  timeouts_base_ = now.timeouts;
}

uint64_t TimeoutStreak::observe(const ServerCounts& now) {
  if (now.replies != replies_) restart(now);  // an answer breaks the streak
  return now.timeouts - timeouts_base_;
}

void HalfOpenProbe::start(const ServerCounts& now, int64_t now_ms,
                          const PassiveHealthConfig& config) {
  armed_ = false;
  next_ms_ = now_ms + config.request_timeout_ms;
  replies_base_ = now.replies;
  timeouts_base_ = now.timeouts;
}

HalfOpenProbe::Step HalfOpenProbe::step(const ServerCounts& now, int64_t now_ms,
                                        const PassiveHealthConfig& config, bool token_taken) {
  if (now.replies != replies_base_) return Step::answered;  // even a late one: it lives
  if (!armed_) {
    if (now_ms < next_ms_) return Step::wait;
    armed_ = true;
    armed_ms_ = now_ms;
    timeouts_base_ = now.timeouts;
    ++probes_;
    return Step::arm;
  }
  // A probe that a worker took but could not send (no socket) never times out: after twice
  // the request timeout it counts as failed, and the next one is armed.
  const bool timed_out = now.timeouts != timeouts_base_;
  const bool lost = token_taken && now_ms - armed_ms_ > 2 * config.request_timeout_ms;
  if (!timed_out && !lost) return Step::wait;
  armed_ = false;
  next_ms_ = now_ms + config.probe_interval_ms;
  timeouts_base_ = now.timeouts;
  return Step::failed;
}

std::size_t ejection_cap(std::size_t pool_size, uint32_t max_percent) {
  if (max_percent == 0 || pool_size < 2) return 0;
  // At least one, never the pool's last server, whatever the percentage.
  return std::clamp<std::size_t>(pool_size * max_percent / 100, 1, pool_size - 1);
}

std::vector<std::size_t> find_outliers(std::span<const OutlierSample> samples,
                                       const PassiveHealthConfig& config) {
  std::vector<std::size_t> out;
  if (config.outlier_failure_ratio <= 0) return out;
  uint64_t requests = 0;
  uint64_t failures = 0;
  std::size_t ejected = 0;
  for (const auto& s : samples) {
    requests += s.requests;
    failures += s.failures;
    ejected += s.ejected ? 1 : 0;
  }
  const std::size_t cap = ejection_cap(samples.size(), config.outlier_max_ejected_percent);
  if (ejected >= cap) return out;
  std::vector<std::pair<double, std::size_t>> candidates;
  for (std::size_t i = 0; i < samples.size(); ++i) {
    const OutlierSample& s = samples[i];
    if (s.ejected || s.requests < PassiveHealthConfig::kOutlierRequestsMin) continue;
    const double rate = static_cast<double>(s.failures) / static_cast<double>(s.requests);
    const uint64_t others_requests = requests - s.requests;
    const double others_rate =
        others_requests == 0
            ? 0.0
            : static_cast<double>(failures - s.failures) / static_cast<double>(others_requests);
    if (rate >= PassiveHealthConfig::kOutlierRateMin &&
        rate >= config.outlier_failure_ratio * others_rate)
      candidates.emplace_back(rate, i);
  }
  std::sort(candidates.begin(), candidates.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  for (const auto& [rate, index] : candidates) {
    if (ejected + out.size() >= cap) break;
    out.push_back(index);
  }
  return out;
}

}  // namespace shortline

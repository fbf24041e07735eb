// Report ingest, speeds and weights: each server's service time from its fresh reports or,
// without them, from the workers' estimates (dataplane/service_estimate.h), turned into
// weights on the 1000 scale (shortest expected delay), then slow start.
#include <algorithm>
#include <cmath>

#include "control/load_estimate.h"
#include "control/report_ingest.h"

namespace shortline {

// The workers' estimates for the slot's current server, each worker with enough replies
// counting alike; below 0 when none has.
double ReportIngest::merged_learnt_us(uint32_t slot, uint64_t& samples) const {
  const uint32_t generation = table_.slot(slot).generation.load(std::memory_order_relaxed);
  double sum_ns = 0;
  uint32_t counted = 0;
  samples = 0;
  for (uint32_t w = 0; w < table_.workers(); ++w) {
    const LearntService::Reading r = table_.learnt(w, slot).read(generation);
    samples += r.samples;
    if (r.service_ns < 0 || r.samples < config_.learnt_samples_min) continue;
    sum_ns += r.service_ns;
    ++counted;
  }
  return counted == 0 ? -1.0 : sum_ns / counted / 1000.0;
}

// Reports, when they carry a service time, win: they measure service alone. A static
// backend given a weight other than 1 keeps it (the operator's word). Otherwise replies
// (when learn_speed); without learn_speed, static backends keep their weights.
void ReportIngest::choose_speed_source(ServerEntry& e, uint32_t slot, int64_t now_ms) {
  uint64_t samples = 0;
  e.learnt_service_us = merged_learnt_us(slot, samples);
  if (samples != e.learnt_samples) {
    e.learnt_samples = samples;
    e.learnt_fresh_ms = now_ms;
  }
  const bool operator_weight = e.is_static && (!config_.learn_speed || e.configured_weight != 1);
  if (e.has_reported && e.service_us > 0) {
    e.speed_source = SpeedSource::report;
    e.service_per_request_us = e.service_us / std::max<uint16_t>(e.workers, 1);
  } else if (!operator_weight && config_.learn_speed && e.learnt_service_us > 0) {
    const bool stale = now_ms - e.learnt_fresh_ms > config_.learnt_stale_ms;
    e.speed_source = stale ? SpeedSource::stale : SpeedSource::replies;
    e.service_per_request_us = e.learnt_service_us;  // already per request (workers folded in)
  } else if (operator_weight) {
    e.speed_source = SpeedSource::configured;
    e.service_per_request_us = -1;
  } else {
    e.speed_source = SpeedSource::unknown;
    e.service_per_request_us = -1;
  }
}

void ReportIngest::apply_slow_start(ServerEntry& e, int64_t now_ms) {
  e.ramp = 1;
  if (config_.slow_start_ms <= 0 || e.ramp_since_ms == ServerEntry::kNoRamp) return;
  const double elapsed = static_cast<double>(now_ms - e.ramp_since_ms);
  if (elapsed >= static_cast<double>(config_.slow_start_ms)) {
    e.ramp_since_ms = ServerEntry::kNoRamp;  // ramped
    return;
  }
  e.ramp = std::max(config_.slow_start_floor,
                    elapsed / static_cast<double>(config_.slow_start_ms));
}

// Without learn_speed the weights stand as written (as they always did). Beside learnt
// speeds they are put on the same 1000 scale: the heaviest configured weight reads as the
// fastest server.
void ReportIngest::configured_weight(ServerEntry& e, uint32_t slot) {
  double weight = e.configured_weight;
  if (config_.learn_speed)
    weight = weight * kWeightScale / std::max<uint32_t>(configured_weight_max_, 1);
  e.speed = weight / (config_.learn_speed ? kWeightScale : configured_weight_max_);
  weight = std::max(1.0, weight * e.ramp);
  table_.slot(slot).weight.store(static_cast<uint32_t>(std::lround(weight)),
                                 std::memory_order_relaxed);
}

// The speed on a geometric grid (1, 1/r, 1/r^2, ...), with a dead band of half a step on
// each side of the step held.
double ReportIngest::stepped_speed(ServerEntry& e, double speed) const {
  const double ratio = config_.speed_step_ratio;
  const double steps = -std::log(std::max(speed, 1e-9)) / std::log(ratio);  // 0 = fastest
  if (e.speed_step < 0 || std::fabs(steps - e.speed_step) > 1.5)
    e.speed_step = static_cast<int32_t>(std::lround(steps));
  return std::pow(ratio, -e.speed_step);
}

void ReportIngest::update_weights(int64_t now_ms) {
  std::vector<SpeedSample> samples;
  std::vector<uint32_t> slots;
  samples.reserve(used_slots_.size() + 1);
  slots.reserve(used_slots_.size());
  for (const uint32_t slot : used_slots_) {
    ServerEntry& e = entries_[slot];
    choose_speed_source(e, slot, now_ms);
    apply_slow_start(e, now_ms);
    if (e.speed_source == SpeedSource::configured) {
      configured_weight(e, slot);
      continue;
    }
    samples.push_back({e.service_per_request_us, 1});
    slots.push_back(slot);
  }
  samples.push_back({0, 1});  // a newcomer of unknown speed
  const auto weights = speed_weights(samples);
  for (std::size_t i = 0; i < slots.size(); ++i) {
    ServerEntry& e = entries_[slots[i]];
    const bool explore = e.speed_source == SpeedSource::stale;
    e.speed = explore ? 1.0 : stepped_speed(e, weights[i].speed);
    const double weight = std::max(1.0, e.speed * kWeightScale);
    const double ramped = std::max(1.0, weight * e.ramp);
    table_.slot(slots[i]).weight.store(static_cast<uint32_t>(std::lround(ramped)),
                                       std::memory_order_relaxed);
  }
  unknown_weight_ = weights.back().weight;
}

}  // namespace shortline

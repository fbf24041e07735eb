// Service-time estimates from replies (see the header for the filter).
#include "dataplane/service_estimate.h"

#include <algorithm>

namespace shortline {

void ServiceEstimate::add(uint64_t latency_ns, uint32_t queue_ahead) {
  double sample = static_cast<double>(latency_ns) / (static_cast<double>(queue_ahead) + 1.0);
  ++samples_;
  ++young_;
  if (slow_ < 0) {
    slow_ = fast_ = sample;
    return;
  }
  sample = std::min(sample, kClipRatio * slow_);
  fast_ += kFastGain * (sample - fast_);
  if (fast_ > kJumpRatio * slow_) {  // slowed down a lot: believe it now, settle quickly
    slow_ = fast_;
    boost_left_ = kBoostSamples;
    return;
  }
  // A running mean while young, so the first estimate is not one sample's luck.
  double gain = std::max(kSlowGain, 1.0 / static_cast<double>(young_));
  if (boost_left_ > 0) {
    --boost_left_;
    gain = std::max(gain, kBoostGain);
  }
  slow_ += gain * (sample - slow_);
}

WorkerServiceEstimates::WorkerServiceEstimates(uint32_t max_servers)
    : estimates_(std::make_unique<ServiceEstimate[]>(max_servers)),
      generations_(std::make_unique<uint32_t[]>(max_servers)),
      last_sample_ns_(std::make_unique<uint64_t[]>(max_servers)),
      touched_(std::make_unique<uint32_t[]>(max_servers)),
      is_touched_(std::make_unique<bool[]>(max_servers)) {}

void WorkerServiceEstimates::add(uint32_t slot, uint32_t generation, uint64_t latency_ns,
                                 uint32_t queue_ahead, uint64_t now_ns) {
  if (generations_[slot] != generation) {
    generations_[slot] = generation;
    estimates_[slot].reset();
  } else if (now_ns - last_sample_ns_[slot] > kRelearnAfterNs) {
    estimates_[slot].relearn();
  }
  last_sample_ns_[slot] = now_ns;
  estimates_[slot].add(latency_ns, queue_ahead);
  if (!is_touched_[slot]) {
    is_touched_[slot] = true;
    touched_[touched_count_++] = slot;
  }
}

void WorkerServiceEstimates::publish(ServerTable& table, uint32_t worker) {
  for (uint32_t t = 0; t < touched_count_; ++t) {
    const uint32_t slot = touched_[t];
    const ServiceEstimate& e = estimates_[slot];
    table.learnt(worker, slot).store(generations_[slot], static_cast<uint64_t>(e.service_ns()),
                                     e.samples());
    is_touched_[slot] = false;
  }
  touched_count_ = 0;
}

}  // namespace shortline

// Report ingest, passive and active health: timeouts in a row, the half-open probe,
// outlier ejection and active check verdicts (the rules are in control/passive_health.h).
#include <string>

#include "control/report_ingest.h"

namespace shortline {
namespace {

bool serving(Health health) { return health == Health::up || health == Health::draining; }

}  // namespace

void ReportIngest::check_timeouts(uint32_t slot, int64_t now_ms) {
  ServerEntry& e = entries_[slot];
  const uint32_t limit = config_.passive.timeouts_down;
  if (limit == 0 || !takes_requests(slot)) return;
  const ServerCounts counts = counts_of(slot);
  const uint64_t streak = e.streak.observe(counts);
  if (streak < limit) return;
  mark_down(slot, Health::down_timeouts, now_ms,
            std::to_string(streak).append(" timed out, no reply between"));
  e.probe.start(counts, now_ms, config_.passive);
}

void ReportIngest::check_probe(uint32_t slot, int64_t now_ms) {
  ServerEntry& e = entries_[slot];
  if (e.health != Health::down_timeouts) return;
  ServerSlot& s = table_.slot(slot);
  const bool probing = s.state.load(std::memory_order_relaxed) == ServerState::probing;
  const bool taken = probing && s.probe_token.load(std::memory_order_acquire) == 0;
  switch (e.probe.step(counts_of(slot), now_ms, config_.passive, taken)) {
    case HalfOpenProbe::Step::wait: return;
    case HalfOpenProbe::Step::arm:
      counters_.add(ControlCounter::probes_armed);
      s.probe_token.store(1, std::memory_order_release);
      table_.set_state(slot, ServerState::probing);
      return;
    case HalfOpenProbe::Step::answered: mark_up(slot, now_ms, "answered a probe"); return;
    case HalfOpenProbe::Step::failed:
      counters_.add(ControlCounter::probes_failed);
      s.probe_token.store(0, std::memory_order_relaxed);
      table_.set_state(slot, ServerState::down);
      return;
  }
}

void ReportIngest::check_ejection_end(uint32_t slot, int64_t now_ms) {
  const ServerEntry& e = entries_[slot];
  if (e.health == Health::ejected && now_ms >= e.ejected_until_ms)
    mark_up(slot, now_ms, "ejection over");
}

// Failure rates over the interval just ended, each server against the rest of the pool.
void ReportIngest::eject_outliers(int64_t now_ms) {
  std::vector<OutlierSample> samples;
  std::vector<uint32_t> slots;
  samples.reserve(used_slots_.size());
  slots.reserve(used_slots_.size());
  for (const uint32_t slot : used_slots_) {
    ServerEntry& e = entries_[slot];
    const ServerCounts now = counts_of(slot);
    const ServerCounts base = std::exchange(e.outlier_base, now);
    if (!serving(e.health) && e.health != Health::ejected) continue;
    samples.push_back({now.requests - base.requests,
                       (now.timeouts - base.timeouts) + (now.errors - base.errors),
                       e.health == Health::ejected});
    slots.push_back(slot);
  }
  for (const std::size_t i : find_outliers(samples, config_.passive)) {
    ServerEntry& e = entries_[slots[i]];
    e.ejections = std::min(e.ejections + 1, PassiveHealthConfig::kEjectionsFactorMax);
    e.ejected_until_ms = now_ms + config_.passive.outlier_ejection_ms * e.ejections;
    const OutlierSample& s = samples[i];
    mark_down(slots[i], Health::ejected, now_ms,
              std::to_string(s.failures)
                  .append(" of ")
                  .append(std::to_string(s.requests))
                  .append(" requests failed, for ")
                  .append(std::to_string(e.ejected_until_ms - now_ms))
                  .append(" ms"));
  }
}

void ReportIngest::on_health_check(uint32_t slot, bool healthy, std::string_view reason,
                                   int64_t now_ms) {
  if (slot >= entries_.size() || !entries_[slot].used) return;
  ServerEntry& e = entries_[slot];
  // Kept even while the server is DOWN for another reason: the checker reports only
  // changes, and that other reason's end must not bring back a server that fails its check.
  e.check_failing = !healthy;
  if (!healthy && serving(e.health)) mark_down(slot, Health::down_check, now_ms, reason);
  else if (healthy && e.health == Health::down_check) mark_up(slot, now_ms, reason);
}

}  // namespace shortline

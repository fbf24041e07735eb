// Report ingest, operator changes: a reload's settings and static backends, and the admin
// endpoint's drain and undrain. Servers keep their health, counts and learnt speeds.
#include <algorithm>
#include <cassert>

#include "control/report_ingest.h"

namespace shortline {

void ReportIngest::set_config(IngestConfig config) {
  assert(config.report_interval_ms > 0 && config.missed_reports > 0);
  config_ = std::move(config);
}

std::optional<uint32_t> ReportIngest::static_slot_of(const NetAddress& address) const {
  for (const uint32_t slot : used_slots_)
    if (entries_[slot].is_static && entries_[slot].address == address) return slot;
  return std::nullopt;
}

std::optional<uint32_t> ReportIngest::add_static_backend(const NetAddress& address,
                                                         uint32_t weight, int64_t now_ms) {
  if (const auto slot = static_slot_of(address)) {
    ServerEntry& e = entries_[*slot];
    if (e.configured_weight != weight) {
      e.configured_weight = weight;
      table_.set_configured_weight(*slot, weight);
      update_configured_weight_max();
      event(e.id, "weight " + std::to_string(weight));
    }
    if (e.retiring) {  // back in the config before it left
      e.retiring = false;
      if (e.health == Health::leaving) e.health = Health::draining;  // mark_up ends it
      mark_up(*slot, now_ms, "back in the config");
    }
    return slot;
  }
  const auto slot = table_.add_server(address, weight);
  if (!slot) return std::nullopt;
  adopt_static(*slot, address, now_ms);
  update_configured_weight_max();
  counters_.add(ControlCounter::backends_added);
  event(entries_[*slot].id, "added at " + address.to_string());
  return slot;
}

bool ReportIngest::remove_static_backend(uint32_t slot, int64_t now_ms) {
  ServerEntry& e = entries_[slot];
  if (!e.used || !e.is_static) return false;
  if (e.retiring) return true;
  e.retiring = true;
  e.leaving_since_ms = now_ms;
  if (!is_down(e.health)) e.health = Health::leaving;
  table_.slot(slot).probe_token.store(0, std::memory_order_relaxed);
  table_.set_state(slot, is_down(e.health) ? ServerState::down : ServerState::draining);
  counters_.add(ControlCounter::backends_removed);
  event(e.id, "leaving (removed)");
  return true;
}

bool ReportIngest::leaving_done(uint32_t slot, int64_t now_ms) const {
  return table_.slot(slot).in_flight.load(std::memory_order_relaxed) <= 0 ||
         now_ms - entries_[slot].leaving_since_ms >= config_.leaving_timeout_ms;
}

void ReportIngest::drain(uint32_t slot, int64_t now_ms) {
  (void)now_ms;
  ServerEntry& e = entries_[slot];
  if (e.operator_drain) return;
  e.operator_drain = true;
  counters_.add(ControlCounter::operator_drains);
  event(e.id, "drained by the operator");
  if (e.health != Health::up) return;  // DOWN or leaving: the flag holds it when it returns
  e.health = Health::draining;
  table_.set_state(slot, ServerState::draining);
}

void ReportIngest::undrain(uint32_t slot, int64_t now_ms) {
  ServerEntry& e = entries_[slot];
  if (!e.operator_drain) return;
  e.operator_drain = false;
  if (e.health == Health::draining) mark_up(slot, now_ms, "undrained by the operator");
  else event(e.id, "undrained by the operator");
}

void ReportIngest::update_configured_weight_max() {
  configured_weight_max_ = 1;
  for (const uint32_t slot : used_slots_)
    if (entries_[slot].is_static)
      configured_weight_max_ = std::max(configured_weight_max_, entries_[slot].configured_weight);
}

}  // namespace shortline

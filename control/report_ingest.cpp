// Report ingest: source and auth checks, registration, state changes, health and weights.
#include "control/report_ingest.h"

#include <algorithm>
#include <cassert>
#include <variant>

#include "control/load_estimate.h"

namespace shortline {
namespace {

constexpr std::size_t kEventsMax = 1024;  // between two take_events(); the rest are dropped

}  // namespace

bool is_down(Health health) {
  switch (health) {
    case Health::down_silent:
    case Health::down_refused:
    case Health::down_timeouts:
    case Health::ejected:
    case Health::down_check: return true;
    case Health::up:
    case Health::draining:
    case Health::leaving: return false;
  }
  return false;
}

std::string_view health_name(Health health) {
  switch (health) {
    case Health::up: return "up";
    case Health::draining: return "draining";
    case Health::leaving: return "leaving";
    case Health::down_silent: return "down: silent";
    case Health::down_refused: return "down: refused";
    case Health::down_timeouts: return "down: timeouts";
    case Health::ejected: return "ejected: outlier";
    case Health::down_check: return "down: health check";
  }
  return "unknown";
}

std::string_view speed_source_name(SpeedSource source) {
  switch (source) {
    case SpeedSource::unknown: return "unknown";
    case SpeedSource::report: return "report";
    case SpeedSource::replies: return "replies";
    case SpeedSource::stale: return "stale";
    case SpeedSource::configured: return "configured";
  }
  return "unknown";
}

int64_t IngestConfig::silence_timeout_ms() const {
  return std::max<int64_t>(int64_t{missed_reports} * report_interval_ms, silence_timeout_ms_min);
}

ReportIngest::ReportIngest(ServerTable& table, IngestConfig config, ControlCounters& counters)
    : table_(table),
      config_(std::move(config)),
      counters_(counters),
      replay_guard_(config_.replay_senders_max),
      entries_(table.capacity()) {
  assert(config_.report_interval_ms > 0 && config_.missed_reports > 0);
  used_slots_.reserve(table.capacity());
  slot_by_id_.reserve(std::min<std::size_t>(table.capacity(), 4096));
}

void ReportIngest::adopt_static_backends(int64_t now_ms) {
  for (const auto& member : table_.members())
    if (!entries_[member.slot].used) adopt_static(member.slot, member.address, now_ms);
}

void ReportIngest::adopt_static(uint32_t slot, const NetAddress& address, int64_t now_ms) {
  ServerEntry& e = entries_[slot];
  e = ServerEntry{};
  e.used = true;
  e.is_static = true;
  e.id = next_static_id_++;
  e.address = address;
  e.errors_base = table_.slot(slot).passive_errors.load();
  e.errors_window_ms = now_ms;
  e.queue_at_ms = now_ms;
  e.streak.restart(counts_of(slot));
  e.outlier_base = counts_of(slot);
  e.configured_weight = table_.slot(slot).weight.load();
  configured_weight_max_ = std::max(configured_weight_max_, e.configured_weight);
  used_slots_.push_back(slot);
  slot_by_id_[e.id] = slot;
}

std::optional<uint32_t> ReportIngest::slot_of(uint32_t id) const {
  const auto it = slot_by_id_.find(id);
  if (it == slot_by_id_.end()) return std::nullopt;
  return it->second;
}

void ReportIngest::on_datagram(std::span<const uint8_t> datagram, const NetAddress& source,
                               int64_t now_ms) {
  if (!source_allowed(config_.allowed_sources, source)) [[unlikely]] {
    counters_.add(ControlCounter::reports_from_disallowed_source);
    return;
  }
  wire::DecodeOptions options;
  if (config_.key) {
    options.key = &*config_.key;
    options.replay_guard = &replay_guard_;
  }
  const wire::Decoded decoded = wire::decode(datagram, options);
  if (!decoded.ok()) [[unlikely]] {
    counters_.add(rejected_counter(decoded.error));
    return;
  }
  const auto* report = std::get_if<wire::ServerReport>(&decoded.message);
  if (report == nullptr) [[unlikely]] {
    counters_.add(ControlCounter::reports_unexpected_type);
    return;
  }
  apply_report(*report, now_ms);
}

void ReportIngest::apply_report(const wire::ServerReport& report, int64_t now_ms) {
  std::optional<uint32_t> slot = slot_of(report.server_id);
  if (slot && !(entries_[*slot].address == report.address)) {
    if (entries_[*slot].is_static) {  // a static backend's address is fixed by config
      counters_.add(ControlCounter::reports_address_conflict);
      return;
    }
    remove(*slot);  // restarted on another port: the old address is gone
    counters_.add(ControlCounter::servers_readdressed);
    event(report.server_id, std::string("moved to ").append(report.address.to_string()));
    slot.reset();
  }
  if (!slot) {
    if (report.state == wire::ServerState::leaving) {
      counters_.add(ControlCounter::reports_ignored_leaving);
      return;
    }
    slot = register_server(report, now_ms);
    if (!slot) return;  // counted
  } else if (stale(entries_[*slot], report.sequence)) {
    counters_.add(ControlCounter::reports_stale);
    return;
  }
  apply_load(*slot, report, now_ms);
  apply_state(*slot, report.state, now_ms);
  counters_.add(ControlCounter::reports_accepted);
}

std::optional<uint32_t> ReportIngest::register_server(const wire::ServerReport& report,
                                                      int64_t now_ms) {
  if (const auto existing = table_.find_server(report.address)) {
    ServerEntry& e = entries_[*existing];
    if (e.is_static && !e.has_reported) {  // a static backend that reports: adopt its id
      slot_by_id_.erase(e.id);
      e.id = report.server_id;
      slot_by_id_[e.id] = *existing;
      return existing;
    }
    // Another id holds the address. Replace it only once it is gone (DOWN or leaving): a
    // live server keeps its address, and the newcomer keeps reporting until then.
    if (e.is_static || !(is_down(e.health) || e.health == Health::leaving)) {
      counters_.add(ControlCounter::reports_address_conflict);
      return std::nullopt;
    }
    remove(*existing);
  }
  // Maglev share 1: reports carry no configured weight, and every balancer must agree.
  const auto slot = table_.add_server(report.address, unknown_weight_, 1);
  if (!slot) {
    counters_.add(ControlCounter::servers_table_full);
    return std::nullopt;
  }
  ServerEntry& e = entries_[*slot];
  e = ServerEntry{};
  e.used = true;
  e.id = report.server_id;
  e.address = report.address;
  e.errors_base = table_.slot(*slot).passive_errors.load();
  e.errors_window_ms = now_ms;
  e.queue_at_ms = now_ms;
  e.streak.restart(counts_of(*slot));
  e.outlier_base = counts_of(*slot);
  e.ramp_since_ms = now_ms;  // a newcomer ramps up (slow_start_ms)
  used_slots_.push_back(*slot);
  slot_by_id_[e.id] = *slot;
  counters_.add(ControlCounter::servers_registered);
  event(e.id, std::string("registered at ").append(e.address.to_string()));
  return slot;
}

// A report at or a little behind the last sequence is a duplicate or reordered; far behind
// means the server restarted and counts from 1 again.
bool ReportIngest::stale(const ServerEntry& entry, uint64_t sequence) const {
  return entry.has_reported && sequence <= entry.last_sequence &&
         entry.last_sequence - sequence < config_.reorder_window;
}

void ReportIngest::apply_load(uint32_t slot, const wire::ServerReport& report, int64_t now_ms) {
  ServerEntry& e = entries_[slot];
  ServerSlot& s = table_.slot(slot);
  if (report.service_time_mean_us > 0) {
    const double elapsed_ms =
        e.last_report_ms < 0 ? 0.0 : static_cast<double>(now_ms - e.last_report_ms);
    e.service_us =
        smooth(e.service_us, report.service_time_mean_us, elapsed_ms, config_.speed_tau_ms);
  }
  e.reported_queue = report.queue_length;
  e.workers = std::max<uint16_t>(report.workers, 1);
  e.last_sequence = report.sequence;
  e.last_report_ms = now_ms;
  e.silent_since_ms = now_ms;
  e.has_reported = true;
  if (config_.one_way) {
    s.other_load.store(other_load_one_way(report.queue_length), std::memory_order_relaxed);
    s.dispatched_at_report.store(s.requests_total.load(std::memory_order_relaxed),
                                 std::memory_order_relaxed);
  } else {
    const int64_t in_flight = s.in_flight.load(std::memory_order_relaxed);
    s.other_load.store(other_load_two_way(report.queue_length, in_flight),
                       std::memory_order_relaxed);
    s.in_flight_at_report.store(in_flight, std::memory_order_relaxed);
    s.load_reported.store(true, std::memory_order_release);
  }
}

void ReportIngest::apply_state(uint32_t slot, wire::ServerState state, int64_t now_ms) {
  ServerEntry& e = entries_[slot];
  const bool was_draining = e.health == Health::draining || e.health == Health::leaving;
  switch (state) {
    case wire::ServerState::leaving:
    case wire::ServerState::draining:
      if (!was_draining) counters_.add(ControlCounter::servers_draining);
      if (e.health != Health::leaving && state == wire::ServerState::leaving) {
        event(e.id, "leaving");
        e.leaving_since_ms = now_ms;
      }
      if (!was_draining && state == wire::ServerState::draining) event(e.id, "draining");
      e.health = state == wire::ServerState::leaving ? Health::leaving : Health::draining;
      table_.set_state(slot, ServerState::draining);
      return;
    case wire::ServerState::up:
      if (e.health == Health::up || (e.health == Health::draining && e.operator_drain)) return;
      // Refusals outrank reports for a while: the reporter may live while the data port
      // is closed. Timeouts, ejection and failed checks outrank them until the data path
      // itself says otherwise (a probe answered, the ejection over, a check passed).
      if (e.health == Health::down_refused &&
          now_ms - e.down_since_ms < config_.refused_probation_ms)
        return;
      if (e.health == Health::down_timeouts || e.health == Health::ejected ||
          e.health == Health::down_check)
        return;
      mark_up(slot, now_ms, "reported up");
      return;
  }
}

void ReportIngest::mark_up(uint32_t slot, int64_t now_ms, std::string_view why) {
  ServerEntry& e = entries_[slot];
  if (e.retiring) return;  // removed from the config: it only drains now
  if (e.check_failing) {  // another reason ended, but the active check still fails
    if (e.health != Health::down_check)
      mark_down(slot, Health::down_check, now_ms, "its health check still fails");
    return;
  }
  if (is_down(e.health)) {
    counters_.add(ControlCounter::servers_up_again);
    e.ramp_since_ms = now_ms;  // back from DOWN: slow start again
  }
  if (e.health != Health::up) {
    std::string line("up");
    if (!why.empty()) line.append(" (").append(why).append(")");
    event(e.id, line);
  }
  e.health = e.operator_drain ? Health::draining : Health::up;
  e.errors_base = table_.slot(slot).passive_errors.load(std::memory_order_relaxed);
  e.errors_window_ms = now_ms;
  e.streak.restart(counts_of(slot));
  table_.slot(slot).probe_token.store(0, std::memory_order_relaxed);
  table_.set_state(slot, e.operator_drain ? ServerState::draining : ServerState::up);
}

namespace {

ControlCounter down_counter(Health why) {
  switch (why) {
    case Health::down_silent: return ControlCounter::servers_down_silent;
    case Health::down_refused: return ControlCounter::servers_down_refused;
    case Health::down_timeouts: return ControlCounter::servers_down_timeouts;
    case Health::ejected: return ControlCounter::servers_ejected;
    default: return ControlCounter::servers_down_check;
  }
}

}  // namespace

void ReportIngest::mark_down(uint32_t slot, Health why, int64_t now_ms, std::string_view detail) {
  assert(is_down(why));
  ServerEntry& e = entries_[slot];
  // Silence alone, on a server that was taking new requests, leaves the data plane a
  // fallback (fail_open); other faults, draining and leaving servers do not.
  const bool only_silent = why == Health::down_silent && e.health == Health::up &&
                           !e.operator_drain;
  e.health = why;
  e.down_since_ms = now_ms;
  table_.slot(slot).probe_token.store(0, std::memory_order_relaxed);
  table_.set_state(slot, only_silent ? ServerState::silent : ServerState::down);
  counters_.add(ControlCounter::servers_down);
  counters_.add(down_counter(why));
  std::string line(health_name(why));
  if (why == Health::down_silent)
    line.append(" for ").append(std::to_string(config_.silence_timeout_ms())).append(" ms");
  if (!detail.empty()) line.append(" (").append(detail).append(")");
  event(e.id, line);
}

ServerCounts ReportIngest::counts_of(uint32_t slot) const {
  const ServerSlot& s = table_.slot(slot);
  return {s.requests_total.load(std::memory_order_relaxed),
          s.replies_total.load(std::memory_order_relaxed),
          s.timeouts_total.load(std::memory_order_relaxed),
          s.passive_errors.load(std::memory_order_relaxed)};
}

void ReportIngest::remove(uint32_t slot) {
  ServerEntry& e = entries_[slot];
  assert(e.used);
  table_.remove_server(slot);
  if (const auto it = slot_by_id_.find(e.id); it != slot_by_id_.end() && it->second == slot)
    slot_by_id_.erase(it);
  e = ServerEntry{};
  std::erase(used_slots_, slot);
}

void ReportIngest::tick(int64_t now_ms) {
  // Backwards: check_slot may remove the slot it checks, which shifts only later ones.
  for (std::size_t i = used_slots_.size(); i-- > 0;) check_slot(used_slots_[i], now_ms);
  if (now_ms - outliers_at_ms_ >= config_.passive.outlier_interval_ms) {
    outliers_at_ms_ = now_ms;
    eject_outliers(now_ms);
  }
  if (now_ms - weights_at_ms_ >= config_.weight_update_ms) {
    weights_at_ms_ = now_ms;
    update_weights(now_ms);
  }
}

void ReportIngest::discount_unwatched(int64_t gap_ms) {
  counters_.add(ControlCounter::control_stalls);
  for (const uint32_t slot : used_slots_) entries_[slot].silent_since_ms += gap_ms;
}

void ReportIngest::check_slot(uint32_t slot, int64_t now_ms) {
  ServerEntry& e = entries_[slot];
  check_refusals(slot, now_ms);
  check_timeouts(slot, now_ms);
  check_probe(slot, now_ms);
  check_ejection_end(slot, now_ms);
  if ((e.health == Health::leaving || e.retiring) && leaving_done(slot, now_ms)) {
    const uint32_t id = e.id;
    remove(slot);  // left and drained (requests that never come back time out in the workers)
    counters_.add(ControlCounter::servers_removed);
    event(id, "removed");
    return;
  }
  if (e.is_static) {
    // No reports to bring it back: retry after the probation (half-open); more refusals
    // put it DOWN again.
    if (e.health == Health::down_refused &&
        now_ms - e.down_since_ms >= config_.refused_probation_ms)
      mark_up(slot, now_ms, "refusal probation over");
  } else if ((e.health == Health::up || e.health == Health::draining) &&
             now_ms - e.silent_since_ms > config_.silence_timeout_ms()) {
    mark_down(slot, Health::down_silent, now_ms);
  } else if (is_down(e.health) && now_ms - e.down_since_ms >= config_.forget_down_after_ms) {
    const uint32_t id = e.id;
    remove(slot);
    counters_.add(ControlCounter::servers_removed);
    event(id, "removed");
    return;
  }
  e.queue_smoothed = smooth(e.queue_smoothed, static_cast<double>(load_of(slot)),
                            static_cast<double>(now_ms - e.queue_at_ms), config_.queue_tau_ms);
  e.queue_at_ms = now_ms;
}

// UP or DRAINING, or silent: the data plane's fallback while none is UP (fail_open), so
// that timeouts and refusals there end it too.
bool ReportIngest::takes_requests(uint32_t slot) const {
  const Health health = entries_[slot].health;
  return health == Health::up || health == Health::draining ||
         table_.slot(slot).state.load(std::memory_order_relaxed) == ServerState::silent;
}

void ReportIngest::check_refusals(uint32_t slot, int64_t now_ms) {
  ServerEntry& e = entries_[slot];
  const uint32_t errors = table_.slot(slot).passive_errors.load(std::memory_order_relaxed);
  if (takes_requests(slot) && errors - e.errors_base >= config_.refused_errors_down) {
    mark_down(slot, Health::down_refused, now_ms);
    e.errors_base = errors;
    e.errors_window_ms = now_ms;
    return;
  }
  if (now_ms - e.errors_window_ms >= config_.refused_window_ms) {
    e.errors_base = errors;
    e.errors_window_ms = now_ms;
  }
}

int64_t ReportIngest::load_of(uint32_t slot) const {
  const ServerSlot& s = table_.slot(slot);
  const int64_t load = current_load(
      s.other_load.load(std::memory_order_relaxed), s.in_flight.load(std::memory_order_relaxed),
      s.requests_total.load(std::memory_order_relaxed),
      s.dispatched_at_report.load(std::memory_order_relaxed), config_.one_way);
  return std::max<int64_t>(load, 0);
}

std::vector<ScalingServer> ReportIngest::scaling_view() const {
  std::vector<ScalingServer> out;
  out.reserve(used_slots_.size());
  for (const uint32_t slot : used_slots_) {
    const ServerEntry& e = entries_[slot];
    out.push_back({e.id, !e.is_static, e.health == Health::up,
                   e.health == Health::up || is_down(e.health), std::max(e.queue_smoothed, 0.0)});
  }
  return out;
}

void ReportIngest::event(uint32_t id, std::string_view what) {
  if (events_.size() >= kEventsMax) return;
  std::string line("server ");
  events_.push_back(line.append(std::to_string(id)).append(" ").append(what));
}

}  // namespace shortline

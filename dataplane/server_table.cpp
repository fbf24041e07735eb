// Server table: slot management, snapshot publication and epoch-based reclamation.
#include "dataplane/server_table.h"

#include <algorithm>
#include <cassert>

namespace shortline {

ServerTable::ServerTable(uint32_t max_servers, uint32_t workers)
    : capacity_(max_servers),
      maglev_size_(MaglevTable::size_for(max_servers)),
      slots_(std::make_unique<ServerSlot[]>(max_servers)),
      epochs_(std::make_unique<WorkerEpoch[]>(workers)),
      workers_(workers),
      learnt_stride_((max_servers + 3) / 4 * 4),  // 4 cells of 16 bytes per line
      learnt_(std::make_unique<LearntService[]>(std::size_t{learnt_stride_} * workers)),
      reply_latency_(max_servers, workers),
      slot_in_use_(max_servers, false) {
  assert(max_servers > 0 && workers > 0);
  auto empty = std::make_unique<PoolSnapshot>();
  current_.store(empty.get());
  current_owner_ = std::move(empty);
}

ServerTable::~ServerTable() = default;

const PoolSnapshot* ServerTable::enter_batch(uint32_t worker) {
  // seq_cst on both: a worker that saw epoch E also sees every snapshot published
  // before E was announced, so snapshots retired at epochs <= E are no longer in use.
  epochs_[worker].seen.store(global_epoch_.load());
  return current_.load();
}

void ServerTable::go_offline(uint32_t worker) { epochs_[worker].seen.store(kOffline); }

uint64_t ServerTable::announce_epoch() { return global_epoch_.fetch_add(1) + 1; }

std::optional<uint64_t> ServerTable::worker_seen_epoch(uint32_t worker) const {
  const uint64_t seen = epochs_[worker].seen.load();
  if (seen == kOffline) return std::nullopt;
  return seen;
}

void ServerTable::refresh_maglev_locked(PoolSnapshot& next) const {
  if (next.settings.policy != Policy::maglev) {
    next.maglev.reset();
    return;
  }
  std::vector<MaglevBackend> members;
  members.reserve(next.members.size());
  for (const PoolMember& m : next.members) members.push_back({m.address, m.hash_weight, m.slot});
  if (next.maglev && next.maglev->built_from(members, maglev_size_)) return;
  next.maglev = std::make_shared<const MaglevTable>(std::move(members), maglev_size_);
}

void ServerTable::publish_locked(std::unique_ptr<PoolSnapshot> next, uint32_t released_slot) {
  refresh_maglev_locked(*next);
  next->version = current_owner_->version + 1;
  const PoolSnapshot* old = current_.exchange(next.get());
  assert(old == current_owner_.get());
  (void)old;
  const uint64_t retire_epoch = global_epoch_.fetch_add(1) + 1;
  retired_.push_back({retire_epoch, std::move(current_owner_), released_slot});
  current_owner_ = std::move(next);
}

std::optional<uint32_t> ServerTable::free_slot_locked() const {
  for (uint32_t i = 0; i < capacity_; ++i) {
    if (!slot_in_use_[i] && slots_[i].in_flight.load() == 0) return i;
  }
  return std::nullopt;
}

std::optional<uint32_t> ServerTable::add_server(const NetAddress& address, uint32_t weight) {
  return add_server(address, weight, weight);
}

std::optional<uint32_t> ServerTable::add_server(const NetAddress& address, uint32_t weight,
                                                uint32_t hash_weight) {
  std::lock_guard lock(control_mutex_);
  const auto index = free_slot_locked();
  if (!index) return std::nullopt;
  ServerSlot& s = slots_[*index];
  s.other_load.store(0);
  s.load_reported.store(false);
  s.dispatched_at_report.store(s.requests_total.load());
  s.in_flight_at_report.store(s.in_flight.load());
  s.passive_errors.store(0);
  s.probe_token.store(0);
  s.weight.store(std::max<uint32_t>(weight, 1));
  s.generation.fetch_add(1);
  s.state.store(ServerState::up);
  slot_in_use_[*index] = true;
  auto next = std::make_unique<PoolSnapshot>(*current_owner_);
  next->members.push_back({*index, address, hash_weight});
  publish_locked(std::move(next));
  return index;
}

void ServerTable::remove_server(uint32_t slot_index) {
  std::lock_guard lock(control_mutex_);
  assert(slot_index < capacity_);
  slots_[slot_index].state.store(ServerState::down);
  auto next = std::make_unique<PoolSnapshot>(*current_owner_);
  std::erase_if(next->members, [&](const PoolMember& m) { return m.slot == slot_index; });
  publish_locked(std::move(next), slot_index);
}

void ServerTable::set_state(uint32_t slot_index, ServerState state) {
  assert(slot_index < capacity_);
  slots_[slot_index].state.store(state);
}

void ServerTable::set_configured_weight(uint32_t slot_index, uint32_t weight) {
  assert(slot_index < capacity_);
  slots_[slot_index].weight.store(std::max<uint32_t>(weight, 1));
  std::lock_guard lock(control_mutex_);
  auto next = std::make_unique<PoolSnapshot>(*current_owner_);
  for (PoolMember& m : next->members)
    if (m.slot == slot_index) m.hash_weight = weight;
  publish_locked(std::move(next));
}

std::optional<uint32_t> ServerTable::find_server(const NetAddress& address) const {
  std::lock_guard lock(control_mutex_);
  for (const auto& member : current_owner_->members) {
    if (member.address == address) return member.slot;
  }
  return std::nullopt;
}

void ServerTable::set_live_settings(const LiveSettings& settings) {
  std::lock_guard lock(control_mutex_);
  auto next = std::make_unique<PoolSnapshot>(*current_owner_);
  next->settings = settings;
  next->settings_version = current_owner_->settings_version + 1;
  publish_locked(std::move(next));
}

LiveSettings ServerTable::live_settings() const {
  std::lock_guard lock(control_mutex_);
  return current_owner_->settings;
}

std::vector<PoolMember> ServerTable::members() const {
  std::lock_guard lock(control_mutex_);
  return current_owner_->members;
}

std::size_t ServerTable::reclaim() {
  std::lock_guard lock(control_mutex_);
  uint64_t oldest_seen = kOffline;
  for (uint32_t w = 0; w < workers_; ++w) oldest_seen = std::min(oldest_seen, epochs_[w].seen.load());
  std::erase_if(retired_, [&](const Retired& r) {
    if (r.epoch > oldest_seen) return false;
    if (r.released_slot != kNoSlot) slot_in_use_[r.released_slot] = false;
    return true;
  });
  return retired_.size();
}

}  // namespace shortline

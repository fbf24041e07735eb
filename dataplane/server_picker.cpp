// Server picker: per-batch load snapshot, the four policies, delta publication.
#include "dataplane/server_picker.h"

#include <algorithm>
#include <cmath>
#include <utility>

namespace shortline {
namespace {

constexpr int64_t kLoadMax = int64_t{1} << 40;
constexpr uint32_t kWeightMax = 1u << 20;
// Entries of a flow's preference list looked at before it gives up: with half the table's
// servers not UP, 128 skipped entries in a row happen with odds 2^-128.
constexpr uint32_t kMaglevWalkMax = 128;
constexpr uint32_t kNotCandidate = UINT32_MAX;
// Below this many requests in flight a server is never over the load bound. With a few
// requests in the whole pool the mean is noise (with one in flight, its server would be
// "over" 1.25 x the mean), diverting would gain nothing, and every diversion is a flow that
// another balancer, seeing other loads, may place elsewhere. Hot flow sets pass it at once.
constexpr int64_t kLoadBoundFloor = 8;

}  // namespace

ServerPicker::ServerPicker(Policy policy, uint32_t max_servers, uint64_t seed, bool one_way)
    : policy_(policy),
      capacity_(max_servers),
      one_way_(one_way),
      rotation_(static_cast<uint32_t>(seed)),
      random_state_(seed * 0x9e3779b97f4a7c15ULL + 1),
      candidates_(std::make_unique<Candidate[]>(max_servers)),
      heap_(std::make_unique<uint32_t[]>(max_servers)),
      candidate_of_slot_(std::make_unique<uint32_t[]>(max_servers)) {}

uint64_t ServerPicker::next_random() {
  // xorshift64*: a few cycles, plenty for spreading requests.
  random_state_ ^= random_state_ >> 12;
  random_state_ ^= random_state_ << 25;
  random_state_ ^= random_state_ >> 27;
  return random_state_ * 0x2545f4914f6cdd1dULL;
}

// Lemire's multiply-shift: a uniform value below bound without a division.
uint32_t ServerPicker::random_below(uint32_t bound) {
  return static_cast<uint32_t>(((next_random() >> 32) * bound) >> 32);
}

void ServerPicker::begin_batch(const PoolSnapshot& pool, ServerTable& table) {
  count_ = 0;
  total_load_ = 0;
  total_weight_ = 0;
  probe_member_ = kNoServer;
  maglev_ = pool.maglev.get();
  failing_open_ = false;
  const auto members = static_cast<uint32_t>(pool.members.size());
  for (uint32_t m = 0; m < members; ++m) {
    const uint32_t slot_index = pool.members[m].slot;
    ServerSlot& slot = table.slot(slot_index);
    const ServerState state = slot.state.load(std::memory_order_relaxed);
    if (state == ServerState::probing) [[unlikely]]
      claim_probe(m, slot);
    if (state == ServerState::up) add_candidate(m, slot_index, slot);
  }
  // Nothing UP: rather than drop every request, the servers whose only fault is silence.
  if (count_ == 0 && fail_open_) [[unlikely]] {
    for (uint32_t m = 0; m < members; ++m) {
      const uint32_t slot_index = pool.members[m].slot;
      const ServerSlot& slot = table.slot(slot_index);
      if (slot.state.load(std::memory_order_relaxed) == ServerState::silent)
        add_candidate(m, slot_index, slot);
    }
    failing_open_ = count_ != 0;
  }
  if (count_ == 0) return;
  // A random start per batch: ties rotate without falling into lockstep with the order
  // in which clients happen to send.
  const uint32_t start = random_below(count_);
  for (uint32_t c = 0; c < count_; ++c)
    candidates_[c].rank = c >= start ? c - start : c + count_ - start;
  if (policy_ == Policy::shortest_queue) heap_build();
}

void ServerPicker::add_candidate(uint32_t member, uint32_t slot_index, const ServerSlot& slot) {
  int64_t load = slot.other_load.load(std::memory_order_relaxed);
  if (one_way_) {
    load += static_cast<int64_t>(slot.requests_total.load(std::memory_order_relaxed) -
                                 slot.dispatched_at_report.load(std::memory_order_relaxed));
  } else {
    load += slot.in_flight.load(std::memory_order_relaxed);
  }
  // The peers saw the same report and likely did what we did since: count the change
  // in our own in-flight count there once more per peer (reset by the next report,
  // which holds their real share). Placements and replies both, so a server whose
  // queue drains looks emptier too; the peers' share never goes below none. Only for
  // servers that report: others have no "since".
  const bool peer_scaled = !one_way_ && peer_balancers_ != 0 &&
                           slot.load_reported.load(std::memory_order_acquire);
  if (peer_scaled) load += peer_share_change(slot);
  const uint32_t weight = slot.weight.load(std::memory_order_relaxed);
  candidates_[count_] = {member, slot_index, std::clamp(weight, 1u, kWeightMax), 0,
                         std::clamp<int64_t>(load, 0, kLoadMax), peer_scaled};
  candidate_of_slot_[slot_index] = count_;
  total_load_ += candidates_[count_].load;
  total_weight_ += candidates_[count_].weight;
  ++count_;
}

// The peers' likely change at a two-way server since its report: peers x ours, and at
// least minus their whole reported share.
int64_t ServerPicker::peer_share_change(const ServerSlot& slot) const {
  const int64_t ours = slot.in_flight.load(std::memory_order_relaxed) -
                       slot.in_flight_at_report.load(std::memory_order_relaxed);
  const int64_t others = slot.other_load.load(std::memory_order_relaxed);
  return std::max(int64_t{peer_balancers_} * ours, -others);
}

// One atomic exchange per half-open server per batch, only while a server is half-open:
// of all workers, the one that turns the token from 1 to 0 sends the single probe.
void ServerPicker::claim_probe(uint32_t member, ServerSlot& slot) {
  if (probe_member_ != kNoServer || slot.probe_token.load(std::memory_order_relaxed) == 0) return;
  if (slot.probe_token.exchange(0, std::memory_order_acq_rel) != 1) return;
  probe_member_ = static_cast<int32_t>(member);
  probe_slot_ = &slot;
}

// (load_a + 1) / weight_a < (load_b + 1) / weight_b, by cross-multiplication; on a tie the
// faster server, then the rotating rank.
bool ServerPicker::better(const Candidate& a, const Candidate& b) const {
  // Loads are clamped below 2^40 and weights to 2^20, so the products fit in 64 bits.
  const int64_t lhs = (a.load + 1) * int64_t{b.weight};
  const int64_t rhs = (b.load + 1) * int64_t{a.weight};
  if (lhs != rhs) return lhs < rhs;
  if (a.weight != b.weight) return a.weight > b.weight;
  return a.rank < b.rank;
}

void ServerPicker::heap_sift_down(uint32_t position) {
  for (;;) {
    const uint32_t left = 2 * position + 1;
    if (left >= count_) return;
    uint32_t best = left;
    const uint32_t right = left + 1;
    if (right < count_ && better(candidates_[heap_[right]], candidates_[heap_[left]])) best = right;
    if (!better(candidates_[heap_[best]], candidates_[heap_[position]])) return;
    const uint32_t swap = heap_[best];
    heap_[best] = heap_[position];
    heap_[position] = swap;
    position = best;
  }
}

void ServerPicker::heap_build() {
  for (uint32_t c = 0; c < count_; ++c) heap_[c] = c;
  for (uint32_t p = count_ / 2; p-- > 0;) heap_sift_down(p);
}

uint32_t ServerPicker::pick_shortest_queue() {
  const uint32_t chosen = heap_[0];
  charge(chosen);
  heap_sift_down(0);  // only the root's key grew
  return chosen;
}

uint32_t ServerPicker::pick_power_of_two() {
  if (count_ == 1) {
    charge(0);
    return 0;
  }
  const uint32_t first = random_below(count_);
  uint32_t second = random_below(count_ - 1);
  if (second >= first) ++second;
  const uint32_t chosen =
      better(candidates_[second], candidates_[first]) ? second : first;
  charge(chosen);
  return chosen;
}

uint32_t ServerPicker::candidate_at(uint32_t slot) const {
  if (slot >= capacity_) return kNotCandidate;
  const uint32_t c = candidate_of_slot_[slot];
  return c < count_ && candidates_[c].slot == slot ? c : kNotCandidate;
}

// Mirrokni's capacity, weighted: ceil(c x (m + 1) x w / W) with m the load placed so far;
// a server at capacity takes no new flow. At least one candidate is always under it.
bool ServerPicker::over_load_bound(const Candidate& candidate) const {
  if (load_bound_ == 0 || candidate.load < kLoadBoundFloor) return false;
  const double capacity = std::ceil(load_bound_ * static_cast<double>(total_load_ + 1) *
                                    candidate.weight / static_cast<double>(total_weight_));
  return static_cast<double>(candidate.load) + 1 > capacity;
}

uint32_t ServerPicker::pick_maglev(uint64_t flow_hash) {
  uint32_t first = kNotCandidate;  // the flow's own server: its first UP entry
  if (maglev_ != nullptr && !maglev_->empty()) {
    uint32_t position = maglev_->position_of(flow_hash);
    for (uint32_t looked = 0; looked < kMaglevWalkMax; ++looked) {
      const uint32_t c = candidate_at(maglev_->slot_at(position));
      position = maglev_->next(position);
      if (c == kNotCandidate) continue;
      if (first == kNotCandidate) first = c;
      if (over_load_bound(candidates_[c])) continue;
      last_bounded_move_ = c != first;
      return c;
    }
  }
  // No table yet (a policy switch before the control side published one), or nothing UP
  // on the walk (nearly the whole table DOWN): a placement that still follows the flow
  // hash, though another balancer's member order may differ.
  if (first == kNotCandidate) first = static_cast<uint32_t>(((flow_hash >> 32) * count_) >> 32);
  return first;
}

int32_t ServerPicker::pick(uint64_t flow_hash) {
  last_bounded_move_ = false;
  if (probe_member_ != kNoServer) [[unlikely]] {
    const int32_t probe = std::exchange(probe_member_, kNoServer);
    last_queue_ahead_ = 0;
    ++picks_;
    return probe;
  }
  if (count_ == 0) [[unlikely]]
    return kNoServer;
  uint32_t chosen = 0;
  switch (policy_) {
    case Policy::shortest_queue: chosen = pick_shortest_queue(); break;
    case Policy::power_of_two: chosen = pick_power_of_two(); break;
    case Policy::round_robin:
      if (rotation_ >= count_) rotation_ %= count_;  // a division only on wrap-around
      chosen = rotation_++;
      ++candidates_[chosen].load;
      break;
    case Policy::random:
      chosen = random_below(count_);
      ++candidates_[chosen].load;
      break;
    case Policy::maglev:
      chosen = pick_maglev(flow_hash);
      ++candidates_[chosen].load;
      ++total_load_;
      break;
  }
  ++picks_;
  // The pick already counted the request itself.
  last_queue_ahead_ = static_cast<uint32_t>(std::min<int64_t>(candidates_[chosen].load - 1, UINT32_MAX));
  return static_cast<int32_t>(candidates_[chosen].member);
}

uint32_t ServerPicker::load_seen_at(uint32_t slot) const {
  const uint32_t c = candidate_of_slot_[slot];
  if (c >= count_ || candidates_[c].slot != slot) return 0;
  // Read only: raising a non-root key would break the heap, and one flow's request seldom
  // changes where the batch's new ones go.
  return static_cast<uint32_t>(std::min<int64_t>(candidates_[c].load, UINT32_MAX));
}

uint32_t ServerPicker::end_batch() {
  if (probe_member_ != kNoServer) [[unlikely]] {  // no new request came to take it
    probe_slot_->probe_token.store(1, std::memory_order_release);
    probe_member_ = kNoServer;
  }
  const uint32_t picks = picks_;
  picks_ = 0;
  return picks;
}

}  // namespace shortline

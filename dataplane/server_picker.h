// Places a worker's batch of requests on servers. begin_batch() reads each UP member's
// load once (in flight + the part of its reported queue that is not ours); pick() chooses
// by policy and adds a local delta, so a batch sees its own placements. The caller
// publishes what it actually sent (SlotDeltas: one atomic add per server touched), so a
// request dropped after its pick never counts as in flight.
//
// shortest-queue: the UP server with the least (load + 1) / weight, i.e. the shortest
//   expected delay for the new request (the control thread keeps weight proportional to
//   the server's speed, reported or learnt from replies); ties go to the faster server
//   (higher weight), then to the earliest in an order that rotates per batch and per
//   worker (never "lowest id", which herds every worker onto one). A binary heap keeps a
//   batch of k picks over n servers at O(n + k log n).
// Half-open servers (state probing): the worker that takes a server's probe token at
//   begin_batch sends it the batch's first request, whatever the policy; nothing else.
// power-of-two: the lesser (load + 1) / weight of two distinct random UP servers.
// round-robin, random: ignore load and weight.
// maglev: the entry of the snapshot's Maglev table at the flow's hash, the same on every
//   balancer (dataplane/maglev_table.h). With a load bound c (consistent hashing with
//   bounded loads, Mirrokni et al.), a server whose load would pass
//   ceil(c x (total load + 1) x weight / total weight), and is at least 8, is passed over
//   for the next entry of
//   the flow's preference list (the table's next entries) that is under it. Only flows
//   whose own server is over the bound move, and each moves to the same next choice on
//   every balancer that sees similar loads; the rest, and these once the load falls back,
//   stay on their table entry. Entries of servers that are not UP (DOWN, draining,
//   half-open) are skipped the same way: their flows go to the next entries of their
//   lists, spread over the rest, and nobody else's move.
#pragma once

#include <cstdint>
#include <memory>

#include "dataplane/dataplane_config.h"
#include "dataplane/server_table.h"

namespace shortline {

inline constexpr int32_t kNoServer = -1;

class ServerPicker {
 public:
  // one_way: responses_per_request is 0, so load is counted from dispatches since the
  // server's last report instead of from in-flight requests.
  ServerPicker(Policy policy, uint32_t max_servers, uint64_t seed, bool one_way);
  // A reload's new policy; takes effect at the next begin_batch.
  void set_policy(Policy policy) { policy_ = policy; }
  // maglev_load_bound (0 = off, else >= 1).
  void set_load_bound(double bound) { load_bound_ = bound; }
  // Other balancers in front of the same reporting servers (peer_balancers): in
  // shortest-queue and power-of-two the change in our in-flight count at a server since
  // its last report counts 1 + peers, as the peers, seeing that report too, likely placed
  // and were answered there alike.
  void set_peer_balancers(uint32_t peers) { peer_balancers_ = peers; }
  // fail_open: a batch with no server UP places on the servers DOWN only for silence.
  void set_fail_open(bool on) { fail_open_ = on; }
  // Whether this batch's candidates are such silent servers (each pick is a fail-open one).
  [[nodiscard]] bool failing_open() const { return failing_open_; }
  // Whether pick() reads a flow hash (maglev): other policies need none computed.
  [[nodiscard]] bool uses_flow_hash() const { return policy_ == Policy::maglev; }

  // Reads the loads of the snapshot's UP members. The snapshot must outlive the batch.
  void begin_batch(const PoolSnapshot& pool, ServerTable& table);
  // Chooses a server for one request: an index into pool.members, or kNoServer.
  // flow_hash (maglev_flow_hash) is read by the maglev policy only.
  [[nodiscard]] int32_t pick(uint64_t flow_hash = 0);
  // Whether the last pick passed over the flow's own server for the load bound.
  [[nodiscard]] bool last_pick_bounded_move() const { return last_bounded_move_; }
  // The load the last pick() saw at its server before adding the request: how many were
  // ahead of it there (for the service-time estimate).
  [[nodiscard]] uint32_t last_queue_ahead() const { return last_queue_ahead_; }
  // The load this batch sees at `slot`, for a request placed without pick() (an existing
  // flow's). Read only: the request is not added. 0 for a slot that is not a candidate.
  [[nodiscard]] uint32_t load_seen_at(uint32_t slot) const;
  // Ends the batch. Returns the number of picks made in it.
  uint32_t end_batch();

  [[nodiscard]] uint32_t candidates() const { return count_; }

 private:
  struct Candidate {
    uint32_t member;     // index into the snapshot's members
    uint32_t slot;
    uint32_t weight;
    uint32_t rank;       // position in this batch's rotated order (tie-break)
    int64_t load;        // load read at begin_batch plus this batch's placements
    bool peer_scaled;    // each placement here also counts for the peer balancers
  };
  // A placement on candidate c, in this batch's loads.
  void charge(uint32_t c) {
    candidates_[c].load += 1 + (candidates_[c].peer_scaled ? int64_t{peer_balancers_} : 0);
  }

  [[nodiscard]] bool better(const Candidate& a, const Candidate& b) const;
  void heap_sift_down(uint32_t position);
  void heap_build();
  [[nodiscard]] uint32_t pick_shortest_queue();
  [[nodiscard]] uint32_t pick_power_of_two();
  [[nodiscard]] uint32_t pick_maglev(uint64_t flow_hash);
  [[nodiscard]] bool over_load_bound(const Candidate& candidate) const;
  [[nodiscard]] int64_t peer_share_change(const ServerSlot& slot) const;
  void add_candidate(uint32_t member, uint32_t slot_index, const ServerSlot& slot);
  [[nodiscard]] uint32_t candidate_at(uint32_t slot) const;
  void claim_probe(uint32_t member, ServerSlot& slot);
  [[nodiscard]] uint64_t next_random();
  [[nodiscard]] uint32_t random_below(uint32_t bound);

  Policy policy_;
  uint32_t capacity_;                      // server table slots
  bool one_way_;
  uint32_t peer_balancers_ = 0;
  bool fail_open_ = true;
  bool failing_open_ = false;
  double load_bound_ = 2.0;
  const MaglevTable* maglev_ = nullptr;    // this batch's table (maglev policy)
  int64_t total_load_ = 0;                 // of this batch's candidates, with its picks
  uint64_t total_weight_ = 0;              // of this batch's candidates
  bool last_bounded_move_ = false;
  uint32_t count_ = 0;
  uint32_t rotation_ = 0;
  uint64_t random_state_;
  std::unique_ptr<Candidate[]> candidates_;
  std::unique_ptr<uint32_t[]> heap_;       // candidate indices, best first
  uint32_t picks_ = 0;                     // picks made in this batch
  uint32_t last_queue_ahead_ = 0;
  int32_t probe_member_ = kNoServer;       // a half-open server this batch probes
  ServerSlot* probe_slot_ = nullptr;       // its slot, to hand the token back if unused
  std::unique_ptr<uint32_t[]> candidate_of_slot_;  // valid for slots of this batch's candidates
};

}  // namespace shortline

// The server table: fixed cache-line slots with the atomics that workers read and update
// (in-flight counts, state, weight), and the immutable pool snapshot that the control
// side publishes through one atomic pointer and reclaims once every worker has passed a
// batch boundary (per-worker epochs). Workers never lock; the control side may.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "dataplane/live_settings.h"
#include "dataplane/maglev_table.h"
#include "dataplane/net_address.h"
#include "dataplane/reply_latency.h"

namespace shortline {

// probing: DOWN, but one request at a time may go there (half-open): the worker that
// takes ServerSlot::probe_token sends it the first request of its batch.
// silent: DOWN only because its reports stopped. Its data path may well work (a firewall
// or a key that drops the reports, a control thread that cannot keep up), so while no
// server is UP the picker falls back to silent ones (fail_open) instead of dropping.
enum class ServerState : uint8_t { up, draining, down, probing, silent };

struct alignas(64) ServerSlot {
  std::atomic<int64_t> in_flight{0};           // requests of ours awaiting replies
  std::atomic<int64_t> other_load{0};          // reported queue that is not ours (control)
  std::atomic<uint64_t> requests_total{0};     // dispatched by all workers
  // requests_total at the last report (one-way servers: their replies never come back).
  std::atomic<uint64_t> dispatched_at_report{0};
  std::atomic<int64_t> in_flight_at_report{0};  // in_flight at the last report (two-way)
  std::atomic<uint64_t> replies_total{0};
  std::atomic<uint64_t> timeouts_total{0};
  std::atomic<uint32_t> passive_errors{0};     // ECONNREFUSED and send errors seen
  std::atomic<uint32_t> weight{1};
  std::atomic<uint32_t> generation{0};         // bumped when the slot gets a new server
  std::atomic<uint32_t> probe_token{0};        // 1: a probe may be sent (state probing)
  std::atomic<ServerState> state{ServerState::down};
  std::atomic<bool> load_reported{false};      // a report set other_load and the *_at_report
};

// One worker's learnt service time for one slot (dataplane/service_estimate.h), written by
// that worker, read by the control thread. Generation and value share one word so that a
// reader never pairs a new server with the old one's figure.
class LearntService {
 public:
  static constexpr uint64_t kValueBits = 40;  // nanoseconds: up to 18 minutes
  static constexpr uint64_t kValueMax = (uint64_t{1} << kValueBits) - 1;

  void store(uint32_t generation, uint64_t service_ns, uint64_t samples) {
    const uint64_t tag = uint64_t{generation & 0xFFFFFFu} << kValueBits;
    word_.store(tag | std::min(service_ns, kValueMax), std::memory_order_relaxed);
    samples_.store(samples, std::memory_order_relaxed);
  }
  struct Reading {
    double service_ns = -1;  // below 0: nothing learnt for this generation
    uint64_t samples = 0;
  };
  [[nodiscard]] Reading read(uint32_t generation) const {
    const uint64_t word = word_.load(std::memory_order_relaxed);
    if (word == 0 || (word >> kValueBits) != (generation & 0xFFFFFFu)) return {};
    return {static_cast<double>(word & kValueMax), samples_.load(std::memory_order_relaxed)};
  }

 private:
  std::atomic<uint64_t> word_{0};
  std::atomic<uint64_t> samples_{0};
};

struct PoolMember {
  uint32_t slot;
  NetAddress address;
  // The server's share of the Maglev table: its configured weight (1 for a server that
  // joined by reporting). Not the slot's live weight, which follows learnt speed and slow
  // start: a table rebuilt on every speed step would move flows for nothing, and every
  // balancer must weigh a server alike.
  uint32_t hash_weight;
};

// Immutable once published. The live settings travel with the membership so that a
// worker picks up both at the same batch boundary.
struct PoolSnapshot {
  uint64_t version = 0;
  std::vector<PoolMember> members;
  uint64_t settings_version = 0;  // 0: the settings the workers were built with
  LiveSettings settings;
  // The Maglev table of the members, whatever their state, while the policy is maglev (else
  // null); rebuilt when a member joins, leaves or changes its configured weight. State is
  // not in it: the picker skips the entries of servers that are not UP, so a server going
  // DOWN or draining moves its own flows and no other (a rebuild without it would also move
  // about 0.2 % of the others'), at no rebuild cost per health change. Shared by the
  // snapshots that only changed settings; freed with the last one, on the control side.
  std::shared_ptr<const MaglevTable> maglev;
};

class ServerTable {
 public:
  ServerTable(uint32_t max_servers, uint32_t workers);
  ~ServerTable();
  ServerTable(const ServerTable&) = delete;
  ServerTable& operator=(const ServerTable&) = delete;

  [[nodiscard]] uint32_t capacity() const { return capacity_; }
  [[nodiscard]] ServerSlot& slot(uint32_t index) { return slots_[index]; }
  [[nodiscard]] const ServerSlot& slot(uint32_t index) const { return slots_[index]; }
  [[nodiscard]] uint32_t workers() const { return workers_; }
  // Worker `worker`'s learnt service time of slot `index` (one row per worker, rows padded
  // to whole cache lines' worth of cells).
  [[nodiscard]] LearntService& learnt(uint32_t worker, uint32_t index) {
    return learnt_[worker * learnt_stride_ + index];
  }
  [[nodiscard]] const LearntService& learnt(uint32_t worker, uint32_t index) const {
    return learnt_[worker * learnt_stride_ + index];
  }
  // Reply-latency histograms, per worker per slot and in total (dataplane/reply_latency.h).
  [[nodiscard]] ReplyLatencyTable& reply_latency() { return reply_latency_; }
  [[nodiscard]] const ReplyLatencyTable& reply_latency() const { return reply_latency_; }

  // --- worker side (lock-free) ---
  // Marks the start of a batch: the returned snapshot stays valid until the next call
  // (or go_offline) by the same worker.
  [[nodiscard]] const PoolSnapshot* enter_batch(uint32_t worker);
  // The worker holds no snapshot any more (it is stopping).
  void go_offline(uint32_t worker);

  // --- control side (serialised by a mutex; never called from a worker) ---
  // Registers a server in a free slot (state UP) and publishes a new snapshot. hash_weight
  // is its share of the Maglev table (PoolMember); the two-argument form uses `weight`.
  [[nodiscard]] std::optional<uint32_t> add_server(const NetAddress& address, uint32_t weight);
  [[nodiscard]] std::optional<uint32_t> add_server(const NetAddress& address, uint32_t weight,
                                                   uint32_t hash_weight);
  // Takes a server out of the snapshot. Its slot is reused only once no worker can hold a
  // snapshot that still names it (reclaim) and nothing is in flight there.
  void remove_server(uint32_t slot_index);
  void set_state(uint32_t slot_index, ServerState state);
  // A configured weight change: the slot's weight and the member's Maglev share.
  void set_configured_weight(uint32_t slot_index, uint32_t weight);
  [[nodiscard]] uint32_t maglev_size() const { return maglev_size_; }
  [[nodiscard]] std::optional<uint32_t> find_server(const NetAddress& address) const;
  // Publishes new live settings (a reload); workers apply them at their next batch.
  void set_live_settings(const LiveSettings& settings);
  [[nodiscard]] LiveSettings live_settings() const;
  // A copy of the current membership (for status output and tests).
  [[nodiscard]] std::vector<PoolMember> members() const;
  // Frees retired snapshots that no worker can still hold. Returns how many remain.
  std::size_t reclaim();

  // --- liveness (control side; lock-free) ---
  // Moves the global epoch on and returns the new one: every running worker sees it when it
  // next enters a batch.
  uint64_t announce_epoch();
  // The last epoch worker saw in enter_batch, or nothing while it is offline (not started
  // yet, or stopping).
  [[nodiscard]] std::optional<uint64_t> worker_seen_epoch(uint32_t worker) const;
  [[nodiscard]] uint32_t worker_count() const { return workers_; }

 private:
  struct alignas(64) WorkerEpoch {
    std::atomic<uint64_t> seen{kOffline};
  };
  static constexpr uint64_t kOffline = UINT64_MAX;

  void publish_locked(std::unique_ptr<PoolSnapshot> next, uint32_t released_slot = kNoSlot);
  // Builds next's Maglev table, or keeps the current one when its inputs are unchanged.
  void refresh_maglev_locked(PoolSnapshot& next) const;
  [[nodiscard]] std::optional<uint32_t> free_slot_locked() const;

  uint32_t capacity_;
  uint32_t maglev_size_;
  std::unique_ptr<ServerSlot[]> slots_;
  std::unique_ptr<WorkerEpoch[]> epochs_;
  uint32_t workers_;
  uint32_t learnt_stride_;  // capacity rounded up to whole cache lines
  std::unique_ptr<LearntService[]> learnt_;
  ReplyLatencyTable reply_latency_;
  std::atomic<const PoolSnapshot*> current_{nullptr};
  std::atomic<uint64_t> global_epoch_{1};

  mutable std::mutex control_mutex_;
  std::unique_ptr<PoolSnapshot> current_owner_;  // owns *current_
  std::vector<bool> slot_in_use_;
  struct Retired {
    uint64_t epoch;
    std::unique_ptr<PoolSnapshot> snapshot;
    uint32_t released_slot;  // a slot the next snapshot dropped, or kNoSlot
  };
  static constexpr uint32_t kNoSlot = UINT32_MAX;
  std::vector<Retired> retired_;
};

}  // namespace shortline

// The server table: fixed cache-line slots with the atomics that workers read and update
// (in-flight counts, state, weight), and the immutable pool snapshot that the control
// side publishes through one atomic pointer and reclaims once every worker has passed a
// batch boundary (per-worker epochs). Workers never lock; the control side may.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "dataplane/net_address.h"

namespace shortline {

enum class ServerState : uint8_t { up, draining, down };

struct alignas(64) ServerSlot {
  std::atomic<int64_t> in_flight{0};           // requests of ours awaiting replies
  std::atomic<int64_t> other_load{0};          // reported queue that is not ours (control)
  std::atomic<uint64_t> requests_total{0};     // dispatched by all workers
  std::atomic<uint64_t> dispatched_at_report{0};  // requests_total when the last report came
  std::atomic<uint64_t> replies_total{0};
  std::atomic<uint64_t> timeouts_total{0};
  std::atomic<uint32_t> passive_errors{0};     // ECONNREFUSED and send errors seen
  std::atomic<uint32_t> weight{1};
  std::atomic<uint32_t> generation{0};         // bumped when the slot gets a new server
  std::atomic<ServerState> state{ServerState::down};
};

struct PoolMember {
  uint32_t slot;
  NetAddress address;
};

// Immutable once published.
struct PoolSnapshot {
  uint64_t version = 0;
  std::vector<PoolMember> members;
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

  // --- worker side (lock-free) ---
  // Marks the start of a batch: the returned snapshot stays valid until the next call
  // (or go_offline) by the same worker.
  [[nodiscard]] const PoolSnapshot* enter_batch(uint32_t worker);
  // The worker holds no snapshot any more (it is stopping).
  void go_offline(uint32_t worker);

  // --- control side (serialised by a mutex; never called from a worker) ---
  // Registers a server in a free slot (state UP) and publishes a new snapshot.
  [[nodiscard]] std::optional<uint32_t> add_server(const NetAddress& address, uint32_t weight);
  // Takes a server out of the snapshot. Its slot is reused only once no worker can hold a
  // snapshot that still names it (reclaim) and nothing is in flight there.
  void remove_server(uint32_t slot_index);
  void set_state(uint32_t slot_index, ServerState state);
  [[nodiscard]] std::optional<uint32_t> find_server(const NetAddress& address) const;
  // A copy of the current membership (for status output and tests).
  [[nodiscard]] std::vector<PoolMember> members() const;
  // Frees retired snapshots that no worker can still hold. Returns how many remain.
  std::size_t reclaim();

 private:
  struct alignas(64) WorkerEpoch {
    std::atomic<uint64_t> seen{kOffline};
  };
  static constexpr uint64_t kOffline = UINT64_MAX;

  void publish_locked(std::unique_ptr<PoolSnapshot> next, uint32_t released_slot = kNoSlot);
  [[nodiscard]] std::optional<uint32_t> free_slot_locked() const;

  uint32_t capacity_;
  std::unique_ptr<ServerSlot[]> slots_;
  std::unique_ptr<WorkerEpoch[]> epochs_;
  uint32_t workers_;
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

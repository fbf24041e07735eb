// Notices a data-plane worker that stopped taking batches (stuck in a system call, a livelock,
// a bug): the control thread announces a fresh epoch in the server table and waits for every
// running worker to see it. A running worker enters a batch at least once per timer interval
// (at most 100 ms, even when idle), so one still short of the epoch seconds later is stalled —
// and a balancer with a stalled worker drops every flow hashed to that worker's queue, so
// /healthz calls it unhealthy and the routing daemon withdraws the route.
#pragma once

#include <cstdint>
#include <vector>

#include "dataplane/server_table.h"

namespace shortline {

class WorkerLiveness {
 public:
  // Far above the 100 ms a worker may sleep, so that a busy, shared CPU is not a stall.
  static constexpr int64_t kStallMs = 2000;

  explicit WorkerLiveness(int64_t stall_ms = kStallMs) : stall_ms_(stall_ms) {}

  // One check, on the control thread's tick: when every running worker has seen the last
  // probe, announces the next; otherwise, past stall_ms, names the workers still behind.
  void check(ServerTable& table, int64_t now_ms);

  // Workers behind the probe for longer than stall_ms, by id; empty when all are live.
  [[nodiscard]] const std::vector<uint32_t>& stalled() const { return stalled_; }
  // How long the current probe has waited (0 when nothing is stalled).
  [[nodiscard]] int64_t stalled_for_ms() const { return stalled_for_ms_; }

 private:
  [[nodiscard]] std::vector<uint32_t> behind(const ServerTable& table) const;

  int64_t stall_ms_;
  uint64_t probe_epoch_ = 0;  // 0: nothing announced yet
  int64_t probe_ms_ = 0;
  std::vector<uint32_t> stalled_;
  int64_t stalled_for_ms_ = 0;
};

}  // namespace shortline

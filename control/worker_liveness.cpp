// Worker stall detection: see worker_liveness.h.
#include "control/worker_liveness.h"

namespace shortline {

std::vector<uint32_t> WorkerLiveness::behind(const ServerTable& table) const {
  std::vector<uint32_t> workers;
  for (uint32_t w = 0; w < table.worker_count(); ++w) {
    const auto seen = table.worker_seen_epoch(w);
    if (seen && *seen < probe_epoch_) workers.push_back(w);  // offline workers are not late
  }
  return workers;
}

void WorkerLiveness::check(ServerTable& table, int64_t now_ms) {
  std::vector<uint32_t> late = probe_epoch_ == 0 ? std::vector<uint32_t>{} : behind(table);
  if (late.empty()) {
    probe_epoch_ = table.announce_epoch();
    probe_ms_ = now_ms;
    stalled_.clear();
    stalled_for_ms_ = 0;
    return;
  }
  if (now_ms - probe_ms_ < stall_ms_) return;
  stalled_ = std::move(late);
  stalled_for_ms_ = now_ms - probe_ms_;
}

}  // namespace shortline

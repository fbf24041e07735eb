// Per-worker accumulation of in-flight changes by server slot, published with one atomic
// add per slot touched (per batch), so a burst of replies costs a handful of atomics.
#pragma once

#include <cstdint>
#include <memory>

#include "dataplane/server_table.h"

namespace shortline {

class SlotDeltas {
 public:
  explicit SlotDeltas(uint32_t max_servers)
      : in_flight_(std::make_unique<int64_t[]>(max_servers)),
        requests_(std::make_unique<uint32_t[]>(max_servers)),
        replies_(std::make_unique<uint32_t[]>(max_servers)),
        timeouts_(std::make_unique<uint32_t[]>(max_servers)),
        touched_(std::make_unique<uint32_t[]>(max_servers)),
        is_touched_(std::make_unique<bool[]>(max_servers)) {}

  void add_in_flight(uint32_t slot, int64_t amount) { touch(slot); in_flight_[slot] += amount; }
  void add_request(uint32_t slot) { touch(slot); ++requests_[slot]; }
  void add_reply(uint32_t slot) { touch(slot); ++replies_[slot]; }
  void add_timeouts(uint32_t slot, uint32_t count) { touch(slot); timeouts_[slot] += count; }

  void publish(ServerTable& table) {
    for (uint32_t t = 0; t < touched_count_; ++t) {
      const uint32_t s = touched_[t];
      ServerSlot& slot = table.slot(s);
      if (in_flight_[s] != 0) slot.in_flight.fetch_add(in_flight_[s], std::memory_order_relaxed);
      if (requests_[s] != 0) slot.requests_total.fetch_add(requests_[s], std::memory_order_relaxed);
      if (replies_[s] != 0) slot.replies_total.fetch_add(replies_[s], std::memory_order_relaxed);
      if (timeouts_[s] != 0) slot.timeouts_total.fetch_add(timeouts_[s], std::memory_order_relaxed);
      in_flight_[s] = 0;
      requests_[s] = 0;
      replies_[s] = 0;
      timeouts_[s] = 0;
      is_touched_[s] = false;
    }
    touched_count_ = 0;
  }

 private:
  void touch(uint32_t slot) {
    if (is_touched_[slot]) return;
    is_touched_[slot] = true;
    touched_[touched_count_++] = slot;
  }

  std::unique_ptr<int64_t[]> in_flight_;
  std::unique_ptr<uint32_t[]> requests_;
  std::unique_ptr<uint32_t[]> replies_;
  std::unique_ptr<uint32_t[]> timeouts_;
  std::unique_ptr<uint32_t[]> touched_;
  std::unique_ptr<bool[]> is_touched_;
  uint32_t touched_count_ = 0;
};

}  // namespace shortline

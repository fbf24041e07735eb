// The reference server's FIFO request queue: a fixed pool of datagram slots allocated at
// start, a free list, and a blocking FIFO of slot indices (moodycamel) that the workers
// serve. Capacity bounds queued + in-service requests; a full pool is the caller's counted
// drop. One receiver thread acquires and pushes (so the FIFO order is the arrival order);
// any number of workers pop and finish.
#pragma once

#include <concurrentqueue/blockingconcurrentqueue.h>
#include <concurrentqueue/concurrentqueue.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "dataplane/net_address.h"

namespace shortline::tools {

struct RequestSlot {
  NetAddress from;
  uint32_t size_bytes = 0;
  std::chrono::steady_clock::time_point received;
};

class RequestQueue {
 public:
  RequestQueue(uint32_t capacity, uint32_t datagram_bytes_max);

  // Receiver side. acquire() returns nullopt when every slot is queued or in service.
  [[nodiscard]] std::optional<uint32_t> acquire();
  // Returns a slot that was acquired but not pushed (e.g. the receive failed).
  void abandon(uint32_t slot);
  void push(uint32_t slot);

  // Worker side. pop() waits at most `wait`; the popped slot counts as in service until
  // finish() returns it to the free list.
  [[nodiscard]] std::optional<uint32_t> pop(std::chrono::microseconds wait);
  void finish(uint32_t slot);

  [[nodiscard]] RequestSlot& slot(uint32_t index) { return slots_[index]; }
  [[nodiscard]] std::span<uint8_t> buffer(uint32_t index) {
    return std::span<uint8_t>(buffers_).subspan(std::size_t{index} * datagram_bytes_max_,
                                                 datagram_bytes_max_);
  }
  [[nodiscard]] uint32_t queued() const { return queued_.load(std::memory_order_relaxed); }
  [[nodiscard]] uint32_t in_service() const {
    return in_service_.load(std::memory_order_relaxed);
  }
  // What a report calls the queue length: waiting plus being served.
  [[nodiscard]] uint32_t depth() const { return queued() + in_service(); }
  [[nodiscard]] uint32_t capacity() const { return capacity_; }

 private:
  uint32_t capacity_;
  uint32_t datagram_bytes_max_;
  std::vector<RequestSlot> slots_;
  std::vector<uint8_t> buffers_;
  moodycamel::ConcurrentQueue<uint32_t> free_;
  moodycamel::BlockingConcurrentQueue<uint32_t> ready_;
  moodycamel::ProducerToken ready_producer_;  // the receiver's: keeps arrival order
  moodycamel::ConsumerToken free_consumer_;
  std::atomic<uint32_t> queued_{0};
  std::atomic<uint32_t> in_service_{0};
};

}  // namespace shortline::tools

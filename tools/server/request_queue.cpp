// Slot pool, free list and FIFO of the reference server.
#include "tools/server/request_queue.h"

#include <cassert>
#include <cstdlib>

namespace shortline::tools {

RequestQueue::RequestQueue(uint32_t capacity, uint32_t datagram_bytes_max)
    : capacity_(capacity),
      datagram_bytes_max_(datagram_bytes_max),
      slots_(capacity),
      buffers_(std::size_t{capacity} * datagram_bytes_max),
      free_(capacity),
      ready_(capacity),
      ready_producer_(ready_),
      free_consumer_(free_) {
  assert(capacity > 0 && datagram_bytes_max > 0);
  for (uint32_t i = 0; i < capacity; ++i) {
    if (!free_.enqueue(i)) std::abort();  // allocation at start-up only
  }
}

std::optional<uint32_t> RequestQueue::acquire() {
  uint32_t index = 0;
  if (!free_.try_dequeue(free_consumer_, index)) return std::nullopt;
  return index;
}

void RequestQueue::abandon(uint32_t slot) {
  if (!free_.enqueue(slot)) std::abort();
}

void RequestQueue::push(uint32_t slot) {
  queued_.fetch_add(1, std::memory_order_relaxed);
  if (!ready_.enqueue(ready_producer_, slot)) std::abort();
}

std::optional<uint32_t> RequestQueue::pop(std::chrono::microseconds wait) {
  uint32_t index = 0;
  if (!ready_.wait_dequeue_timed(index, wait)) return std::nullopt;
  // In service before it stops counting as queued, so depth() never dips in between.
  in_service_.fetch_add(1, std::memory_order_relaxed);
  queued_.fetch_sub(1, std::memory_order_relaxed);
  return index;
}

void RequestQueue::finish(uint32_t slot) {
  assert(slot < capacity_);
  if (!free_.enqueue(slot)) std::abort();
  in_service_.fetch_sub(1, std::memory_order_relaxed);
}

}  // namespace shortline::tools

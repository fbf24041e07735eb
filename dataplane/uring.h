// The one narrow interface to io_uring (liburing) that the worker uses: ring set-up with
// SINGLE_ISSUER and DEFER_TASKRUN (Linux 6.1), a provided-buffer ring (5.19), multishot
// receives (recvmsg: 6.0), sends, cancels, batched reaping and one submit per loop; and
// KernelIo, the worker's WorkerIo made of them.
#pragma once

#include <liburing.h>

#include <cstdint>
#include <memory>
#include <system_error>

#include "dataplane/worker_io.h"

namespace shortline {

class Uring {
 public:
  Uring() = default;
  ~Uring();
  Uring(const Uring&) = delete;
  Uring& operator=(const Uring&) = delete;

  // sq_entries submission slots, cq_entries completion slots (larger, so that multishot
  // bursts do not overflow it).
  [[nodiscard]] std::error_code init(uint32_t sq_entries, uint32_t cq_entries);

  // Prepare operations. Each returns false only if the submission queue stays full even
  // after flushing it to the kernel (never in steady state: the queue is sized for a batch).
  bool recvmsg_multishot(int fd, const msghdr* header, uint16_t buffer_group, uint64_t user_data);
  bool sendmsg(int fd, const msghdr* message, uint64_t user_data);
  bool cancel(uint64_t target_user_data, uint64_t user_data);

  // Submits everything queued and waits up to timeout_ns for at least one completion.
  void submit_and_wait(uint64_t timeout_ns);
  // Submits without waiting (also runs deferred task work).
  void submit();
  // Copies up to max ready completions into out and marks them seen.
  [[nodiscard]] uint32_t reap(Completion* out, uint32_t max);

  [[nodiscard]] io_uring* raw() { return &ring_; }

 private:
  io_uring_sqe* next_sqe();

  io_uring ring_{};
  bool initialised_ = false;
};

// A provided-buffer ring: `count` buffers of `size` bytes in one allocation, registered
// as group `group`. Buffers come back to the kernel in bulk at commit().
class BufferRing {
 public:
  BufferRing() = default;
  ~BufferRing();
  BufferRing(const BufferRing&) = delete;
  BufferRing& operator=(const BufferRing&) = delete;

  [[nodiscard]] std::error_code init(Uring& ring, uint16_t group, uint32_t count, uint32_t size);
  [[nodiscard]] uint8_t* buffer(uint16_t id) { return memory_.get() + std::size_t{id} * size_; }
  [[nodiscard]] uint32_t buffer_size() const { return size_; }
  [[nodiscard]] uint32_t count() const { return count_; }
  // Hands a buffer back; visible to the kernel at the next commit().
  void recycle(uint16_t id);
  void commit();

 private:
  struct FreeDeleter {
    void operator()(uint8_t* p) const;
  };
  Uring* ring_ = nullptr;
  io_uring_buf_ring* ring_memory_ = nullptr;
  std::unique_ptr<uint8_t, FreeDeleter> memory_;
  uint32_t count_ = 0;
  uint32_t size_ = 0;
  uint16_t group_ = 0;
  int pending_ = 0;
};

// The real WorkerIo: one Uring, its provided-buffer ring (group kBufferGroup) and plain
// socket calls for the start-up work.
class KernelIo final : public WorkerIo {
 public:
  static constexpr uint16_t kBufferGroup = 1;

  int init(uint32_t sq_entries, uint32_t cq_entries, uint32_t buffers,
           uint32_t buffer_bytes) override;
  bool recvmsg_multishot(int fd, const msghdr* header, uint64_t user_data) override {
    return ring_.recvmsg_multishot(fd, header, kBufferGroup, user_data);
  }
  bool sendmsg(int fd, const msghdr* message, uint64_t user_data) override {
    return ring_.sendmsg(fd, message, user_data);
  }
  bool cancel(uint64_t target_user_data, uint64_t user_data) override {
    return ring_.cancel(target_user_data, user_data);
  }
  void submit() override { ring_.submit(); }
  void submit_and_wait(uint64_t timeout_ns) override { ring_.submit_and_wait(timeout_ns); }
  uint32_t reap(Completion* out, uint32_t max) override { return ring_.reap(out, max); }
  uint8_t* buffer(uint16_t id) override { return buffers_.buffer(id); }
  void recycle(uint16_t id) override { buffers_.recycle(id); }
  void commit_buffers() override { buffers_.commit(); }
  int open_upstream_socket(int family) override;
  void close_socket(int fd) override;
  void drain_error_queue(int fd) override;

 private:
  // Declared first so that it is destroyed last: the buffer ring unregisters from it.
  Uring ring_;
  BufferRing buffers_;
};

}  // namespace shortline

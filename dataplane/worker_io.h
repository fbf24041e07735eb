// Everything a worker asks of the kernel, behind one narrow interface: io_uring operations
// (multishot recvmsg, sendmsg, cancel, submit, reap), the provided-buffer ring they fill,
// and opening the worker's upstream sockets at start. KernelIo (dataplane/uring.h) is the
// real one; tests drive the worker's session and accounting logic through a fake.
#pragma once

#include <sys/socket.h>

#include <cstdint>

namespace shortline {

// One completion as the worker sees it (a copy of the CQE's fields).
struct Completion {
  uint64_t user_data;
  int32_t result;
  uint32_t flags;

  static constexpr uint32_t kBuffer = 1u << 0;  // IORING_CQE_F_BUFFER
  static constexpr uint32_t kMore = 1u << 1;    // IORING_CQE_F_MORE
  static constexpr uint32_t kBufferShift = 16;  // IORING_CQE_BUFFER_SHIFT

  [[nodiscard]] bool more() const { return (flags & kMore) != 0; }
  [[nodiscard]] bool has_buffer() const { return (flags & kBuffer) != 0; }
  [[nodiscard]] uint16_t buffer_id() const { return static_cast<uint16_t>(flags >> kBufferShift); }
};

class WorkerIo {
 public:
  virtual ~WorkerIo() = default;

  // Ring set-up on the worker's own thread (the ring is single-issuer): sq_entries
  // submission slots, cq_entries completion slots, `buffers` provided buffers of
  // buffer_bytes each. Returns 0 or an errno value.
  [[nodiscard]] virtual int init(uint32_t sq_entries, uint32_t cq_entries, uint32_t buffers,
                                 uint32_t buffer_bytes) = 0;

  // Each returns false only if the submission queue stays full even after flushing it to
  // the kernel (never in steady state: the queue is sized for a batch). Multishot receives
  // pick a provided buffer per datagram.
  virtual bool recvmsg_multishot(int fd, const msghdr* header, uint64_t user_data) = 0;
  virtual bool sendmsg(int fd, const msghdr* message, uint64_t user_data) = 0;
  virtual bool cancel(uint64_t target_user_data, uint64_t user_data) = 0;
  // Submits what is queued; submit_and_wait also waits up to timeout_ns for a completion.
  virtual void submit() = 0;
  virtual void submit_and_wait(uint64_t timeout_ns) = 0;
  // Copies up to max ready completions into out and marks them seen.
  [[nodiscard]] virtual uint32_t reap(Completion* out, uint32_t max) = 0;

  // Provided buffers: a received datagram lives in buffer(id) until recycle(id); recycled
  // buffers go back to the kernel together at commit_buffers().
  [[nodiscard]] virtual uint8_t* buffer(uint16_t id) = 0;
  virtual void recycle(uint16_t id) = 0;
  virtual void commit_buffers() = 0;

  // An unconnected UDP socket bound to an ephemeral port of `family` (AF_INET6 sockets are
  // dual-stack), or -errno. Only at start-up.
  [[nodiscard]] virtual int open_upstream_socket(int family) = 0;
  virtual void close_socket(int fd) = 0;
  // Reads and discards what IP_RECVERR queued on the socket (ICMP errors), so that it does
  // not eat the socket's receive buffer. Error path only: a refused server is rare.
  virtual void drain_error_queue(int fd) = 0;
};

}  // namespace shortline

// io_uring wrapper: set-up, operation preparation, submission and reaping.
#include "dataplane/uring.h"

#include <sys/mman.h>

#include <cassert>
#include <cstdlib>

namespace shortline {

Uring::~Uring() {
  if (initialised_) io_uring_queue_exit(&ring_);
}

std::error_code Uring::init(uint32_t sq_entries) {
  io_uring_params params{};
  params.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
                 IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_CQSIZE;
  params.cq_entries = sq_entries * 8;
  const int rc = io_uring_queue_init_params(sq_entries, &ring_, &params);
  if (rc < 0) return {-rc, std::system_category()};
  initialised_ = true;
  return {};
}

io_uring_sqe* Uring::next_sqe() {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  if (sqe != nullptr) [[likely]]
    return sqe;
  io_uring_submit(&ring_);
  return io_uring_get_sqe(&ring_);
}

bool Uring::recvmsg_multishot(int fd, msghdr* header, uint16_t buffer_group, uint64_t user_data) {
  io_uring_sqe* sqe = next_sqe();
  if (sqe == nullptr) return false;
  io_uring_prep_recvmsg_multishot(sqe, fd, header, 0);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = buffer_group;
  io_uring_sqe_set_data64(sqe, user_data);
  return true;
}

bool Uring::recv_multishot(int fd, uint16_t buffer_group, uint64_t user_data) {
  io_uring_sqe* sqe = next_sqe();
  if (sqe == nullptr) return false;
  io_uring_prep_recv_multishot(sqe, fd, nullptr, 0, 0);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = buffer_group;
  io_uring_sqe_set_data64(sqe, user_data);
  return true;
}

bool Uring::sendmsg(int fd, const msghdr* message, uint64_t user_data) {
  io_uring_sqe* sqe = next_sqe();
  if (sqe == nullptr) return false;
  io_uring_prep_sendmsg(sqe, fd, message, 0);
  io_uring_sqe_set_data64(sqe, user_data);
  return true;
}

bool Uring::cancel(uint64_t target_user_data, uint64_t user_data) {
  io_uring_sqe* sqe = next_sqe();
  if (sqe == nullptr) return false;
  io_uring_prep_cancel64(sqe, target_user_data, 0);
  io_uring_sqe_set_data64(sqe, user_data);
  return true;
}

void Uring::submit_and_wait(uint64_t timeout_ns) {
  __kernel_timespec timeout{};
  timeout.tv_sec = static_cast<long long>(timeout_ns / 1'000'000'000ULL);
  timeout.tv_nsec = static_cast<long long>(timeout_ns % 1'000'000'000ULL);
  io_uring_cqe* cqe = nullptr;
  // -ETIME and -EINTR are normal wake-ups; the loop re-checks its state either way.
  (void)io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &timeout, nullptr);
}

void Uring::submit() { (void)io_uring_submit_and_get_events(&ring_); }

uint32_t Uring::reap(Completion* out, uint32_t max) {
  uint32_t count = 0;
  unsigned head = 0;
  io_uring_cqe* cqe = nullptr;
  io_uring_for_each_cqe(&ring_, head, cqe) {
    if (count == max) break;
    out[count++] = {cqe->user_data, cqe->res, cqe->flags};
  }
  io_uring_cq_advance(&ring_, count);
  return count;
}

void BufferRing::FreeDeleter::operator()(uint8_t* p) const { std::free(p); }

BufferRing::~BufferRing() {
  if (ring_memory_ != nullptr) {
    io_uring_unregister_buf_ring(ring_->raw(), group_);
    munmap(ring_memory_, std::size_t{count_} * sizeof(io_uring_buf));
  }
}

std::error_code BufferRing::init(Uring& ring, uint16_t group, uint32_t count, uint32_t size) {
  assert(count > 0 && (count & (count - 1)) == 0 && count <= 32768);
  const std::size_t ring_bytes = std::size_t{count} * sizeof(io_uring_buf);
  void* mapped = mmap(nullptr, ring_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE,
                      -1, 0);
  if (mapped == MAP_FAILED) return {errno, std::system_category()};
  ring_memory_ = static_cast<io_uring_buf_ring*>(mapped);
  io_uring_buf_ring_init(ring_memory_);
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<uint64_t>(ring_memory_);
  reg.ring_entries = count;
  reg.bgid = group;
  ring_ = &ring;
  count_ = count;
  size_ = size;
  group_ = group;
  const int rc = io_uring_register_buf_ring(ring.raw(), &reg, 0);
  if (rc < 0) {
    munmap(ring_memory_, ring_bytes);
    ring_memory_ = nullptr;
    return {-rc, std::system_category()};
  }
  memory_.reset(static_cast<uint8_t*>(std::aligned_alloc(64, std::size_t{count} * size)));
  if (!memory_) return std::make_error_code(std::errc::not_enough_memory);
  for (uint32_t id = 0; id < count; ++id) recycle(static_cast<uint16_t>(id));
  commit();
  return {};
}

void BufferRing::recycle(uint16_t id) {
  io_uring_buf_ring_add(ring_memory_, buffer(id), size_, id,
                        io_uring_buf_ring_mask(count_), pending_++);
}

void BufferRing::commit() {
  if (pending_ == 0) return;
  io_uring_buf_ring_advance(ring_memory_, pending_);
  pending_ = 0;
}

}  // namespace shortline

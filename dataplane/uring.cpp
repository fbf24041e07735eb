// io_uring wrapper: set-up, operation preparation, submission and reaping.
#include "dataplane/uring.h"

#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cassert>
#include <cerrno>
#include <cstdlib>

namespace shortline {

static_assert(Completion::kBuffer == IORING_CQE_F_BUFFER);
static_assert(Completion::kMore == IORING_CQE_F_MORE);
static_assert(Completion::kBufferShift == IORING_CQE_BUFFER_SHIFT);

Uring::~Uring() {
  if (initialised_) io_uring_queue_exit(&ring_);
}

std::error_code Uring::init(uint32_t sq_entries, uint32_t cq_entries) {
  io_uring_params params{};
  params.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
                 IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_CQSIZE;
  params.cq_entries = cq_entries;
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

bool Uring::recvmsg_multishot(int fd, const msghdr* header, uint16_t buffer_group,
                              uint64_t user_data) {
  io_uring_sqe* sqe = next_sqe();
  if (sqe == nullptr) return false;
  // The kernel only reads the header (name and control lengths) when it prepares the op.
  io_uring_prep_recvmsg_multishot(sqe, fd, const_cast<msghdr*>(header), 0);
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

int KernelIo::init(uint32_t sq_entries, uint32_t cq_entries, uint32_t buffers,
                   uint32_t buffer_bytes) {
  if (auto ec = ring_.init(sq_entries, cq_entries)) return ec.value();
  if (auto ec = buffers_.init(ring_, kBufferGroup, buffers, buffer_bytes)) return ec.value();
  return 0;
}

int KernelIo::open_upstream_socket(int family) {
  const int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -errno;
  const int on = 1;
  const int off = 0;
  sockaddr_storage any{};
  socklen_t length = 0;
  int rc = 0;
  if (family == AF_INET6) {
    // Dual-stack: one pool reaches IPv4 servers too, through v4-mapped addresses.
    rc = setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
    if (rc == 0) rc = setsockopt(fd, IPPROTO_IPV6, IPV6_RECVERR, &on, sizeof(on));
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&any);
    v6->sin6_family = AF_INET6;
    length = sizeof(sockaddr_in6);
  } else {
    rc = 0;
    auto* v4 = reinterpret_cast<sockaddr_in*>(&any);
    v4->sin_family = AF_INET;
    length = sizeof(sockaddr_in);
  }
  // IP_RECVERR: an unconnected socket reports ECONNREFUSED (the server's port is closed)
  // only with it; passive health counts those.
  if (rc == 0) rc = setsockopt(fd, IPPROTO_IP, IP_RECVERR, &on, sizeof(on));
  if (rc == 0) rc = bind(fd, reinterpret_cast<const sockaddr*>(&any), length);
  if (rc != 0) {
    const int error = errno;
    close(fd);
    return -error;
  }
  return fd;
}

void KernelIo::close_socket(int fd) { close(fd); }

void KernelIo::drain_error_queue(int fd) {
  constexpr int kErrorsMax = 64;  // bounded: the queue is refilled only by new ICMP errors
  alignas(cmsghdr) char control[256];
  char data[64];
  for (int i = 0; i < kErrorsMax; ++i) {
    iovec vector{data, sizeof(data)};
    msghdr header{};
    header.msg_iov = &vector;
    header.msg_iovlen = 1;
    header.msg_control = control;
    header.msg_controllen = sizeof(control);
    if (recvmsg(fd, &header, MSG_ERRQUEUE | MSG_DONTWAIT) < 0) return;
  }
}

}  // namespace shortline

// Flow indices for recorded source addresses and the per-flow replay sockets.
#include "tools/replay/flow_map.h"

#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cassert>
#include <cerrno>
#include <cstring>

namespace shortline::replay {

FlowMap::FlowMap(uint32_t flows_max) : flows_max_(flows_max) { assert(flows_max > 0); }

uint32_t FlowMap::index_for(const NetAddress& src) {
  if (auto it = index_.find(src); it != index_.end()) return it->second;
  uint32_t index = 0;
  if (sources_.size() < flows_max_) {
    index = static_cast<uint32_t>(sources_.size());
    sources_.push_back(src);
  } else {
    index = static_cast<uint32_t>(src.hash() % flows_max_);
  }
  index_.emplace(src, index);
  return index;
}

FlowSockets::~FlowSockets() { close_all(); }

void FlowSockets::close_all() {
  for (int fd : fds_) ::close(fd);
  fds_.clear();
}

bool FlowSockets::open(uint32_t count, const NetAddress& target, std::string& error) {
  close_all();
  fds_.reserve(count);
  for (uint32_t i = 0; i < count; ++i) {
    const int fd = ::socket(target.family(), SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      error = "socket() for flow " + std::to_string(i) + ": " + std::strerror(errno);
      close_all();
      return false;
    }
    fds_.push_back(fd);
    // Larger buffers absorb reply bursts at full speed; the kernel caps them at rmem_max.
    const int buffer_bytes = 4 << 20;
    (void)::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buffer_bytes, sizeof(buffer_bytes));
    (void)::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buffer_bytes, sizeof(buffer_bytes));
    if (::connect(fd, target.sockaddr_ptr(), target.length) != 0) {
      error = "connect() to " + target.to_string() + ": " + std::strerror(errno);
      close_all();
      return false;
    }
  }
  return true;
}

NetAddress FlowSockets::local_address(uint32_t flow) const {
  sockaddr_storage storage{};
  socklen_t length = sizeof(storage);
  if (::getsockname(fds_[flow], reinterpret_cast<sockaddr*>(&storage), &length) != 0) return {};
  return NetAddress::from_sockaddr(reinterpret_cast<const sockaddr*>(&storage), length);
}

bool ensure_fd_limit(uint64_t needed) {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return false;
  constexpr uint64_t kReserve = 64;  // stdio, pcap, epoll, timerfd and some slack
  const uint64_t wanted = needed + kReserve;
  if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur >= wanted) return true;
  if (limit.rlim_cur == RLIM_INFINITY) return true;
  if (limit.rlim_max != RLIM_INFINITY && limit.rlim_max < wanted) return false;
  limit.rlim_cur = wanted;
  return ::setrlimit(RLIMIT_NOFILE, &limit) == 0;
}

}  // namespace shortline::replay

// Server pool bookkeeping: id and port allocation, min/max, lookup.
#include "control/controller/server_pool.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>

#include "control/config.h"

namespace shortline::controller {

bool udp_port_bindable(const std::string& host, uint16_t port) {
  const auto address = compose_address(host, port);
  if (!address) return false;
  const int fd = socket(address->family(), SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  const bool bound = bind(fd, address->sockaddr_ptr(), address->length) == 0;
  close(fd);
  return bound;
}

ServerPool::ServerPool(const PoolLimits& limits, PortProbe probe)
    : limits_(limits), probe_(std::move(probe)), next_id_(limits.start_id), port_cursor_(0) {
  assert(limits_.port_first <= limits_.port_last);
  assert(limits_.servers_min <= limits_.servers_max);
  assert(probe_);
}

bool ServerPool::held(uint16_t port) const {
  return std::any_of(members_.begin(), members_.end(),
                     [port](const PoolMember& member) { return member.port == port; });
}

std::optional<uint16_t> ServerPool::allocate_port() {
  const uint32_t range = uint32_t{limits_.port_last} - limits_.port_first + 1;
  for (uint32_t tried = 0; tried < range; ++tried) {
    const uint32_t offset = (port_cursor_ + tried) % range;
    const auto port = static_cast<uint16_t>(limits_.port_first + offset);
    if (held(port) || !probe_(port)) continue;
    port_cursor_ = (offset + 1) % range;
    return port;
  }
  return std::nullopt;
}

uint32_t ServerPool::active() const {
  return static_cast<uint32_t>(std::count_if(
      members_.begin(), members_.end(),
      [](const PoolMember& member) { return member.state != MemberState::stopping; }));
}

PoolMember& ServerPool::add(uint32_t id, uint16_t port, pid_t pid, int64_t now_ms) {
  assert(find(id) == nullptr);
  PoolMember member;
  member.id = id;
  member.port = port;
  member.pid = pid;
  member.started_ms = now_ms;
  members_.push_back(member);
  return members_.back();
}

PoolMember* ServerPool::find(uint32_t id) {
  const auto it = std::find_if(members_.begin(), members_.end(),
                               [id](const PoolMember& member) { return member.id == id; });
  return it == members_.end() ? nullptr : &*it;
}

PoolMember* ServerPool::find_pid(pid_t pid) {
  if (pid <= 0) return nullptr;
  const auto it = std::find_if(members_.begin(), members_.end(),
                               [pid](const PoolMember& member) { return member.pid == pid; });
  return it == members_.end() ? nullptr : &*it;
}

void ServerPool::erase(uint32_t id) {
  std::erase_if(members_, [id](const PoolMember& member) { return member.id == id; });
}

}  // namespace shortline::controller

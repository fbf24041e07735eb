// The servers the controller runs: their ids (from server.start_id, never reused within a
// run), their ports (the next free port of server.port_range_start..end) and the min/max
// bounds. Pure bookkeeping: processes are started and stopped elsewhere, and whether a
// port is free is asked of an injected probe, so tests need no sockets.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace shortline::controller {

struct PoolLimits {
  uint32_t start_id = 0;
  uint16_t port_first = 50000;
  uint16_t port_last = 51000;
  uint32_t servers_min = 1;
  uint32_t servers_max = 16;
};

enum class MemberState : uint8_t {
  running,     // its process is alive
  restarting,  // it crashed; a restart is due at restart_at_ms
  stopping,    // asked to stop (SIGTERM): it drains, then leaves the pool
};

struct PoolMember {
  uint32_t id = 0;
  uint16_t port = 0;
  pid_t pid = -1;  // -1 while restarting
  MemberState state = MemberState::running;
  uint32_t restart_attempt = 0;  // restarts since it last ran long enough to count as stable
  int64_t started_ms = 0;
  int64_t restart_at_ms = 0;
};

// Whether the port can be bound now (the controller binds a UDP socket to find out).
using PortProbe = std::function<bool(uint16_t port)>;

// True when a UDP socket can bind host:port right now (host: controller.server_host).
[[nodiscard]] bool udp_port_bindable(const std::string& host, uint16_t port);

class ServerPool {
 public:
  ServerPool(const PoolLimits& limits, PortProbe probe);

  // The next port after the last one handed out (wrapping within the range) that no member
  // holds and the probe finds free; nullopt when the whole range is taken.
  [[nodiscard]] std::optional<uint16_t> allocate_port();
  // The id for a new server; each call takes a fresh one.
  [[nodiscard]] uint32_t take_id() { return next_id_++; }

  // Members that count toward min/max: every one not stopping.
  [[nodiscard]] uint32_t active() const;
  [[nodiscard]] bool can_add() const { return active() < limits_.servers_max; }
  [[nodiscard]] bool can_remove() const { return active() > limits_.servers_min; }

  PoolMember& add(uint32_t id, uint16_t port, pid_t pid, int64_t now_ms);
  [[nodiscard]] PoolMember* find(uint32_t id);
  [[nodiscard]] PoolMember* find_pid(pid_t pid);
  void erase(uint32_t id);

  [[nodiscard]] const std::vector<PoolMember>& members() const { return members_; }
  [[nodiscard]] const PoolLimits& limits() const { return limits_; }

 private:
  [[nodiscard]] bool held(uint16_t port) const;

  PoolLimits limits_;
  PortProbe probe_;
  std::vector<PoolMember> members_;  // in order of first start
  uint32_t next_id_;
  uint32_t port_cursor_;  // offset into the range of the next port to try
};

}  // namespace shortline::controller

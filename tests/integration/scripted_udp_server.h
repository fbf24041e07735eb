// A scripted UDP server for tests of senders (shortline-replay): it echoes, delays or drops
// each datagram as a script says, and records arrivals and how many replies it held at once.
#pragma once

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "dataplane/net_address.h"

namespace shortline::testing {

using ScriptClock = std::chrono::steady_clock;

// What a ScriptedServer does with one datagram: drop it, or send it back after a delay.
struct Verdict {
  bool drop = false;
  std::chrono::milliseconds delay{0};
};
using Script = std::function<Verdict(const std::string& payload)>;

inline Script echo_at_once() {
  return [](const std::string&) { return Verdict{}; };
}

// A UDP server thread bound to `host` (e.g. "127.0.0.1:0", "[::1]:0") that answers each
// datagram as its script says (echoing the payload; by default at once), and records what it
// saw: arrivals with their source port and time, and the most requests it held at once
// (received, reply not yet sent).
class ScriptedServer {
 public:
  struct Arrival {
    std::string payload;
    uint16_t source_port;
    ScriptClock::time_point at;
  };

  explicit ScriptedServer(const std::string& host, Script script = echo_at_once())
      : script_(std::move(script)) {
    const auto bind_to = *NetAddress::parse(host);
    fd_ = socket(bind_to.family(), SOCK_DGRAM | SOCK_CLOEXEC, 0);
    const int buffer_bytes = 1 << 20;  // a max-rate burst must not overflow the server socket
    if (fd_ >= 0) setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &buffer_bytes, sizeof(buffer_bytes));
    if (fd_ >= 0 && bind(fd_, bind_to.sockaddr_ptr(), bind_to.length) == 0) {
      socklen_t length = sizeof(address_.storage);
      getsockname(fd_, address_.sockaddr_ptr(), &length);
      address_.length = length;
      thread_ = std::thread([this] { serve(); });
    }
  }
  ~ScriptedServer() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    if (fd_ >= 0) close(fd_);
  }
  ScriptedServer(const ScriptedServer&) = delete;
  ScriptedServer& operator=(const ScriptedServer&) = delete;

  bool ok() const { return thread_.joinable(); }
  const NetAddress& address() const { return address_; }
  std::vector<Arrival> arrivals() const {
    std::lock_guard lock(mutex_);
    return arrivals_;
  }
  size_t count() const {
    std::lock_guard lock(mutex_);
    return arrivals_.size();
  }
  size_t held_max() const { return held_max_.load(); }

 private:
  struct Pending {
    ScriptClock::time_point due;
    std::string payload;
    NetAddress to;
  };

  void serve() {
    std::vector<char> buffer(70000);
    while (!stop_) {
      send_due();
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(wait_ms())) <= 0) continue;
      NetAddress from;
      socklen_t length = sizeof(from.storage);
      const ssize_t n = recvfrom(fd_, buffer.data(), buffer.size(), 0, from.sockaddr_ptr(), &length);
      if (n < 0) continue;
      from.length = length;
      std::string payload(buffer.data(), static_cast<size_t>(n));
      {
        std::lock_guard lock(mutex_);
        arrivals_.push_back({payload, from.port(), ScriptClock::now()});
      }
      const Verdict verdict = script_(payload);
      if (verdict.drop) continue;
      pending_.push_back({ScriptClock::now() + verdict.delay, std::move(payload), from});
      held_max_ = std::max(held_max_.load(), pending_.size());
    }
  }
  // Sends every reply that is due (the list is short: a few hundred at most).
  void send_due() {
    const auto now = ScriptClock::now();
    for (auto it = pending_.begin(); it != pending_.end();) {
      if (it->due > now) {
        ++it;
        continue;
      }
      (void)sendto(fd_, it->payload.data(), it->payload.size(), 0, it->to.sockaddr_ptr(),
                   it->to.length);
      it = pending_.erase(it);
    }
  }
  int64_t wait_ms() const {
    int64_t wait = 20;
    const auto now = ScriptClock::now();
    for (const Pending& p : pending_)
      wait = std::min<int64_t>(wait, std::chrono::duration_cast<std::chrono::milliseconds>(
                                         p.due - now).count());
    return std::max<int64_t>(wait, 0);
  }

  Script script_;
  int fd_ = -1;
  NetAddress address_;
  std::atomic<bool> stop_{false};
  std::atomic<size_t> held_max_{0};
  std::vector<Pending> pending_;  // server thread only
  mutable std::mutex mutex_;
  std::vector<Arrival> arrivals_;
  std::thread thread_;
};

}  // namespace shortline::testing

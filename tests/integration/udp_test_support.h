// Shared pieces of the loopback integration tests: an echo server thread that can be
// slowed down or silenced, a client socket, and waiting on a condition with a deadline.
#pragma once

#include <arpa/inet.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "dataplane/net_address.h"

namespace shortline::testing {

// Polls condition until it holds or timeout passes; the timeout is generous because the
// CI machine is small and shared. Returns the condition's last value.
inline bool wait_until(const std::function<bool()>& condition,
                       std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return condition();
}

inline int open_udp_socket(const NetAddress& bind_address) {
  const int fd = socket(bind_address.family(), SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (bind(fd, bind_address.sockaddr_ptr(), bind_address.length) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

inline NetAddress local_address(int fd) {
  NetAddress address;
  socklen_t length = sizeof(address.storage);
  getsockname(fd, address.sockaddr_ptr(), &length);
  address.length = length;
  return address;
}

// "127.0.0.1" -> "127.0.0.1:0", "::1" -> "[::1]:0"
inline NetAddress any_port(const std::string& host) {
  return *NetAddress::parse(host.find(':') == std::string::npos ? host + ":0" : "[" + host + "]:0");
}

// A UDP echo server on its own thread. delay_ms slows every request (a FIFO queue of one
// worker, like a busy server); silent makes it swallow requests without answering.
class EchoServer {
 public:
  explicit EchoServer(const std::string& host) : fd_(open_udp_socket(any_port(host))) {
    if (fd_ >= 0) address_ = local_address(fd_);
    thread_ = std::thread([this] { serve(); });
  }
  ~EchoServer() {
    stop_ = true;
    thread_.join();
    if (fd_ >= 0) close(fd_);
  }
  EchoServer(const EchoServer&) = delete;
  EchoServer& operator=(const EchoServer&) = delete;

  [[nodiscard]] bool ok() const { return fd_ >= 0; }
  [[nodiscard]] const NetAddress& address() const { return address_; }
  [[nodiscard]] uint64_t received() const { return received_.load(); }
  void set_delay_ms(int delay_ms) { delay_ms_ = delay_ms; }
  void set_silent(bool silent) { silent_ = silent; }

 private:
  void serve() {
    std::vector<char> buffer(70000);
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (fd_ < 0 || poll(&p, 1, 20) <= 0) continue;
      sockaddr_storage from{};
      socklen_t from_length = sizeof(from);
      const ssize_t n = recvfrom(fd_, buffer.data(), buffer.size(), 0,
                                 reinterpret_cast<sockaddr*>(&from), &from_length);
      if (n < 0) continue;
      ++received_;
      if (silent_) continue;
      if (delay_ms_ > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms_.load()));
      (void)sendto(fd_, buffer.data(), static_cast<size_t>(n), 0,
                   reinterpret_cast<sockaddr*>(&from), from_length);
    }
  }

  int fd_;
  NetAddress address_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> silent_{false};
  std::atomic<int> delay_ms_{0};
  std::atomic<uint64_t> received_{0};
  std::thread thread_;
};

// A client socket bound to an ephemeral port of the given host.
class Client {
 public:
  explicit Client(const std::string& host) : fd_(open_udp_socket(any_port(host))) {}
  ~Client() {
    if (fd_ >= 0) close(fd_);
  }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  bool send(const NetAddress& to, const std::string& payload) {
    return sendto(fd_, payload.data(), payload.size(), 0, to.sockaddr_ptr(), to.length) ==
           static_cast<ssize_t>(payload.size());
  }
  struct Datagram {
    std::string payload;
    NetAddress from;
  };
  // Waits up to timeout for one datagram.
  std::optional<Datagram> receive(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return std::nullopt;
    Datagram d;
    std::vector<char> buffer(70000);
    socklen_t length = sizeof(d.from.storage);
    const ssize_t n = recvfrom(fd_, buffer.data(), buffer.size(), 0, d.from.sockaddr_ptr(), &length);
    if (n < 0) return std::nullopt;
    d.from.length = length;
    d.payload.assign(buffer.data(), static_cast<size_t>(n));
    return d;
  }

 private:
  int fd_;
};

// A UDP echo server that answers each request delay_ms after it came, however many wait
// (a fixed latency, where EchoServer serves one at a time and so queues), with a 4 MiB
// receive buffer so that a burst through the balancer is not lost here. It holds at most
// pending_max requests; beyond that they are counted in overflowed() and not answered.
class DelayedEchoServer {
 public:
  DelayedEchoServer(const std::string& host, int delay_ms, std::size_t pending_max = 65536)
      : fd_(open_udp_socket(any_port(host))), delay_(delay_ms), pending_max_(pending_max) {
    if (fd_ >= 0) {
      const int bytes = 4 << 20;
      if (setsockopt(fd_, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof(bytes)) != 0)
        (void)setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes));
      address_ = local_address(fd_);
    }
    thread_ = std::thread([this] { serve(); });
  }
  ~DelayedEchoServer() {
    stop_ = true;
    thread_.join();
    if (fd_ >= 0) close(fd_);
  }
  DelayedEchoServer(const DelayedEchoServer&) = delete;
  DelayedEchoServer& operator=(const DelayedEchoServer&) = delete;

  [[nodiscard]] bool ok() const { return fd_ >= 0; }
  [[nodiscard]] const NetAddress& address() const { return address_; }
  [[nodiscard]] uint64_t received() const { return received_.load(); }
  [[nodiscard]] uint64_t replies_sent() const { return replies_sent_.load(); }
  [[nodiscard]] uint64_t overflowed() const { return overflowed_.load(); }
  [[nodiscard]] uint64_t pending() const { return pending_.load(); }

 private:
  struct Request {
    std::chrono::steady_clock::time_point due;
    std::string payload;
    sockaddr_storage from;
    socklen_t from_length;
  };

  void serve() {
    std::vector<char> buffer(70000);
    while (!stop_) {
      int timeout_ms = 20;
      if (!queue_.empty()) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            queue_.front().due - std::chrono::steady_clock::now());
        timeout_ms = static_cast<int>(std::clamp<int64_t>(left.count(), 0, 20));
      }
      pollfd p{fd_, POLLIN, 0};
      if (fd_ >= 0 && poll(&p, 1, timeout_ms) > 0) receive_some(buffer);
      if (fd_ < 0) std::this_thread::sleep_for(std::chrono::milliseconds(timeout_ms));
      reply_due();
    }
  }

  void receive_some(std::vector<char>& buffer) {
    const auto now = std::chrono::steady_clock::now();
    for (int i = 0; i < 256; ++i) {
      Request request{now + std::chrono::milliseconds(delay_), {}, {}, sizeof(sockaddr_storage)};
      const ssize_t n = recvfrom(fd_, buffer.data(), buffer.size(), MSG_DONTWAIT,
                                 reinterpret_cast<sockaddr*>(&request.from), &request.from_length);
      if (n < 0) break;
      ++received_;
      if (queue_.size() >= pending_max_) {
        ++overflowed_;
        continue;
      }
      request.payload.assign(buffer.data(), static_cast<size_t>(n));
      queue_.push_back(std::move(request));
    }
    pending_ = queue_.size();
  }

  void reply_due() {
    const auto now = std::chrono::steady_clock::now();
    while (!queue_.empty() && queue_.front().due <= now) {
      const Request& request = queue_.front();
      (void)sendto(fd_, request.payload.data(), request.payload.size(), 0,
                   reinterpret_cast<const sockaddr*>(&request.from), request.from_length);
      ++replies_sent_;
      queue_.pop_front();
    }
    pending_ = queue_.size();
  }

  int fd_;
  NetAddress address_;
  const int delay_;
  const std::size_t pending_max_;
  std::deque<Request> queue_;  // due times ascend: one fixed delay, arrival order
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> received_{0};
  std::atomic<uint64_t> replies_sent_{0};
  std::atomic<uint64_t> overflowed_{0};
  std::atomic<uint64_t> pending_{0};
  std::thread thread_;
};

}  // namespace shortline::testing

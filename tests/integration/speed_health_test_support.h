// Helpers of speed_health_test: servers that send no reports (one that serves one request
// at a time with an exponential service time, one that answers a health probe its own
// way), the balancer as a child process with its admin endpoint, /api/status read as JSON,
// and an open-loop client that paces requests over a few sockets and tallies the replies.
#pragma once

#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "balancer_test_support.h"
#include "child_process.h"
#include "udp_test_support.h"

namespace shortline::testing {

using SteadyClock = std::chrono::steady_clock;

inline const std::string kLbPath = std::string(SHORTLINE_BIN_DIR) + "/shortline-lb";

// ---- servers ----

// A UDP server without reports: FIFO, one request at a time, each taking an exponential
// service time of mean mean_us (seeded). A request already waiting when the last one ended
// starts at that one's deadline, not when the thread woke, so oversleeping is not added
// to every request (absolute deadlines); one that finds the server idle starts when read.
class ExponentialServer {
 public:
  ExponentialServer(const std::string& host, double mean_us, uint64_t seed)
      : fd_(open_udp_socket(any_port(host))), mean_us_(mean_us), seed_(seed) {
    if (fd_ >= 0) {
      const int bytes = 4 << 20;  // a burst through the balancer waits here, not dropped
      if (setsockopt(fd_, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof(bytes)) != 0)
        (void)setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes));
      address_ = local_address(fd_);
    }
    thread_ = std::thread([this] { serve(); });
  }
  ~ExponentialServer() {
    stop_ = true;
    thread_.join();
    if (fd_ >= 0) close(fd_);
  }
  ExponentialServer(const ExponentialServer&) = delete;
  ExponentialServer& operator=(const ExponentialServer&) = delete;

  [[nodiscard]] bool ok() const { return fd_ >= 0; }
  [[nodiscard]] const NetAddress& address() const { return address_; }
  [[nodiscard]] uint64_t answered() const { return answered_.load(); }

 private:
  void serve() {
    std::mt19937_64 random(seed_);
    std::exponential_distribution<double> service_us(1.0 / mean_us_);
    std::vector<char> buffer(70000);
    auto busy_until = SteadyClock::now();
    while (!stop_ && fd_ >= 0) {
      sockaddr_storage from{};
      socklen_t from_length = sizeof(from);
      ssize_t n = recvfrom(fd_, buffer.data(), buffer.size(), MSG_DONTWAIT,
                           reinterpret_cast<sockaddr*>(&from), &from_length);
      auto start = busy_until;  // it waited in the socket while the last one was served
      if (n < 0) {
        pollfd p{fd_, POLLIN, 0};
        if (poll(&p, 1, 20) <= 0) continue;
        from_length = sizeof(from);
        n = recvfrom(fd_, buffer.data(), buffer.size(), MSG_DONTWAIT,
                     reinterpret_cast<sockaddr*>(&from), &from_length);
        if (n < 0) continue;
        start = SteadyClock::now();
      }
      busy_until =
          start + std::chrono::nanoseconds(static_cast<int64_t>(service_us(random) * 1000.0));
      std::this_thread::sleep_until(busy_until);
      (void)sendto(fd_, buffer.data(), static_cast<size_t>(n), 0,
                   reinterpret_cast<sockaddr*>(&from), from_length);
      ++answered_;
    }
  }

  int fd_;
  NetAddress address_;
  const double mean_us_;
  const uint64_t seed_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> answered_{0};
  std::thread thread_;
};

// A UDP server that tells a health probe (a datagram equal to `probe`) from other
// requests: it answers the probe with probe_reply, or echoes it when probe_reply is empty,
// and echoes everything else. It counts both kinds.
class ProbeAwareServer {
 public:
  ProbeAwareServer(const std::string& host, std::string probe, std::string probe_reply)
      : fd_(open_udp_socket(any_port(host))),
        probe_(std::move(probe)),
        probe_reply_(std::move(probe_reply)) {
    if (fd_ >= 0) address_ = local_address(fd_);
    thread_ = std::thread([this] { serve(); });
  }
  ~ProbeAwareServer() {
    stop_ = true;
    thread_.join();
    if (fd_ >= 0) close(fd_);
  }
  ProbeAwareServer(const ProbeAwareServer&) = delete;
  ProbeAwareServer& operator=(const ProbeAwareServer&) = delete;

  [[nodiscard]] bool ok() const { return fd_ >= 0; }
  [[nodiscard]] const NetAddress& address() const { return address_; }
  [[nodiscard]] uint64_t probes() const { return probes_.load(); }
  [[nodiscard]] uint64_t others() const { return others_.load(); }

 private:
  void serve() {
    std::vector<char> buffer(70000);
    while (!stop_ && fd_ >= 0) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 20) <= 0) continue;
      sockaddr_storage from{};
      socklen_t from_length = sizeof(from);
      const ssize_t n = recvfrom(fd_, buffer.data(), buffer.size(), MSG_DONTWAIT,
                                 reinterpret_cast<sockaddr*>(&from), &from_length);
      if (n < 0) continue;
      std::string reply(buffer.data(), static_cast<size_t>(n));
      if (reply == probe_) {
        ++probes_;
        if (!probe_reply_.empty()) reply = probe_reply_;
      } else {
        ++others_;
      }
      (void)sendto(fd_, reply.data(), reply.size(), 0, reinterpret_cast<sockaddr*>(&from),
                   from_length);
    }
  }

  int fd_;
  NetAddress address_;
  const std::string probe_;
  const std::string probe_reply_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> probes_{0};
  std::atomic<uint64_t> others_{0};
  std::thread thread_;
};

// ---- the balancer and its admin endpoint ----

// The address after `marker` on a line: "listening on [::1]:5 (" -> "[::1]:5".
inline std::string address_after(const std::string& line, const std::string& marker) {
  const auto start = line.find(marker) + marker.size();
  const auto end = line.find_first_of(" /\n", start);
  return line.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

// shortline-lb listening on host (port 0), its admin endpoint on 127.0.0.1 (port 0),
// no report or controller ports in use, load_balancer_json written to a config file.
class Balancer {
 public:
  Balancer(const std::string& name, const std::string& host, const std::string& load_balancer_json,
           const std::vector<std::string>& flags)
      : config_path_(::testing::TempDir() + "/shortline_speed_health_" + name + "_" +
                     std::to_string(getpid()) + ".json") {
    std::ofstream(config_path_) << R"({"load_balancer": )" << load_balancer_json << "}\n";
    const std::string listen =
        host.find(':') == std::string::npos ? host + ":0" : "[" + host + "]:0";
    // clang-format off
    std::vector<std::string> argv = {kLbPath, "--config", config_path_, "--listen", listen,
                                     "--control-port", "0", "--controller-port", "0",
                                     "--admin", "127.0.0.1:0"};
    // clang-format on
    argv.insert(argv.end(), flags.begin(), flags.end());
    child_ = std::make_unique<ChildProcess>(argv);
  }
  ~Balancer() {
    if (!stopped_) (void)stop();
    std::remove(config_path_.c_str());
  }
  Balancer(const Balancer&) = delete;
  Balancer& operator=(const Balancer&) = delete;

  // Waits for the listen and admin lines; "" when both came, else what went wrong.
  std::string wait_ready() {
    const auto ready = child_->wait_for_line("listening on ");
    if (!ready) return "no listen line:\n" + child_->output();
    listen_ = *NetAddress::parse(address_after(*ready, "listening on "));
    const auto admin = child_->wait_for_line("admin on http://", std::chrono::seconds(10));
    if (!admin) return "no admin line:\n" + child_->output();
    admin_ = *NetAddress::parse(address_after(*admin, "admin on http://"));
    return "";
  }

  // SIGTERM; the exit status (-1 when it did not exit within 10 s or died of a signal).
  int stop() {
    stopped_ = true;
    child_->signal(SIGTERM);
    return child_->wait_exit(std::chrono::seconds(10));
  }

  [[nodiscard]] const NetAddress& listen() const { return listen_; }
  [[nodiscard]] const NetAddress& admin() const { return admin_; }
  [[nodiscard]] const ChildProcess& child() const { return *child_; }
  [[nodiscard]] ChildProcess& process() { return *child_; }
  // Replaces the config file's load_balancer section (a reload reads it again).
  void rewrite_config(const std::string& load_balancer_json) const {
    std::ofstream(config_path_) << R"({"load_balancer": )" << load_balancer_json << "}\n";
  }
  void rewrite_config_raw(const std::string& text) const { std::ofstream(config_path_) << text; }

  // The servers array of /api/status; empty when it could not be read.
  [[nodiscard]] nlohmann::json servers() const {
    const auto status = nlohmann::json::parse(http_get(admin_, "/api/status"), nullptr, false);
    if (status.is_discarded() || !status.contains("servers")) return nlohmann::json::array();
    return status["servers"];
  }
  // One server's entry in /api/status, or null.
  [[nodiscard]] nlohmann::json server(const NetAddress& address) const {
    for (const auto& s : servers())
      if (s.value("address", "") == address.to_string()) return s;
    return nullptr;
  }
  // The server's string field `key` ("" when absent).
  [[nodiscard]] std::string field(const NetAddress& address, const std::string& key) const {
    const auto s = server(address);
    return s.is_object() && s.contains(key) && s[key].is_string() ? s[key].get<std::string>() : "";
  }
  // The server's numeric field `key`; -1 when absent (or /api/status could not be read).
  [[nodiscard]] double number(const NetAddress& address, const std::string& key) const {
    const auto s = server(address);
    return s.is_object() && s.contains(key) && s[key].is_number() ? s[key].get<double>() : -1.0;
  }
  [[nodiscard]] std::string metrics() const { return http_get(admin_, "/metrics"); }

 private:
  std::string config_path_;
  std::unique_ptr<ChildProcess> child_;
  bool stopped_ = false;
  NetAddress listen_;
  NetAddress admin_;
};

// ---- an open-loop client ----

struct LoadPlan {
  double requests_per_s = 200;
  int requests_max = 1000;
  std::chrono::milliseconds run_max{20000};    // no new request after this
  std::chrono::milliseconds reply_wait{1000};  // how long replies are awaited after the last
  int sockets = 4;
  std::function<bool()> stop_when = [] { return false; };  // checked every 100 ms
};

struct LoadTally {
  int sent = 0;
  int answered = 0;  // distinct requests answered with their own payload
  int wrong = 0;     // duplicates or payloads never sent
  double seconds = 0;
  [[nodiscard]] int unanswered() const { return sent - answered; }
};

// Sends request i at start + i / requests_per_s (whether or not earlier ones were
// answered), round robin over its sockets, until requests_max, run_max or stop_when;
// then waits up to reply_wait for the replies still due.
class OpenLoad {
 public:
  OpenLoad(const std::string& host, const NetAddress& target, LoadPlan plan)
      : target_(target), plan_(std::move(plan)), answered_(plan_.requests_max, false) {
    for (int i = 0; i < plan_.sockets; ++i)
      fds_.push_back({open_udp_socket(any_port(host)), POLLIN, 0});
  }
  ~OpenLoad() {
    for (const auto& p : fds_)
      if (p.fd >= 0) close(p.fd);
  }
  OpenLoad(const OpenLoad&) = delete;
  OpenLoad& operator=(const OpenLoad&) = delete;

  LoadTally run() {
    const auto start = SteadyClock::now();
    auto next_check = start + std::chrono::milliseconds(100);
    bool stopped = false;
    while (!stopped && tally_.sent < plan_.requests_max &&
           SteadyClock::now() - start < plan_.run_max) {
      const auto due = start + std::chrono::nanoseconds(
                                   static_cast<int64_t>(tally_.sent * 1e9 / plan_.requests_per_s));
      if (SteadyClock::now() >= due)
        send_next();
      else
        receive_until(due);
      if (SteadyClock::now() >= next_check) {
        stopped = plan_.stop_when();
        next_check = SteadyClock::now() + std::chrono::milliseconds(100);
      }
    }
    const auto wait_end = SteadyClock::now() + plan_.reply_wait;
    while (tally_.answered < tally_.sent && SteadyClock::now() < wait_end) receive_until(wait_end);
    tally_.seconds = std::chrono::duration<double>(SteadyClock::now() - start).count();
    return tally_;
  }

 private:
  void send_next() {
    const std::string payload = "req " + std::to_string(tally_.sent);
    const auto& p = fds_[static_cast<size_t>(tally_.sent) % fds_.size()];
    (void)sendto(p.fd, payload.data(), payload.size(), 0, target_.sockaddr_ptr(), target_.length);
    ++tally_.sent;
  }

  // Receives what comes until `until` (at most 5 ms per call, so sends stay on time).
  void receive_until(SteadyClock::time_point until) {
    const auto left =
        std::min<SteadyClock::duration>(until - SteadyClock::now(), std::chrono::milliseconds(5));
    const auto left_ns =
        std::max<int64_t>(0, std::chrono::duration_cast<std::chrono::nanoseconds>(left).count());
    const timespec timeout{static_cast<time_t>(left_ns / 1000000000), left_ns % 1000000000};
    if (ppoll(fds_.data(), fds_.size(), &timeout, nullptr) <= 0) return;
    char buffer[2048];
    for (const auto& p : fds_) {
      for (ssize_t n; (p.revents & POLLIN) != 0 &&
                      (n = recv(p.fd, buffer, sizeof(buffer), MSG_DONTWAIT)) >= 0;)
        classify(std::string(buffer, static_cast<size_t>(n)));
    }
  }

  void classify(const std::string& payload) {
    if (payload.rfind("req ", 0) != 0) {
      ++tally_.wrong;
      return;
    }
    const long index = std::strtol(payload.c_str() + 4, nullptr, 10);
    if (index < 0 || index >= tally_.sent || answered_[static_cast<size_t>(index)]) {
      ++tally_.wrong;
      return;
    }
    answered_[static_cast<size_t>(index)] = true;
    ++tally_.answered;
  }

  NetAddress target_;
  LoadPlan plan_;
  std::vector<pollfd> fds_;
  std::vector<bool> answered_;
  LoadTally tally_;
};

}  // namespace shortline::testing

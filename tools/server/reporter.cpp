// The reporter thread and its per-balancer sockets.
#include "tools/server/reporter.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <string>

namespace shortline::tools {

namespace {
uint64_t realtime_ns() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}
}  // namespace

Reporter::Reporter(ReporterConfig config, const std::vector<NetAddress>& balancers,
                   const RequestQueue& queue, const ServiceTotals& totals, EventLog& log)
    : config_(std::move(config)), queue_(queue), totals_(totals), log_(log) {
  for (const auto& address : balancers) targets_.push_back(Target{address, -1, false});
  mean_us_ = static_cast<uint32_t>(std::min<uint64_t>(config_.mean_service_us_initial, UINT32_MAX));
  auth_sequence_ = wire::initial_auth_sequence();
}

Reporter::~Reporter() {
  stop();
  for (auto& target : targets_) {
    if (target.fd >= 0) ::close(target.fd);
  }
}

bool Reporter::start(std::string& error) {
  for (auto& target : targets_) {
    target.fd = ::socket(target.address.family(), SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (target.fd < 0 ||
        ::connect(target.fd, target.address.sockaddr_ptr(), target.address.length) != 0) {
      error = "cannot open report socket to " + target.address.to_string() + ": " +
              std::strerror(errno);
      return false;
    }
  }
  if (!targets_.empty()) thread_ = std::thread([this] { run(); });
  return true;
}

void Reporter::publish(wire::ServerState state) {
  std::lock_guard lock(send_mutex_);
  state_ = state;
  send_all();
}

void Reporter::stop() {
  {
    std::lock_guard lock(wake_mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Reporter::run() {
  const auto interval = std::chrono::milliseconds(config_.interval_ms);
  auto next = std::chrono::steady_clock::now();
  std::unique_lock wake_lock(wake_mutex_);
  while (!stopping_) {
    next += interval;
    const auto now = std::chrono::steady_clock::now();
    if (next < now) next = now;  // fell behind (descheduled): no burst of catch-up reports
    if (wake_.wait_until(wake_lock, next, [this] { return stopping_; })) break;
    wake_lock.unlock();
    {
      std::lock_guard lock(send_mutex_);
      send_all();
    }
    wake_lock.lock();
  }
}

uint32_t Reporter::mean_service_us() {
  const uint64_t served = totals_.served.load(std::memory_order_relaxed);
  const uint64_t service_us = totals_.service_us.load(std::memory_order_relaxed);
  if (served > last_served_) {
    // A mean over about the last kMeanRequests requests, however many fell into this
    // interval: a per-interval mean of one or two exponential samples would make identical
    // servers look unlike.
    const uint64_t count = served - last_served_;
    const double interval_mean =
        static_cast<double>(service_us - last_service_us_) / static_cast<double>(count);
    const double keep = std::pow(1.0 - 1.0 / kMeanRequests, static_cast<double>(count));
    smoothed_us_ = smoothed_us_ < 0 ? interval_mean : keep * smoothed_us_ + (1 - keep) * interval_mean;
    mean_us_ = static_cast<uint32_t>(std::min(smoothed_us_ + 0.5, double{UINT32_MAX}));
    last_served_ = served;
    last_service_us_ = service_us;
  }
  return mean_us_;  // no request finished since the last report: keep the previous mean
}

void Reporter::send_all() {
  wire::ServerReport report;
  report.server_id = config_.server_id;
  report.address = config_.data_address;
  report.queue_length = queue_.depth();
  report.workers = config_.workers;
  report.state = state_;
  report.sequence = ++sequence_;
  report.timestamp_ns = realtime_ns();
  report.service_time_mean_us = mean_service_us();
  std::array<uint8_t, wire::kControlMessageBytesMax> buffer{};
  wire::SignOptions sign;
  if (config_.key) sign = wire::SignOptions{&*config_.key, {config_.server_id, ++auth_sequence_}};
  const std::size_t size = wire::encode(report, buffer, sign);
  if (size == 0) return;  // unreachable: the buffer fits the largest report
  // A connected UDP socket reports an ICMP port-unreachable on the next send, so with no
  // balancer listening sends alternate between failing and "succeeding"; only a run of
  // successes counts as recovered.
  constexpr uint32_t kRecoveredAfterSends = 3;
  for (auto& target : targets_) {
    const bool sent = ::send(target.fd, buffer.data(), size, MSG_DONTWAIT) ==
                      static_cast<ssize_t>(size);
    if (!sent) {
      target.successes = 0;
      if (!target.failing) {
        target.failing = true;
        log_.write(std::string("report to ").append(target.address.to_string())
                       .append(" failed: ").append(std::strerror(errno))
                       .append(" (logged once until it recovers)"));
      }
      continue;
    }
    sent_.fetch_add(1, std::memory_order_relaxed);
    if (target.failing && ++target.successes >= kRecoveredAfterSends) {
      target.failing = false;
      log_.write(std::string("reports to ").append(target.address.to_string())
                     .append(" flowing again"));
    }
  }
}

}  // namespace shortline::tools

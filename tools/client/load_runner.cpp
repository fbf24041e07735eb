// The client's loop: issue, fire timers, receive, sleep until the next thing to do.
#include "tools/client/load_runner.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>

#include "control/wire/messages.h"
#include "dataplane/monotonic_clock.h"

namespace shortline::tools {
namespace {

constexpr uint32_t kIssueBatchMax = 256;    // open loop: sends per pass when behind
constexpr uint32_t kReceiveBatchMax = 1024;  // receives per pass
constexpr uint64_t kWakeMaxNs = 50'000'000;  // never sleep longer than this
constexpr std::size_t kServerIdsMax = 64;
constexpr uint64_t kArrivalSeedMix = 0x9e3779b97f4a7c15ULL;  // arrivals' seed from the jitter's
// Socket buffers asked for (best effort: the kernel caps them at net.core.rmem_max and
// wmem_max); an open-loop burst of replies larger than this is dropped by the kernel.
constexpr int kSocketBufferBytes = 4 << 20;

}  // namespace

LoadRunner::LoadRunner(const ClientOptions& options, EventLog& log)
    : options_(options),
      log_(log),
      tracker_(options.max_outstanding),
      budget_(options.retry_budget),
      rng_(options.seed != 0 ? options.seed : options.client_id + 1),
      // Its own stream, so that retry jitter does not shift the arrivals.
      arrivals_(options.rate, options.poisson,
                (options.seed != 0 ? options.seed : options.client_id + 1) ^ kArrivalSeedMix),
      send_buffer_(options.size_bytes),
      receive_buffer_(65536) {
  summary_.servers.reserve(kServerIdsMax);
  const uint64_t attempt_ns =
      (uint64_t{options.retry.timeout_ms} + options.retry.backoff_max_ms) * 1'000'000ULL;
  grace_ns_ = (uint64_t{options.retry.retries_max} + 1) * attempt_ns + 100'000'000ULL;
}

LoadRunner::~LoadRunner() {
  if (fd_ >= 0) ::close(fd_);
}

bool LoadRunner::open(std::string& error) {
  fd_ = ::socket(options_.target.family(), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0 || ::connect(fd_, options_.target.sockaddr_ptr(), options_.target.length) != 0) {
    error = "cannot open a socket to " + options_.target.to_string() + ": " + std::strerror(errno);
    return false;
  }
  const int buffer_bytes = kSocketBufferBytes;
  (void)::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &buffer_bytes, sizeof(buffer_bytes));
  (void)::setsockopt(fd_, SOL_SOCKET, SO_SNDBUF, &buffer_bytes, sizeof(buffer_bytes));
  return true;
}

bool LoadRunner::send_request(uint64_t request_id, uint64_t now_ns) {
  const wire::ClientRequest request{options_.client_id, request_id, now_ns, options_.work_us};
  const std::size_t size = wire::encode(request, send_buffer_, options_.size_bytes);
  ++summary_.sent;
  const bool sent =
      size != 0 && ::send(fd_, send_buffer_.data(), size, 0) == static_cast<ssize_t>(size);
  if (!sent) ++summary_.send_errors;
  if (sent == send_failing_) {  // a change: log it once, not per datagram
    send_failing_ = !sent;
    log_.write(sent ? std::string("sends flowing again")
                    : std::string("send failed: ").append(std::strerror(errno)));
  }
  return sent;  // a failed send still counts as an attempt: its timeout may retry it
}

void LoadRunner::issue(uint64_t now_ns) {
  const uint64_t id = next_request_id_++;
  tracker_.start(id, now_ns, uint64_t{options_.retry.timeout_ms} * 1'000'000ULL);
  budget_.on_request();
  ++summary_.requests;
  (void)send_request(id, now_ns);
}

void LoadRunner::issue_due(uint64_t now_ns) {
  if (options_.rate > 0) {
    for (uint32_t i = 0; i < kIssueBatchMax && issuing_; ++i) {
      if (start_ns_ + arrivals_.next_ns() > now_ns) break;
      ++scheduled_;
      arrivals_.advance();
      if (tracker_.can_start(next_request_id_)) {
        issue(now_ns);
      } else {
        ++summary_.skipped;
      }
      if (options_.requests != 0 && scheduled_ >= options_.requests) issuing_ = false;
    }
    return;
  }
  while (issuing_ && tracker_.unfinished() < options_.concurrency) {
    issue(now_ns);
    if (options_.requests != 0 && summary_.requests >= options_.requests) issuing_ = false;
  }
}

void LoadRunner::handle_timers(uint64_t now_ns) {
  const uint64_t timeout_ns = uint64_t{options_.retry.timeout_ms} * 1'000'000ULL;
  while (const auto event = tracker_.pop_due(now_ns)) {
    if (event->kind == TimerEvent::Kind::resend) {
      tracker_.resend(event->request_id, now_ns, timeout_ns);
      ++summary_.retried;
      (void)send_request(event->request_id, now_ns);
      continue;
    }
    if (event->attempt > options_.retry.retries_max) {
      tracker_.fail(event->request_id);
      ++summary_.failed;
    } else if (!budget_.try_spend()) {
      tracker_.fail(event->request_id);
      ++summary_.failed;
      ++summary_.retry_denied;
    } else {
      const double unit = std::uniform_real_distribution<double>(0.0, 1.0)(rng_);
      const uint64_t wait_ns =
          backoff_with_jitter_us(options_.retry, event->attempt, unit) * 1000ULL;
      tracker_.schedule_retry(event->request_id, now_ns + wait_ns);
    }
  }
}

void LoadRunner::count_server(uint32_t server_id) {
  for (auto& entry : summary_.servers) {
    if (entry.server_id == server_id) {
      ++entry.answered;
      return;
    }
  }
  if (summary_.servers.size() < kServerIdsMax) {
    summary_.servers.push_back({server_id, 1});
  } else {
    ++summary_.servers_other;
  }
}

void LoadRunner::on_datagram(std::span<const uint8_t> datagram, uint64_t now_ns) {
  const wire::Decoded decoded = wire::decode(datagram);
  const auto* response = decoded.ok() ? std::get_if<wire::ClientResponse>(&decoded.message) : nullptr;
  const auto* echo = decoded.ok() ? std::get_if<wire::ClientRequest>(&decoded.message) : nullptr;
  const uint32_t client_id = response ? response->client_id : echo ? echo->client_id : 0;
  if ((response == nullptr && echo == nullptr) || client_id != options_.client_id) {
    ++summary_.foreign;
    return;
  }
  const uint64_t request_id = response ? response->request_id : echo->request_id;
  uint64_t latency_ns = 0;
  switch (tracker_.on_reply(request_id, now_ns, latency_ns)) {
    case ReplyOutcome::duplicate: ++summary_.duplicates; return;
    case ReplyOutcome::late: ++summary_.late; return;
    case ReplyOutcome::answered: break;
  }
  ++summary_.answered;
  summary_.latency.record(latency_ns);
  if (echo != nullptr) {
    ++summary_.echo_answers;
    return;
  }
  count_server(response->server_id);
  summary_.queue_wait_us_total += response->queue_wait_us;
  summary_.service_us_total += response->service_time_us;
  ++summary_.timed_responses;
  summary_.server_side.record(
      (uint64_t{response->queue_wait_us} + response->service_time_us) * 1000);
}

void LoadRunner::receive_all(uint64_t now_ns) {
  for (uint32_t i = 0; i < kReceiveBatchMax; ++i) {
    const ssize_t n = ::recv(fd_, receive_buffer_.data(), receive_buffer_.size(), 0);
    if (n < 0) {
      if (errno == ECONNREFUSED) continue;  // ICMP for an earlier send; the next send logs it
      return;                               // EAGAIN: nothing more for now
    }
    on_datagram(std::span<const uint8_t>(receive_buffer_).first(static_cast<std::size_t>(n)),
                now_ns);
  }
}

uint64_t LoadRunner::next_wake_ns(uint64_t now_ns) const {
  uint64_t wake = now_ns + kWakeMaxNs;
  if (const auto timer = tracker_.next_timer_ns()) wake = std::min(wake, *timer);
  if (issuing_) {
    wake = std::min(wake, issue_end_ns_);
    if (options_.rate > 0) wake = std::min(wake, start_ns_ + arrivals_.next_ns());
  } else {
    wake = std::min(wake, issuing_stopped_ns_ + grace_ns_);
  }
  return wake;
}

void LoadRunner::run() {
  start_ns_ = monotonic_ns();
  issue_end_ns_ = options_.duration_s > 0
                      ? start_ns_ + static_cast<uint64_t>(options_.duration_s * 1e9)
                      : UINT64_MAX;
  pollfd poll_fd{fd_, POLLIN, 0};
  for (;;) {
    const uint64_t now_ns = monotonic_ns();
    if (issuing_ && now_ns >= issue_end_ns_) issuing_ = false;
    if (!issuing_ && issuing_stopped_ns_ == 0) issuing_stopped_ns_ = now_ns;
    if (!issuing_ && tracker_.unfinished() == 0) break;
    if (!issuing_ && now_ns >= issuing_stopped_ns_ + grace_ns_) {
      summary_.failed += tracker_.fail_all_unfinished();  // bounded end, whatever happened
      break;
    }
    if (issuing_) issue_due(now_ns);
    handle_timers(now_ns);
    receive_all(monotonic_ns());
    const uint64_t after_ns = monotonic_ns();
    const uint64_t wake_ns = next_wake_ns(after_ns);
    if (wake_ns <= after_ns) continue;
    const uint64_t wait_ns = wake_ns - after_ns;
    const timespec wait{static_cast<time_t>(wait_ns / 1'000'000'000ULL),
                        static_cast<long>(wait_ns % 1'000'000'000ULL)};
    ::ppoll(&poll_fd, 1, &wait, nullptr);
  }
  summary_.elapsed_ns = monotonic_ns() - start_ns_;
}

}  // namespace shortline::tools

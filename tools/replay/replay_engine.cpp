// The replay loop. Due times are absolute (start + schedule), so a late batch never shifts
// the ones after it; the thread sleeps on a timerfd (with 1 ns timer slack) until shortly
// before the next due time and spins the rest, draining replies all the while. With a window
// a due datagram also waits for a reply or a timeout to free a place.
#include "tools/replay/replay_engine.h"

#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <span>
#include <vector>

#include "dataplane/monotonic_clock.h"

namespace shortline::replay {
namespace {

constexpr uint32_t kTimerTag = UINT32_MAX;
constexpr uint64_t kSpinNs = 100'000;          // spin for the last 100 us before a due time
constexpr uint64_t kWaitSliceNs = 200'000'000;  // wake at least this often (progress, stop)
constexpr uint64_t kProgressNs = 1'000'000'000;
constexpr int kEventsMax = 64;
constexpr unsigned kRecvBatch = 32;
constexpr size_t kRecvBytes = 2048;             // replies are matched, not kept: truncation ok
constexpr uint64_t kNsPerMs = 1'000'000;

std::vector<uint64_t> sends_per_flow(const CapturePlan& plan, uint32_t flow_count) {
  std::vector<uint64_t> sends(flow_count, 0);
  for (const auto& d : plan.datagrams) ++sends[d.flow];
  return sends;
}

class Engine {
 public:
  Engine(const CapturePlan& plan, const ReplaySchedule& schedule, const FlowSockets& sockets,
         const EngineConfig& config, ReplayResult& result)
      : plan_(plan), schedule_(schedule), sockets_(sockets), config_(config), result_(result),
        cursor_(schedule, config.loops_max),
        requests_(config.match,
                  config.window > 0 ? std::min<uint64_t>(config.window, config.outstanding_max)
                                    : config.outstanding_max,
                  sends_per_flow(plan, sockets.size())),
        timeout_ns_(uint64_t{config.timeout_ms} * kNsPerMs) {}
  ~Engine() {
    if (epoll_fd_ >= 0) ::close(epoll_fd_);
    if (timer_fd_ >= 0) ::close(timer_fd_);
  }
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  bool setup(std::string& error);
  void run();

 private:
  size_t collect_due(uint64_t now);
  [[nodiscard]] bool window_full(size_t extra) const {
    return config_.window != 0 && requests_.outstanding() + extra >= config_.window;
  }
  void send_batch(size_t count);
  void send_flow(uint32_t flow, size_t count);
  unsigned prepare_flow_messages(uint32_t flow, size_t count);
  void record_sent(uint32_t flow, unsigned first, unsigned sent, uint64_t now);
  void wait_until(uint64_t due_abs);
  void wait_for_window();
  void expire_old(uint64_t now);
  void poll_events(int timeout_ms);
  void drain_flow(uint32_t flow);
  void match_reply(uint32_t flow, std::span<const std::byte> payload, uint64_t now);
  void progress(uint64_t now, bool final_line);
  void wait_for_replies();
  bool stop_requested() const { return config_.stop != nullptr && config_.stop->load(); }

  const CapturePlan& plan_;
  const ReplaySchedule& schedule_;
  const FlowSockets& sockets_;
  const EngineConfig& config_;
  ReplayResult& result_;
  ScheduleCursor cursor_;
  int epoll_fd_ = -1;
  int timer_fd_ = -1;
  uint64_t start_ns_ = 0;
  uint64_t progress_next_ns_ = 0;
  bool progress_shown_ = false;
  OutstandingRequests requests_;
  uint64_t timeout_ns_;
  std::vector<uint32_t> due_;       // datagram indices of the current batch
  std::vector<uint8_t> due_sent_;
  std::vector<mmsghdr> send_msgs_;
  std::vector<iovec> send_iov_;     // two per message: the DNS ID, then the rest
  std::vector<std::byte> send_ids_; // the rewritten DNS ID of each message, two bytes each
  std::vector<uint64_t> send_due_;  // due time (absolute) of each datagram in due_
  std::vector<uint64_t> flow_due_;  // due time of each message in send_msgs_
  std::vector<mmsghdr> recv_msgs_;
  std::vector<iovec> recv_iov_;
  std::vector<std::byte> recv_bytes_;
};

bool Engine::setup(std::string& error) {
  (void)::prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);  // precise timerfd wake-ups
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  timer_fd_ = ::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
  if (epoll_fd_ < 0 || timer_fd_ < 0) {
    error = std::string("epoll/timerfd: ") + std::strerror(errno);
    return false;
  }
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.u32 = kTimerTag;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, timer_fd_, &event) != 0) {
    error = std::string("epoll_ctl: ") + std::strerror(errno);
    return false;
  }
  for (uint32_t flow = 0; flow < sockets_.size(); ++flow) {
    event.data.u32 = flow;
    if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, sockets_.fd(flow), &event) != 0) {
      error = std::string("epoll_ctl: ") + std::strerror(errno);
      return false;
    }
  }
  due_.resize(config_.batch_max);
  due_sent_.resize(config_.batch_max);
  send_msgs_.resize(config_.batch_max);
  send_iov_.resize(2 * size_t{config_.batch_max});
  send_ids_.resize(2 * size_t{config_.batch_max});
  send_due_.resize(config_.batch_max);
  flow_due_.resize(config_.batch_max);
  recv_msgs_.resize(kRecvBatch);
  recv_iov_.resize(kRecvBatch);
  recv_bytes_.resize(kRecvBatch * kRecvBytes);
  for (unsigned i = 0; i < kRecvBatch; ++i) {
    recv_iov_[i] = iovec{recv_bytes_.data() + i * kRecvBytes, kRecvBytes};
    recv_msgs_[i].msg_hdr.msg_iov = &recv_iov_[i];
    recv_msgs_[i].msg_hdr.msg_iovlen = 1;
  }
  return true;
}

// Takes every datagram due by now (up to batch_max, and what the window leaves) off the cursor.
size_t Engine::collect_due(uint64_t now) {
  size_t count = 0;
  while (count < config_.batch_max && !window_full(count) && !cursor_.done() &&
         start_ns_ + cursor_.due_ns() <= now) {
    if (cursor_.index() == 0) ++result_.loops_started;
    due_[count] = static_cast<uint32_t>(cursor_.index());
    send_due_[count] = start_ns_ + cursor_.due_ns();
    ++count;
    cursor_.advance();
  }
  return count;
}

// Sends a batch: one sendmmsg per flow present, each flow's datagrams in recorded order.
void Engine::send_batch(size_t count) {
  std::fill_n(due_sent_.begin(), count, uint8_t{0});
  for (size_t first = 0; first < count; ++first) {
    if (due_sent_[first] != 0) continue;
    send_flow(plan_.datagrams[due_[first]].flow, count);
  }
}

// Fills send_msgs_ with flow's datagrams of the batch, in recorded order; with DNS matching
// each message's ID is replaced by the flow's next sequence numbers. Returns the count.
unsigned Engine::prepare_flow_messages(uint32_t flow, size_t count) {
  const bool rewrite_id = requests_.mode() == MatchMode::kDns;
  const uint16_t first_id = requests_.next_id(flow);
  unsigned m = 0;
  for (size_t i = 0; i < count; ++i) {
    const PlannedDatagram& d = plan_.datagrams[due_[i]];
    if (due_sent_[i] != 0 || d.flow != flow) continue;
    due_sent_[i] = 1;
    auto* payload = const_cast<std::byte*>(plan_.payload_bytes.data() + d.payload_offset);
    iovec* iov = &send_iov_[2 * size_t{m}];
    send_msgs_[m] = mmsghdr{};
    send_msgs_[m].msg_hdr.msg_iov = iov;
    if (rewrite_id) {  // every DNS payload holds a 12-byte header (checked when chosen)
      const auto id = static_cast<uint16_t>(first_id + m);
      std::byte* id_bytes = &send_ids_[2 * size_t{m}];
      id_bytes[0] = static_cast<std::byte>(id >> 8);
      id_bytes[1] = static_cast<std::byte>(id & 0xFF);
      iov[0] = iovec{id_bytes, 2};
      iov[1] = iovec{payload + 2, d.payload_length - 2};
      send_msgs_[m].msg_hdr.msg_iovlen = 2;
    } else {
      iov[0] = iovec{payload, d.payload_length};
      send_msgs_[m].msg_hdr.msg_iovlen = 1;
    }
    flow_due_[m] = send_due_[i];
    ++m;
  }
  return m;
}

// Books messages [first, first + sent) of send_msgs_ as outstanding requests.
void Engine::record_sent(uint32_t flow, unsigned first, unsigned sent, uint64_t now) {
  const uint32_t interval = result_.intervals.index_at(now - start_ns_);
  result_.intervals.at(interval).sent += sent;
  for (unsigned i = first; i < first + sent; ++i) {
    if (!schedule_.max_rate()) result_.lateness_ns.record(now > flow_due_[i] ? now - flow_due_[i] : 0);
    requests_.on_sent(flow, now, interval);
  }
}

void Engine::send_flow(uint32_t flow, size_t count) {
  const unsigned m = prepare_flow_messages(flow, count);
  for (unsigned done = 0; done < m;) {
    const uint64_t now = monotonic_ns();
    const int rc = ::sendmmsg(sockets_.fd(flow), &send_msgs_[done], m - done, 0);
    ++result_.send_calls;
    if (rc < 0 && errno == EINTR) continue;
    const unsigned sent = rc < 0 ? 0U : static_cast<unsigned>(rc);
    record_sent(flow, done, sent, now);
    result_.sent += sent;
    done += sent;
    if (rc < 0) {  // the first remaining datagram was refused (ECONNREFUSED, ...): skip it
      ++result_.send_errors;
      requests_.on_not_sent(flow);
      ++done;
    }
  }
}

// Sleeps (timerfd + epoll, replies handled meanwhile) until kSpinNs before due_abs, capped at
// kWaitSliceNs and at the duration bound; closer than kSpinNs it only polls replies.
void Engine::wait_until(uint64_t due_abs) {
  const uint64_t now = monotonic_ns();
  uint64_t wake = due_abs > kSpinNs ? due_abs - kSpinNs : 0;
  wake = std::min(wake, now + kWaitSliceNs);
  if (config_.duration_ns != 0) wake = std::min(wake, start_ns_ + config_.duration_ns);
  if (wake <= now) {
    poll_events(0);
    return;
  }
  itimerspec spec{};
  spec.it_value.tv_sec = static_cast<time_t>(wake / 1'000'000'000ULL);
  spec.it_value.tv_nsec = static_cast<long>(wake % 1'000'000'000ULL);
  if (::timerfd_settime(timer_fd_, TFD_TIMER_ABSTIME, &spec, nullptr) != 0) {
    poll_events(1);  // cannot arm: fall back to a 1 ms poll
    return;
  }
  poll_events(-1);
}

// The window is full: waits for a reply, or until the oldest request times out.
void Engine::wait_for_window() {
  const uint64_t now = monotonic_ns();
  const auto oldest = requests_.oldest_sent_ns();
  uint64_t wait_ns = kWaitSliceNs;
  if (oldest) wait_ns = std::min(wait_ns, *oldest + timeout_ns_ > now ? *oldest + timeout_ns_ - now : 0);
  poll_events(static_cast<int>((wait_ns + kNsPerMs - 1) / kNsPerMs));
}

void Engine::expire_old(uint64_t now) {
  if (now > timeout_ns_) result_.expired += requests_.expire_sent_before(now - timeout_ns_);
}

// One epoll_wait: drains the ready flows' replies and clears the timer.
void Engine::poll_events(int timeout_ms) {
  epoll_event events[kEventsMax];
  const int ready = ::epoll_wait(epoll_fd_, events, kEventsMax, timeout_ms);
  // Requests past their timeout go first, so that a late reply cannot still match one.
  if (ready > 0) expire_old(monotonic_ns());
  for (int i = 0; i < ready; ++i) {
    const uint32_t tag = events[i].data.u32;
    if (tag == kTimerTag) {
      uint64_t expirations = 0;
      (void)!::read(timer_fd_, &expirations, sizeof(expirations));
    } else {
      drain_flow(tag);
    }
  }
}

// Receives what a flow's socket holds (bounded rounds) and matches each reply to its request.
void Engine::drain_flow(uint32_t flow) {
  for (int round = 0; round < 8; ++round) {
    const int rc = ::recvmmsg(sockets_.fd(flow), recv_msgs_.data(), kRecvBatch, MSG_DONTWAIT,
                              nullptr);
    if (rc < 0 && errno == ECONNREFUSED) {  // an ICMP port unreachable, now cleared
      ++result_.refused;
      continue;
    }
    if (rc <= 0) return;  // EAGAIN
    const uint64_t now = monotonic_ns();
    for (int i = 0; i < rc; ++i) {
      const size_t length = std::min<size_t>(recv_msgs_[i].msg_len, kRecvBytes);
      match_reply(flow, std::span(recv_bytes_.data() + i * kRecvBytes, length), now);
    }
    if (static_cast<unsigned>(rc) < kRecvBatch) return;
  }
}

void Engine::match_reply(uint32_t flow, std::span<const std::byte> payload, uint64_t now) {
  const auto request = requests_.on_reply(flow, payload);
  if (!request) {
    ++result_.unmatched_replies;
    return;
  }
  const uint64_t latency = now > request->sent_ns ? now - request->sent_ns : 0;
  ++result_.replies;
  result_.latency_ns.record(latency);
  IntervalCounts& interval = result_.intervals.at(request->interval);
  ++interval.answered;
  interval.latency_ns.record(latency);
}

void Engine::progress(uint64_t now, bool final_line) {
  if (!config_.progress || (!final_line && now < progress_next_ns_)) return;
  progress_next_ns_ = now + kProgressNs;
  const double elapsed_s = static_cast<double>(now - start_ns_) / 1e9;
  const double rate = elapsed_s > 0 ? static_cast<double>(result_.sent) / elapsed_s : 0.0;
  std::fprintf(stderr,
               "\r%7.1f s  loop %" PRIu64 "  sent %" PRIu64 " (%.0f/s)  replies %" PRIu64
               "  in flight %" PRIu64 "  late max %.3f ms   ",
               elapsed_s, result_.loops_started, result_.sent, rate, result_.replies,
               requests_.outstanding(), static_cast<double>(result_.lateness_ns.max_ns()) / 1e6);
  if (final_line) std::fputc('\n', stderr);
  std::fflush(stderr);
  progress_shown_ = true;
}

// Waits up to the timeout for what is still outstanding; what is left then is lost.
void Engine::wait_for_replies() {
  const uint64_t deadline = monotonic_ns() + timeout_ns_;
  for (;;) {
    const uint64_t now = monotonic_ns();
    expire_old(now);
    if (requests_.outstanding() == 0 || now >= deadline || stop_requested()) break;
    const uint64_t left_ms = (deadline - now + kNsPerMs - 1) / kNsPerMs;
    poll_events(static_cast<int>(std::min<uint64_t>(left_ms, 200)));
    progress(monotonic_ns(), false);
  }
  result_.expired += requests_.expire_sent_before(UINT64_MAX);
}

void Engine::run() {
  start_ns_ = monotonic_ns();
  progress_next_ns_ = start_ns_ + kProgressNs;
  result_.stop = StopReason::kCompleted;
  uint64_t last_send_ns = start_ns_;
  while (!cursor_.done()) {
    const uint64_t now = monotonic_ns();
    if (stop_requested()) {
      result_.stop = StopReason::kInterrupted;
      break;
    }
    if (config_.duration_ns != 0 && now - start_ns_ >= config_.duration_ns) {
      result_.stop = StopReason::kDuration;
      break;
    }
    expire_old(now);
    const size_t count = collect_due(now);
    if (count > 0) {
      send_batch(count);
      last_send_ns = monotonic_ns();
      poll_events(0);
    } else if (window_full(0)) {
      wait_for_window();
    } else {
      wait_until(start_ns_ + cursor_.due_ns());
    }
    progress(now, false);
  }
  result_.send_elapsed_ns = last_send_ns - start_ns_;
  wait_for_replies();
  result_.evicted = requests_.evicted();
  result_.outstanding_max = requests_.outstanding_max();
  result_.match = requests_.mode();
  result_.total_elapsed_ns = monotonic_ns() - start_ns_;
  if (progress_shown_) progress(monotonic_ns(), true);
}

}  // namespace

bool run_replay(const CapturePlan& plan, const ReplaySchedule& schedule,
                const FlowSockets& sockets, const EngineConfig& config, ReplayResult& result,
                std::string& error) {
  Engine engine(plan, schedule, sockets, config, result);
  if (!engine.setup(error)) return false;
  result.intended_rate_pps = schedule.intended_rate_pps();
  engine.run();
  return true;
}

}  // namespace shortline::replay

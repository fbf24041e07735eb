// shortline-bench-loadgen: batched UDP load generator for the end-to-end benchmark. Open loop
// at a fixed rate or closed by a window; sequence and send time ride in each payload. With
// --churn every request leaves from a socket of its own (a new source port), closed after its
// reply or its timeout: what a balancer's session setup and teardown cost.
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include <algorithm>

#include "bench/e2e/bench_common.h"
#include "bench/e2e/latency_histogram.h"

namespace shortline::bench {
namespace {

constexpr size_t kFlowsMax = 256;
constexpr size_t kHeaderBytes = 16;  // u64 sequence, u64 CLOCK_MONOTONIC send time (ns)
constexpr uint64_t kChunkShift = 8;  // one send-time checkpoint per 256 sequence numbers
constexpr uint64_t kMaxWaitNs = 1'000'000;
constexpr uint64_t kNsPerS = 1'000'000'000;
constexpr uint64_t kRateMax = 100'000'000;   // keeps the schedule arithmetic within 64 bits
constexpr uint64_t kChurnWindowMax = 16384;  // sockets open at once (ephemeral ports: ~28 k)
constexpr uint64_t kChurnWindowDefault = 64;
constexpr size_t kEventsMax = 256;    // epoll events per wait
constexpr size_t kChurnReadsMax = 4;  // datagrams read per ready churn socket
constexpr uint32_t kNoSlot = ~0U;
constexpr size_t kSpareFiles = 32;  // stdio, epoll and slack beside the window's sockets

enum : uint8_t { kUnsent = 0, kOutstanding = 1, kExpired = 2, kAnswered = 3 };

struct Options {
  NetAddress target;
  size_t flows = 8;
  size_t size = 64;
  uint64_t rate = 0;
  uint64_t window = 128;
  double duration_s = 5.0;
  double warmup_s = 1.0;
  double grace_s = 0.5;
  uint64_t timeout_ns = 200'000'000;
  uint64_t packets_max = 20'000'000;
  bool churn = false;       // a fresh socket per request
  bool churn_bind = false;  // bind each churn socket to port 0 before sendto (else autobind)
};

// A request in flight in --churn mode: its own socket, linked in send order so that the
// oldest expires first in O(1).
struct ChurnSlot {
  int fd = -1;
  uint64_t seq = 0;
  uint64_t sent_ns = 0;
  uint32_t prev = kNoSlot;
  uint32_t next = kNoSlot;
};

Options parse_options(int argc, char** argv) {
  const Flags f(argc, argv,
                {"target", "flows", "size", "rate", "window", "duration", "warmup", "grace",
                 "timeout-ms", "max-packets"},
                {"churn", "churn-bind"});
  Options o;
  if (f.all("target").empty())
    usage_error(
        "shortline-bench-loadgen --target HOST:PORT [--flows 8] [--size 64] [--rate 0]"
        " [--window 128] [--duration 5] [--warmup 1] [--grace 0.5] [--timeout-ms 200]"
        " [--max-packets 20000000] [--churn [--churn-bind]]  (--churn: window default 64)");
  o.target = parse_address_or_die(f.text("target", ""));
  o.churn = f.has("churn");
  o.churn_bind = f.has("churn-bind");
  o.flows = f.count("flows", o.flows);
  o.size = f.count("size", o.size);
  o.rate = f.count("rate", o.rate);
  o.window = f.count("window", o.churn ? kChurnWindowDefault : o.window);
  o.duration_s = f.seconds("duration", o.duration_s);
  o.warmup_s = f.seconds("warmup", o.warmup_s);
  o.grace_s = f.seconds("grace", o.grace_s);
  o.timeout_ns = f.count("timeout-ms", 200) * 1'000'000ULL;
  o.packets_max = f.count("max-packets", o.packets_max);
  if (o.flows == 0 || o.flows > kFlowsMax) usage_error("--flows must be 1..256");
  if (o.size < kHeaderBytes || o.size > kDatagramMax) usage_error("--size must be 16..2048");
  if (o.rate > kRateMax) usage_error("--rate must be <= 100000000");
  if (o.rate == 0 && o.window == 0) usage_error("--window must be > 0 with --rate 0");
  if (o.churn && (o.window == 0 || o.window > kChurnWindowMax))
    usage_error("--window must be 1..16384 with --churn");
  if (o.churn_bind && !o.churn) usage_error("--churn-bind needs --churn");
  if (o.duration_s <= 0 || o.duration_s > 600 || o.warmup_s > 600 || o.grace_s > 60)
    usage_error("--duration must be in (0, 600], --warmup <= 600, --grace <= 60");
  if (o.packets_max == 0 || o.packets_max > 500'000'000) usage_error("--max-packets 1..5e8");
  return o;
}

// --churn holds up to `window` sockets open: raises the soft RLIMIT_NOFILE to the hard limit
// when the window needs more than the soft one allows.
void ensure_file_limit(uint64_t files_needed) {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) die("getrlimit");
  if (limit.rlim_cur >= files_needed) return;
  if (limit.rlim_max < files_needed)
    usage_error("--window needs " + std::to_string(files_needed) + " open files; the hard " +
                "RLIMIT_NOFILE is " + std::to_string(limit.rlim_max));
  limit.rlim_cur = limit.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &limit) != 0) die("setrlimit RLIMIT_NOFILE");
}

class LoadGen {
 public:
  explicit LoadGen(const Options& options)
      : o_(options),
        state_(o_.packets_max, kUnsent),
        chunk_sent_ns_((o_.packets_max >> kChunkShift) + 1, 0) {
    epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd_ < 0) die("epoll_create1");
    if (o_.churn) {
      init_churn();
      return;
    }
    for (size_t i = 0; i < o_.flows; ++i) {
      const int fd = open_udp_socket(o_.target.family(), nullptr);
      if (connect(fd, o_.target.sockaddr_ptr(), o_.target.length) != 0) die("connect");
      epoll_event event{EPOLLIN, {.u64 = i}};
      if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event) != 0) die("epoll_ctl");
      fds_.push_back(fd);
    }
    for (size_t i = 0; i < kBatchMax; ++i) {
      for (size_t b = kHeaderBytes; b < o_.size; ++b) out_.buffers[i][b] = static_cast<char>(b);
      out_.iovs[i] = {out_.buffers[i].data(), o_.size};
      out_.msgs[i].msg_hdr.msg_iov = &out_.iovs[i];
      out_.msgs[i].msg_hdr.msg_iovlen = 1;
    }
  }

  void run() {
    start_ns_ = monotonic_ns();
    measure_start_ns_ = start_ns_ + static_cast<uint64_t>(o_.warmup_s * 1e9);
    measure_end_ns_ = measure_start_ns_ + static_cast<uint64_t>(o_.duration_s * 1e9);
    bool measuring = false;
    for (uint64_t now = start_ns_; now < measure_end_ns_ && next_seq_ < o_.packets_max;
         now = monotonic_ns()) {
      if (!measuring && now >= measure_start_ns_) {
        measuring = true;
        first_measured_ = next_seq_;
        mark("MEASURE_START");
      }
      const uint64_t due = sends_due(now);
      if (o_.churn) {
        if (due > 0) send_churn(due);
        expire_churn(now);
      } else {
        if (due > 0) send_batch(due);
        if (o_.rate == 0) expire(now);
      }
      receive(wait_ns(now, due));
    }
    if (!measuring) first_measured_ = next_seq_;  // --max-packets hit during warm-up
    measure_end_ns_ = monotonic_ns();
    last_measured_ = next_seq_;
    mark("MEASURE_END");
    const uint64_t grace_end_ns = monotonic_ns() + static_cast<uint64_t>(o_.grace_s * 1e9);
    while (answered_ < last_measured_ - first_measured_ && monotonic_ns() < grace_end_ns)
      receive(kMaxWaitNs);
  }

  void print_json() const {
    const uint64_t sent = last_measured_ - first_measured_;
    const double window_s = static_cast<double>(measure_end_ns_ - measure_start_ns_) / 1e9;
    std::printf(
        "{\"sent\": %llu, \"answered\": %llu, \"lost\": %llu, \"duplicates\": %llu, "
        "\"unexpected\": %llu, \"send_errors\": %llu, \"pps_sent\": %.1f, \"pps_answered\": %.1f, "
        "\"p50_us\": %.2f, \"p99_us\": %.2f, \"p999_us\": %.2f, \"window_start_ns\": %llu, "
        "\"window_end_ns\": %llu, \"rate\": %llu, \"window\": %llu, \"flows\": %zu, "
        "\"size\": %zu, \"churn\": %s, \"window_full\": %llu, \"socket_errors\": %llu, "
        "\"foreign\": %llu}\n",
        ull(sent), ull(answered_), ull(sent - answered_), ull(duplicates_), ull(unexpected_),
        ull(send_errors_), static_cast<double>(sent) / window_s,
        static_cast<double>(answered_) / window_s, latency_.quantile_us(0.50),
        latency_.quantile_us(0.99), latency_.quantile_us(0.999), ull(measure_start_ns_),
        ull(measure_end_ns_), ull(o_.rate), ull(o_.window), o_.flows, o_.size,
        o_.churn ? "true" : "false", ull(window_full_), ull(socket_errors_), ull(foreign_));
    std::fflush(stdout);
  }

 private:
  static unsigned long long ull(uint64_t v) { return static_cast<unsigned long long>(v); }

  static void mark(const char* line) {
    std::fprintf(stderr, "%s\n", line);
    std::fflush(stderr);
  }

  // How many datagrams to send now: behind the rate schedule, or free window slots.
  [[nodiscard]] uint64_t sends_due(uint64_t now) const {
    uint64_t due = 0;
    if (o_.rate > 0) {
      const uint64_t elapsed = now - start_ns_;  // split so that nothing overflows 64 bits
      const uint64_t scheduled =
          elapsed / kNsPerS * o_.rate + elapsed % kNsPerS * o_.rate / kNsPerS + 1;
      due = scheduled > next_seq_ ? scheduled - next_seq_ : 0;
    } else if (o_.churn) {
      due = free_slots_.size();
    } else {
      due = outstanding_ < o_.window ? o_.window - outstanding_ : 0;
    }
    return std::min<uint64_t>({due, kBatchMax, o_.packets_max - next_seq_});
  }

  // How long receive() may block: until the next scheduled send, or while the window is full.
  [[nodiscard]] uint64_t wait_ns(uint64_t now, uint64_t due) const {
    if (o_.rate == 0 && o_.churn) return free_slots_.empty() ? kMaxWaitNs : 0;
    if (o_.rate == 0) return outstanding_ >= o_.window ? kMaxWaitNs : 0;
    if (due == kBatchMax) return 0;  // behind schedule: catch up first
    const uint64_t next_ns =
        start_ns_ + next_seq_ / o_.rate * kNsPerS + next_seq_ % o_.rate * kNsPerS / o_.rate;
    return next_ns > now ? std::min(next_ns - now, kMaxWaitNs) : 0;
  }

  void send_batch(uint64_t count) {
    const uint64_t sent_ns = monotonic_ns();
    for (size_t i = 0; i < count; ++i) {
      const uint64_t header[2] = {next_seq_ + i, sent_ns};
      std::memcpy(out_.buffers[i].data(), header, sizeof(header));
    }
    const int fd = fds_[next_flow_++ % fds_.size()];
    const int n = sendmmsg(fd, out_.msgs.data(), static_cast<unsigned>(count), MSG_DONTWAIT);
    if (n <= 0) {
      if (n < 0 && errno != EAGAIN && errno != ENOBUFS) ++send_errors_;
      return;
    }
    for (uint64_t s = next_seq_; s < next_seq_ + static_cast<uint64_t>(n); ++s) {
      state_[s] = kOutstanding;
      if ((s & ((1ULL << kChunkShift) - 1)) == 0) chunk_sent_ns_[s >> kChunkShift] = sent_ns;
    }
    next_seq_ += static_cast<uint64_t>(n);
    outstanding_ += static_cast<uint64_t>(n);
  }

  // Frees the window slots of datagrams unanswered after --timeout-ms (closed loop only).
  void expire(uint64_t now) {
    while (expire_cursor_ < next_seq_ &&
           chunk_sent_ns_[expire_cursor_ >> kChunkShift] + o_.timeout_ns < now) {
      if (state_[expire_cursor_] == kOutstanding) {
        state_[expire_cursor_] = kExpired;
        --outstanding_;
      }
      ++expire_cursor_;
    }
  }

  void receive(uint64_t timeout_ns) {
    std::array<epoll_event, kEventsMax> events{};
    const timespec timeout{static_cast<time_t>(timeout_ns / 1'000'000'000ULL),
                           static_cast<long>(timeout_ns % 1'000'000'000ULL)};
    const int events_max = o_.churn ? static_cast<int>(kEventsMax) : static_cast<int>(fds_.size());
    const int ready = epoll_pwait2(epoll_fd_, events.data(), events_max, &timeout, nullptr);
    for (int e = 0; e < ready; ++e) {
      const uint64_t token = events[static_cast<size_t>(e)].data.u64;
      if (o_.churn) {
        receive_churn(static_cast<uint32_t>(token));
        continue;
      }
      const int fd = fds_[token];
      for (int round = 0; round < 4; ++round) {
        const int n = in_.receive(fd, 0, kBatchMax, false);
        if (n <= 0) break;
        const uint64_t received_ns = monotonic_ns();
        for (size_t i = 0; i < static_cast<size_t>(n); ++i) on_reply(i, received_ns);
        if (static_cast<size_t>(n) < kBatchMax) break;
      }
    }
  }

  // Accounts reply i of in_; returns its sequence number, or ~0 when it carries none.
  uint64_t on_reply(size_t i, uint64_t received_ns) {
    uint64_t header[2] = {};
    if (in_.msgs[i].msg_len < kHeaderBytes) [[unlikely]] {
      ++unexpected_;
      return ~0ULL;
    }
    std::memcpy(header, in_.buffers[i].data(), sizeof(header));
    const uint64_t seq = header[0];
    if (seq >= next_seq_) [[unlikely]] {
      ++unexpected_;
      return ~0ULL;
    }
    const bool measured = seq >= first_measured_ && seq < last_measured_;
    if (state_[seq] == kAnswered) {
      duplicates_ += measured ? 1 : 0;
      return seq;
    }
    if (state_[seq] == kOutstanding) --outstanding_;
    state_[seq] = kAnswered;
    if (!measured) return seq;
    ++answered_;
    latency_.record(received_ns > header[1] ? received_ns - header[1] : 0);
    return seq;
  }

  // --churn: the window's slots, all free; the wildcard address each socket may bind to.
  void init_churn() {
    slots_.resize(o_.window);
    free_slots_.reserve(o_.window);
    for (uint64_t i = o_.window; i > 0; --i) free_slots_.push_back(static_cast<uint32_t>(i - 1));
    bind_any_.storage.ss_family = static_cast<sa_family_t>(o_.target.family());
    bind_any_.length = o_.target.length;  // port 0 and the zeroed (wildcard) address
    for (size_t b = kHeaderBytes; b < o_.size; ++b) out_.buffers[0][b] = static_cast<char>(b);
  }

  // --churn: `count` requests, each from a new socket. In open loop a request due while every
  // slot is taken is not sent and counts as lost (window_full).
  void send_churn(uint64_t count) {
    for (uint64_t i = 0; i < count; ++i) {
      if (free_slots_.empty()) {
        window_full_ += next_seq_ >= first_measured_ ? 1 : 0;  // like lost: measured ones only
        state_[next_seq_++] = kExpired;
        continue;
      }
      const int fd = socket(o_.target.family(), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (fd < 0) [[unlikely]] {
        ++socket_errors_;  // e.g. EMFILE, or no ephemeral port left: retried next round
        return;
      }
      if (o_.churn_bind && bind(fd, bind_any_.sockaddr_ptr(), bind_any_.length) != 0) {
        ++socket_errors_;
        close(fd);
        return;
      }
      const uint32_t slot = free_slots_.back();
      epoll_event event{EPOLLIN, {.u64 = slot}};
      if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event) != 0) die("epoll_ctl");
      const uint64_t header[2] = {next_seq_, monotonic_ns()};
      std::memcpy(out_.buffers[0].data(), header, sizeof(header));
      if (sendto(fd, out_.buffers[0].data(), o_.size, MSG_DONTWAIT, o_.target.sockaddr_ptr(),
                 o_.target.length) < 0) [[unlikely]] {
        ++send_errors_;
        close(fd);  // also leaves the epoll set
        return;
      }
      free_slots_.pop_back();
      slots_[slot] = {fd, next_seq_, header[1], kNoSlot, kNoSlot};
      link_tail(slot);
      state_[next_seq_++] = kOutstanding;
      ++outstanding_;
    }
  }

  // --churn: reads what came on a slot's socket; closes it once its own request is answered.
  // A reply carrying another sequence number (a late one to an earlier owner of the port, or
  // one the balancer sent to the wrong client) is counted as foreign.
  void receive_churn(uint32_t slot) {
    assert_always(slot < slots_.size() && slots_[slot].fd >= 0, "epoll event for a free slot");
    const int n = in_.receive(slots_[slot].fd, 0, kChurnReadsMax, false);
    if (n <= 0) return;
    const uint64_t received_ns = monotonic_ns();
    for (size_t i = 0; i < static_cast<size_t>(n); ++i) {
      const uint64_t seq = on_reply(i, received_ns);
      if (seq != ~0ULL && seq != slots_[slot].seq) ++foreign_;
    }
    if (state_[slots_[slot].seq] != kOutstanding) release(slot);
  }

  // --churn: closes the sockets of requests unanswered after --timeout-ms, oldest first.
  void expire_churn(uint64_t now) {
    while (head_ != kNoSlot && slots_[head_].sent_ns + o_.timeout_ns < now) {
      const uint64_t seq = slots_[head_].seq;
      if (state_[seq] == kOutstanding) {
        state_[seq] = kExpired;
        --outstanding_;
      }
      release(head_);
    }
  }

  void link_tail(uint32_t slot) {
    slots_[slot].prev = tail_;
    if (tail_ != kNoSlot) slots_[tail_].next = slot;
    tail_ = slot;
    if (head_ == kNoSlot) head_ = slot;
  }

  void release(uint32_t slot) {
    ChurnSlot& s = slots_[slot];
    close(s.fd);  // the last reference: the kernel drops it from the epoll set
    (s.prev != kNoSlot ? slots_[s.prev].next : head_) = s.next;
    (s.next != kNoSlot ? slots_[s.next].prev : tail_) = s.prev;
    s = ChurnSlot{};
    free_slots_.push_back(slot);
  }

  static void assert_always(bool ok, const char* what) {
    if (!ok) [[unlikely]] {
      std::fprintf(stderr, "shortline-bench-loadgen: assertion failed: %s\n", what);
      std::abort();
    }
  }

  Options o_;
  std::vector<uint8_t> state_;           // per sequence number, allocated once
  std::vector<uint64_t> chunk_sent_ns_;  // send time of every 256th sequence number
  std::vector<int> fds_;
  std::vector<ChurnSlot> slots_;              // --churn: `window` slots, allocated once
  std::vector<uint32_t> free_slots_;          // --churn: a stack of free slot indices
  uint32_t head_ = kNoSlot, tail_ = kNoSlot;  // --churn: oldest and newest slot in flight
  NetAddress bind_any_;
  int epoll_fd_ = -1;
  DatagramBatch out_;
  DatagramBatch in_;
  Histogram latency_;
  uint64_t start_ns_ = 0, measure_start_ns_ = 0, measure_end_ns_ = 0;
  uint64_t next_seq_ = 0, first_measured_ = ~0ULL, last_measured_ = ~0ULL;
  uint64_t outstanding_ = 0, expire_cursor_ = 0, next_flow_ = 0;
  uint64_t answered_ = 0, duplicates_ = 0, unexpected_ = 0, send_errors_ = 0;
  uint64_t window_full_ = 0, socket_errors_ = 0, foreign_ = 0;
};

}  // namespace
}  // namespace shortline::bench

int main(int argc, char** argv) {
  using namespace shortline::bench;
  const Options options = parse_options(argc, argv);
  if (options.churn) ensure_file_limit(options.window + kSpareFiles);
  prctl(PR_SET_TIMERSLACK, 1000UL);  // 1 us: pace sends at the schedule, not at 50 us slack
  static LoadGen load_gen(options);  // static: the batches and histogram are large
  load_gen.run();
  load_gen.print_json();
  return 0;
}

// shortline-bench-loadgen: batched UDP load generator for the end-to-end benchmark. Open loop
// at a fixed rate or closed by a window; sequence and send time ride in each payload.
#include <sys/epoll.h>
#include <sys/prctl.h>

#include <algorithm>
#include <bit>

#include "bench/e2e/bench_common.h"

namespace shortline::bench {
namespace {

constexpr size_t kFlowsMax = 256;
constexpr size_t kHeaderBytes = 16;  // u64 sequence, u64 CLOCK_MONOTONIC send time (ns)
constexpr uint64_t kChunkShift = 8;  // one send-time checkpoint per 256 sequence numbers
constexpr uint64_t kMaxWaitNs = 1'000'000;
constexpr uint64_t kNsPerS = 1'000'000'000;
constexpr uint64_t kRateMax = 100'000'000;  // keeps the schedule arithmetic within 64 bits

enum : uint8_t { kUnsent = 0, kOutstanding = 1, kExpired = 2, kAnswered = 3 };

// Log-linear latency histogram: 32 linear sub-buckets per power of two, ~3% resolution.
class Histogram {
 public:
  static constexpr unsigned kSubBits = 5;
  static constexpr size_t kBuckets = (64 - kSubBits + 1) << kSubBits;

  void record(uint64_t value_ns) {
    ++counts_[index(value_ns)];
    ++total_;
  }

  // The midpoint of the bucket holding the q-quantile, in microseconds.
  [[nodiscard]] double quantile_us(double q) const {
    if (total_ == 0) return 0.0;
    const auto rank = static_cast<uint64_t>(q * static_cast<double>(total_ - 1)) + 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < kBuckets; ++i) {
      seen += counts_[i];
      if (seen >= rank) return static_cast<double>(midpoint(i)) / 1000.0;
    }
    return 0.0;
  }

 private:
  static size_t index(uint64_t v) {
    if (v < (1ULL << kSubBits)) return static_cast<size_t>(v);
    const unsigned exponent = 63U - static_cast<unsigned>(std::countl_zero(v));
    const uint64_t sub = (v >> (exponent - kSubBits)) & ((1ULL << kSubBits) - 1);
    return ((exponent - kSubBits + 1) << kSubBits) + sub;
  }
  static uint64_t midpoint(size_t i) {
    if (i < (1U << kSubBits)) return i;
    const size_t exponent = (i >> kSubBits) + kSubBits - 1;
    const uint64_t width = 1ULL << (exponent - kSubBits);
    const uint64_t low = (1ULL << exponent) + (i & ((1U << kSubBits) - 1)) * width;
    return low + width / 2;
  }

  std::array<uint64_t, kBuckets> counts_{};
  uint64_t total_ = 0;
};

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
};

Options parse_options(int argc, char** argv) {
  const Flags f(argc, argv,
                {"target", "flows", "size", "rate", "window", "duration", "warmup", "grace",
                 "timeout-ms", "max-packets"});
  Options o;
  if (f.all("target").empty())
    usage_error(
        "shortline-bench-loadgen --target HOST:PORT [--flows 8] [--size 64] [--rate 0]"
        " [--window 128] [--duration 5] [--warmup 1] [--grace 0.5] [--timeout-ms 200]"
        " [--max-packets 20000000]");
  o.target = parse_address_or_die(f.text("target", ""));
  o.flows = f.count("flows", o.flows);
  o.size = f.count("size", o.size);
  o.rate = f.count("rate", o.rate);
  o.window = f.count("window", o.window);
  o.duration_s = f.seconds("duration", o.duration_s);
  o.warmup_s = f.seconds("warmup", o.warmup_s);
  o.grace_s = f.seconds("grace", o.grace_s);
  o.timeout_ns = f.count("timeout-ms", 200) * 1'000'000ULL;
  o.packets_max = f.count("max-packets", o.packets_max);
  if (o.flows == 0 || o.flows > kFlowsMax) usage_error("--flows must be 1..256");
  if (o.size < kHeaderBytes || o.size > kDatagramMax) usage_error("--size must be 16..2048");
  if (o.rate > kRateMax) usage_error("--rate must be <= 100000000");
  if (o.rate == 0 && o.window == 0) usage_error("--window must be > 0 with --rate 0");
  if (o.duration_s <= 0 || o.duration_s > 600 || o.warmup_s > 600 || o.grace_s > 60)
    usage_error("--duration must be in (0, 600], --warmup <= 600, --grace <= 60");
  if (o.packets_max == 0 || o.packets_max > 500'000'000) usage_error("--max-packets 1..5e8");
  return o;
}

class LoadGen {
 public:
  explicit LoadGen(const Options& options)
      : o_(options),
        state_(o_.packets_max, kUnsent),
        chunk_sent_ns_((o_.packets_max >> kChunkShift) + 1, 0) {
    epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd_ < 0) die("epoll_create1");
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
      if (due > 0) send_batch(due);
      if (o_.rate == 0) expire(now);
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
        "\"size\": %zu}\n",
        ull(sent), ull(answered_), ull(sent - answered_), ull(duplicates_), ull(unexpected_),
        ull(send_errors_), static_cast<double>(sent) / window_s,
        static_cast<double>(answered_) / window_s, latency_.quantile_us(0.50),
        latency_.quantile_us(0.99), latency_.quantile_us(0.999), ull(measure_start_ns_),
        ull(measure_end_ns_), ull(o_.rate), ull(o_.window), o_.flows, o_.size);
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
    } else {
      due = outstanding_ < o_.window ? o_.window - outstanding_ : 0;
    }
    return std::min<uint64_t>({due, kBatchMax, o_.packets_max - next_seq_});
  }

  // How long receive() may block: until the next scheduled send, or while the window is full.
  [[nodiscard]] uint64_t wait_ns(uint64_t now, uint64_t due) const {
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
    std::array<epoll_event, kFlowsMax> events{};
    const timespec timeout{static_cast<time_t>(timeout_ns / 1'000'000'000ULL),
                           static_cast<long>(timeout_ns % 1'000'000'000ULL)};
    const int ready =
        epoll_pwait2(epoll_fd_, events.data(), static_cast<int>(fds_.size()), &timeout, nullptr);
    for (int e = 0; e < ready; ++e) {
      const int fd = fds_[events[static_cast<size_t>(e)].data.u64];
      for (int round = 0; round < 4; ++round) {
        const int n = in_.receive(fd, 0, kBatchMax, false);
        if (n <= 0) break;
        const uint64_t received_ns = monotonic_ns();
        for (size_t i = 0; i < static_cast<size_t>(n); ++i) on_reply(i, received_ns);
        if (static_cast<size_t>(n) < kBatchMax) break;
      }
    }
  }

  void on_reply(size_t i, uint64_t received_ns) {
    uint64_t header[2] = {};
    if (in_.msgs[i].msg_len < kHeaderBytes) [[unlikely]] {
      ++unexpected_;
      return;
    }
    std::memcpy(header, in_.buffers[i].data(), sizeof(header));
    const uint64_t seq = header[0];
    if (seq >= next_seq_) [[unlikely]] {
      ++unexpected_;
      return;
    }
    const bool measured = seq >= first_measured_ && seq < last_measured_;
    if (state_[seq] == kAnswered) {
      duplicates_ += measured ? 1 : 0;
      return;
    }
    if (state_[seq] == kOutstanding) --outstanding_;
    state_[seq] = kAnswered;
    if (!measured) return;
    ++answered_;
    latency_.record(received_ns > header[1] ? received_ns - header[1] : 0);
  }

  Options o_;
  std::vector<uint8_t> state_;           // per sequence number, allocated once
  std::vector<uint64_t> chunk_sent_ns_;  // send time of every 256th sequence number
  std::vector<int> fds_;
  int epoll_fd_ = -1;
  DatagramBatch out_;
  DatagramBatch in_;
  Histogram latency_;
  uint64_t start_ns_ = 0, measure_start_ns_ = 0, measure_end_ns_ = 0;
  uint64_t next_seq_ = 0, first_measured_ = ~0ULL, last_measured_ = ~0ULL;
  uint64_t outstanding_ = 0, expire_cursor_ = 0, next_flow_ = 0;
  uint64_t answered_ = 0, duplicates_ = 0, unexpected_ = 0, send_errors_ = 0;
};

}  // namespace
}  // namespace shortline::bench

int main(int argc, char** argv) {
  using namespace shortline::bench;
  const Options options = parse_options(argc, argv);
  prctl(PR_SET_TIMERSLACK, 1000UL);  // 1 us: pace sends at the schedule, not at 50 us slack
  static LoadGen load_gen(options);  // static: the batches and histogram are large
  load_gen.run();
  load_gen.print_json();
  return 0;
}

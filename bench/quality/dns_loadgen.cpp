// shortline-bench-dns-loadgen: the DNS load of the balancing-quality benchmark's `plain` mode.
// Open-loop Poisson arrivals at --rate (total) spread at random over --flows sockets, or a
// closed loop of --concurrency queries per socket at --rate 0; every request a DNS query
// with an ID unique on its socket, matched on reply. A query unanswered after --timeout-ms
// counts as failed. Prints one JSON object in the shape of shortline-client's summary, plus
// each answering server's count (from the A record shortline-bench-queue-server --dns --id
// appends). One thread; bounded by --duration and --max-requests.
#include <sys/epoll.h>
#include <sys/prctl.h>

#include <algorithm>
#include <random>

#include "bench/e2e/bench_common.h"
#include "bench/e2e/latency_histogram.h"
#include "bench/quality/dns_wire.h"

namespace shortline::bench {
namespace {

constexpr size_t kFlowsMax = 64;
constexpr uint32_t kIdsPerFlow = 65536;  // DNS IDs are 16 bits
constexpr size_t kSendsPerRound = 256;   // then replies are read before sending more
constexpr uint64_t kMaxWaitNs = 1'000'000;
constexpr uint64_t kDrainExtraNs = 500'000'000;  // after the last timeout, for stragglers
constexpr size_t kServersMax = 256;              // answer records carry a one-byte id

struct Options {
  NetAddress target;
  double rate = 0;  // requests per second in all; 0: closed loop
  uint64_t concurrency = 4;
  size_t flows = 32;
  double duration_s = 5.0;
  uint64_t timeout_ns = 2'000'000'000;
  uint64_t seed = 1;
  uint64_t requests_max = 20'000'000;
  std::string name = "q.shortline.test";
};

// One socket. IDs go out in order, so the oldest possibly outstanding one is at `oldest` and
// timeouts are found in O(1) each.
struct Flow {
  int fd = -1;
  uint16_t next_id = 0;
  uint16_t oldest = 0;
  uint32_t span = 0;  // IDs from oldest up to next_id: outstanding, answered or unsent
  uint32_t outstanding = 0;
  std::vector<uint64_t> sent_ns;  // per ID; 0 when not outstanding
};

Options parse_options(int argc, char** argv) {
  const Flags f(argc, argv,
                {"target", "rate", "concurrency", "flows", "duration", "timeout-ms", "seed",
                 "max-requests", "name"});
  Options o;
  if (!f.has("target"))
    usage_error(
        "shortline-bench-dns-loadgen --target HOST:PORT [--rate 0 (req/s; 0: closed loop)]"
        " [--concurrency 4 (per flow, closed loop)] [--flows 32] [--duration 5]"
        " [--timeout-ms 2000] [--seed 1] [--max-requests 20000000] [--name q.shortline.test]");
  o.target = parse_address_or_die(f.text("target", ""));
  o.rate = f.number("rate", o.rate, "requests per second");
  o.concurrency = f.count("concurrency", o.concurrency);
  o.flows = f.count("flows", o.flows);
  o.duration_s = f.seconds("duration", o.duration_s);
  o.timeout_ns = f.count("timeout-ms", 2000) * 1'000'000ULL;
  o.seed = f.count("seed", o.seed);
  o.requests_max = f.count("max-requests", o.requests_max);
  o.name = f.text("name", o.name);
  if (o.flows == 0 || o.flows > kFlowsMax) usage_error("--flows must be 1..64");
  if (o.rate > 10'000'000) usage_error("--rate must be <= 10000000");
  if (o.rate == 0 && (o.concurrency == 0 || o.concurrency > 4096))
    usage_error("--concurrency must be 1..4096 with --rate 0");
  if (!(o.duration_s > 0 && o.duration_s <= 600)) usage_error("--duration must be in (0, 600]");
  if (o.timeout_ns == 0 || o.timeout_ns > 60'000'000'000ULL)
    usage_error("--timeout-ms must be 1..60000");
  if (o.requests_max == 0 || o.requests_max > 500'000'000) usage_error("--max-requests 1..5e8");
  return o;
}

class DnsLoadGen {
 public:
  explicit DnsLoadGen(const Options& options) : o_(options), rng_(options.seed) {
    query_bytes_ = dns::build_query(o_.name, query_.data(), query_.size());
    if (query_bytes_ == 0) usage_error("--name is not a valid DNS name: " + o_.name);
    epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd_ < 0) die("epoll_create1");
    flows_.resize(o_.flows);
    for (size_t i = 0; i < o_.flows; ++i) {
      Flow& flow = flows_[i];
      flow.fd = open_udp_socket(o_.target.family(), nullptr);
      if (connect(flow.fd, o_.target.sockaddr_ptr(), o_.target.length) != 0) die("connect");
      epoll_event event{EPOLLIN, {.u64 = i}};
      if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, flow.fd, &event) != 0) die("epoll_ctl");
      flow.sent_ns.assign(kIdsPerFlow, 0);
      flow.next_id = flow.oldest = static_cast<uint16_t>(rng_());
    }
  }

  void run() {
    start_ns_ = monotonic_ns();
    const uint64_t send_end_ns = start_ns_ + static_cast<uint64_t>(o_.duration_s * 1e9);
    const uint64_t hard_end_ns = send_end_ns + o_.timeout_ns + kDrainExtraNs;
    uint64_t next_arrival_ns = start_ns_ + gap_ns();
    for (uint64_t now = start_ns_;; now = monotonic_ns()) {
      const bool sending = now < send_end_ns && requests_ < o_.requests_max;
      if (!sending && (outstanding_ == 0 || now >= hard_end_ns)) break;
      if (sending && o_.rate > 0) {
        for (size_t n = 0;
             n < kSendsPerRound && next_arrival_ns <= now && requests_ < o_.requests_max; ++n) {
          send(pick_flow(), next_arrival_ns);
          next_arrival_ns += gap_ns();
        }
      } else if (sending) {
        for (Flow& flow : flows_)
          while (flow.outstanding < o_.concurrency && requests_ < o_.requests_max)
            if (!send(flow, monotonic_ns())) break;
      }
      for (Flow& flow : flows_) expire(flow, now);
      uint64_t wait_ns = kMaxWaitNs;
      if (sending && o_.rate > 0)
        wait_ns = next_arrival_ns > now ? std::min(next_arrival_ns - now, kMaxWaitNs) : 0;
      receive(wait_ns);
    }
    elapsed_ns_ = std::min(monotonic_ns(), send_end_ns) - start_ns_;
    for (Flow& flow : flows_) expire(flow, ~0ULL);  // the stragglers, past the hard end
  }

  void print_json() const {
    const double window_s = static_cast<double>(elapsed_ns_) / 1e9;
    std::string servers;
    for (size_t id = 1; id < kServersMax; ++id)
      if (servers_[id] > 0)
        servers += (servers.empty() ? "\"" : ", \"") + std::to_string(id) +
                   "\": " + std::to_string(servers_[id]);
    std::printf(
        "{\"requests\": %llu, \"answered\": %llu, \"retried\": 0, \"failed\": %llu, "
        "\"skipped\": %llu, \"timed_out\": %llu, \"not_sent\": %llu, \"late\": %llu, "
        "\"bad_replies\": %llu, \"unnamed_answers\": %llu, \"latency_us\": {\"p50\": %.1f, "
        "\"p90\": %.1f, \"p99\": %.1f, \"p999\": %.1f, \"mean\": %.1f, \"max\": %.1f}, "
        "\"send_lag_us\": {\"p99\": %.1f, \"max\": %.1f}, \"throughput_rps\": %.1f, "
        "\"servers\": {%s}, \"arrivals\": \"%s\", \"flows\": %zu, \"rate\": %.1f}\n",
        ull(requests_), ull(answered_), ull(requests_ - answered_), ull(not_sent_), ull(timed_out_),
        ull(not_sent_), ull(late_), ull(bad_replies_), ull(servers_[0]), latency_.quantile_us(0.5),
        latency_.quantile_us(0.9), latency_.quantile_us(0.99), latency_.quantile_us(0.999),
        latency_.mean_us(), latency_.max_us(), send_lag_.quantile_us(0.99), send_lag_.max_us(),
        window_s > 0 ? static_cast<double>(answered_) / window_s : 0.0, servers.c_str(),
        o_.rate > 0 ? "poisson" : "closed", o_.flows, o_.rate);
    std::fflush(stdout);
  }

 private:
  static unsigned long long ull(uint64_t v) { return static_cast<unsigned long long>(v); }

  uint64_t gap_ns() { return static_cast<uint64_t>(gap_s_(rng_) * 1e9); }

  Flow& pick_flow() {
    return flows_[std::uniform_int_distribution<size_t>(0, flows_.size() - 1)(rng_)];
  }

  // Sends one query on `flow`, due at due_ns; false when it could not go out.
  bool send(Flow& flow, uint64_t due_ns) {
    ++requests_;
    if (flow.span == kIdsPerFlow) [[unlikely]] {  // every ID of the socket in flight
      ++not_sent_;
      return false;
    }
    const uint16_t id = flow.next_id++;
    ++flow.span;
    dns::set_id(query_.data(), id);
    const uint64_t now = monotonic_ns();
    if (::send(flow.fd, query_.data(), query_bytes_, MSG_DONTWAIT) < 0) [[unlikely]] {
      ++not_sent_;  // ECONNREFUSED from an earlier ICMP error, or a full buffer
      return false;
    }
    send_lag_.record(now > due_ns ? now - due_ns : 0);
    flow.sent_ns[id] = now;
    ++flow.outstanding;
    ++outstanding_;
    return true;
  }

  // Passes the flow's oldest IDs that are answered, and fails those older than the timeout.
  void expire(Flow& flow, uint64_t now) {
    while (flow.span > 0) {
      uint64_t& sent = flow.sent_ns[flow.oldest];
      if (sent != 0 && sent + o_.timeout_ns > now) return;
      if (sent != 0) {
        sent = 0;
        ++timed_out_;
        --flow.outstanding;
        --outstanding_;
      }
      ++flow.oldest;
      --flow.span;
    }
  }

  void receive(uint64_t timeout_ns) {
    std::array<epoll_event, kFlowsMax> events{};
    const timespec timeout{static_cast<time_t>(timeout_ns / 1'000'000'000ULL),
                           static_cast<long>(timeout_ns % 1'000'000'000ULL)};
    const int ready =
        epoll_pwait2(epoll_fd_, events.data(), static_cast<int>(flows_.size()), &timeout, nullptr);
    for (int e = 0; e < ready; ++e) {
      Flow& flow = flows_[events[static_cast<size_t>(e)].data.u64];
      for (int round = 0; round < 4; ++round) {
        const int n = in_.receive(flow.fd, 0, kBatchMax, false);
        if (n <= 0) break;
        const uint64_t received_ns = monotonic_ns();
        for (size_t i = 0; i < static_cast<size_t>(n); ++i) on_reply(flow, i, received_ns);
        if (static_cast<size_t>(n) < kBatchMax) break;
      }
    }
  }

  // A response to one of this flow's outstanding queries: same ID, QR set, question echoed.
  void on_reply(Flow& flow, size_t i, uint64_t received_ns) {
    const auto* reply = reinterpret_cast<const uint8_t*>(in_.buffers[i].data());
    const size_t length = in_.msgs[i].msg_len;
    if (length < query_bytes_ || (reply[2] & dns::kFlagQr) == 0 ||
        std::memcmp(reply + 4, query_.data() + 4, 2) != 0 ||
        std::memcmp(reply + dns::kHeaderBytes, query_.data() + dns::kHeaderBytes,
                    query_bytes_ - dns::kHeaderBytes) != 0) [[unlikely]] {
      ++bad_replies_;
      return;
    }
    uint64_t& sent = flow.sent_ns[dns::id_of(reply)];
    if (sent == 0) {  // already timed out (or a duplicate)
      ++late_;
      return;
    }
    latency_.record(received_ns > sent ? received_ns - sent : 0);
    sent = 0;
    --flow.outstanding;
    --outstanding_;
    ++answered_;
    ++servers_[dns::answering_server(reply, length, query_bytes_)];
  }

  Options o_;
  std::mt19937_64 rng_;
  std::exponential_distribution<double> gap_s_{o_.rate > 0 ? o_.rate : 1.0};
  std::array<uint8_t, 512> query_{};
  size_t query_bytes_ = 0;
  int epoll_fd_ = -1;
  std::vector<Flow> flows_;  // allocated once, in the constructor
  DatagramBatch in_;
  Histogram latency_;
  Histogram send_lag_;  // how late each query left against its Poisson schedule
  std::array<uint64_t, kServersMax> servers_{};  // [0]: answers naming no server
  uint64_t start_ns_ = 0, elapsed_ns_ = 0;
  uint64_t requests_ = 0, answered_ = 0, outstanding_ = 0;
  uint64_t timed_out_ = 0, not_sent_ = 0, late_ = 0, bad_replies_ = 0;
};

}  // namespace
}  // namespace shortline::bench

int main(int argc, char** argv) {
  using namespace shortline::bench;
  const Options options = parse_options(argc, argv);
  // Timer slack 1 us: send on the schedule, not up to 50 us after it
  prctl(PR_SET_TIMERSLACK, 1000UL);
  static DnsLoadGen load_gen(options);  // static: the batch and the histograms are large
  load_gen.run();
  load_gen.print_json();
  return 0;
}

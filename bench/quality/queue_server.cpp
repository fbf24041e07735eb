// shortline-bench-queue-server: a plain FIFO queue server for the balancing-quality
// benchmark's `plain` mode. One request in service at a time, the others waiting in a
// bounded queue; exponential service time (mean / speed); each reply is its request (with
// --dns, a DNS response to it). It sends no reports: a balancer learns its speed, if at all,
// from how it answers.
//
// Service ends at an absolute deadline (clock_nanosleep, TIMER_ABSTIME) counted from when the
// request could start: its arrival (the kernel's receive timestamp) or the previous request's
// deadline, whichever is later. A late wake-up therefore delays one reply but never the
// schedule, so the server keeps its nominal speed on a busy host instead of losing the
// sleep's overshoot on every request.
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <time.h>

#include <algorithm>
#include <random>

#include "bench/e2e/bench_common.h"
#include "bench/quality/dns_wire.h"

namespace shortline::bench {
namespace {

constexpr size_t kQueueMax = 4096;  // requests waiting or in service; more are dropped
constexpr int kIdlePollMs = 200;    // how often an idle server looks at the stop flag
constexpr int64_t kNsPerS = 1'000'000'000;

volatile sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

struct Options {
  NetAddress listen;
  double service_ms = 1.0;
  double speed = 1.0;
  uint64_t seed = 1;
  uint8_t id = 0;  // 0: no answer record naming the server
  bool dns = false;
};

// One queued request: where it came from, when (CLOCK_REALTIME, the kernel's timestamp), and
// its bytes, turned into the reply in place.
struct Request {
  int64_t arrival_ns = 0;
  sockaddr_storage peer{};
  socklen_t peer_length = 0;
  size_t length = 0;
  std::array<uint8_t, kDatagramMax> data{};
};

struct Stats {
  uint64_t received = 0;
  uint64_t served = 0;
  uint64_t dropped_full = 0;  // the queue held kQueueMax
  uint64_t not_dns = 0;       // --dns: not a standard query with one question
  uint64_t send_errors = 0;
};

Options parse_options(int argc, char** argv) {
  const Flags f(argc, argv, {"listen", "port", "service-ms", "speed", "seed", "id"}, {"dns"});
  Options o;
  const std::string port = f.text("port", "0");
  o.listen = parse_address_or_die(f.text("listen", "127.0.0.1:" + port));
  o.service_ms = f.number("service-ms", o.service_ms, "milliseconds");
  o.speed = f.number("speed", o.speed);
  const uint64_t id = f.count("id", 0);
  o.seed = f.count("seed", 1 + id);
  o.dns = f.has("dns");
  if (id > 255) usage_error("--id must be 0..255");
  o.id = static_cast<uint8_t>(id);
  if (!(o.service_ms > 0 && o.service_ms <= 10'000) || !(o.speed > 0 && o.speed <= 1000))
    usage_error(
        "shortline-bench-queue-server [--listen 127.0.0.1:0 | --port 0] [--service-ms 1]"
        " [--speed 1] [--seed N] [--id 0..255] [--dns]  (service-ms in (0, 10000], speed in"
        " (0, 1000])");
  return o;
}

int64_t realtime_ns() {
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  return static_cast<int64_t>(now.tv_sec) * kNsPerS + now.tv_nsec;
}

// Sleeps until deadline_ns (CLOCK_REALTIME, like the receive timestamps); false when stopped.
bool sleep_until(int64_t deadline_ns) {
  const timespec deadline{static_cast<time_t>(deadline_ns / kNsPerS),
                          static_cast<long>(deadline_ns % kNsPerS)};
  for (;;) {
    const int error = clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &deadline, nullptr);
    if (error == 0) return true;
    if (error != EINTR || g_stop != 0) return g_stop == 0;
  }
}

class QueueServer {
 public:
  explicit QueueServer(const Options& options)
      : o_(options), rng_(options.seed), service_ns_(options.speed / (1e6 * options.service_ms)) {
    fd_ = open_udp_socket(o_.listen.family(), &o_.listen);
    const int on = 1;
    if (setsockopt(fd_, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof(on)) != 0)
      die("setsockopt SO_TIMESTAMPNS");
  }

  [[nodiscard]] NetAddress local() const { return local_address_of(fd_); }

  void run() {
    int64_t free_at_ns = 0;  // when the previous request's service ended (its deadline)
    while (g_stop == 0) {
      if (count_ == 0) {
        pollfd readable{fd_, POLLIN, 0};
        poll(&readable, 1, kIdlePollMs);
        drain();
        continue;
      }
      Request& request = queue_[head_];
      const int64_t start_ns = std::max(request.arrival_ns, free_at_ns);
      const int64_t deadline_ns = start_ns + static_cast<int64_t>(service_ns_(rng_));
      if (!sleep_until(deadline_ns)) break;
      reply(request);
      head_ = (head_ + 1) % kQueueMax;
      --count_;
      free_at_ns = deadline_ns;
      drain();
    }
  }

  void print_stats() const {
    std::fprintf(stderr,
                 "shortline-bench-queue-server: id %u received %llu served %llu dropped_full "
                 "%llu not_dns %llu send_errors %llu waiting %zu\n",
                 o_.id, ull(stats_.received), ull(stats_.served), ull(stats_.dropped_full),
                 ull(stats_.not_dns), ull(stats_.send_errors), count_);
  }

 private:
  static unsigned long long ull(uint64_t v) { return static_cast<unsigned long long>(v); }

  // Moves every datagram waiting in the socket into the queue (or counts it dropped).
  void drain() {
    static Request overflow;  // where a datagram lands when the queue is full
    for (;;) {
      Request& slot = count_ < kQueueMax ? queue_[(head_ + count_) % kQueueMax] : overflow;
      if (!receive(slot)) return;
      ++stats_.received;
      if (count_ == kQueueMax) [[unlikely]] {
        ++stats_.dropped_full;
        continue;
      }
      if (o_.dns && !dns::is_query(slot.data.data(), slot.length)) [[unlikely]] {
        ++stats_.not_dns;
        continue;
      }
      ++count_;
    }
  }

  // One datagram into `slot` with its source and arrival time; false when none is waiting.
  bool receive(Request& slot) {
    alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(timespec))> control{};
    iovec iov{slot.data.data(), slot.data.size()};
    msghdr message{};
    message.msg_name = &slot.peer;
    message.msg_namelen = sizeof(slot.peer);
    message.msg_iov = &iov;
    message.msg_iovlen = 1;
    message.msg_control = control.data();
    message.msg_controllen = control.size();
    const ssize_t n = recvmsg(fd_, &message, MSG_DONTWAIT);
    if (n < 0) return false;
    slot.length = static_cast<size_t>(n);
    slot.peer_length = message.msg_namelen;
    slot.arrival_ns = 0;
    for (cmsghdr* c = CMSG_FIRSTHDR(&message); c != nullptr; c = CMSG_NXTHDR(&message, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
        timespec at{};
        std::memcpy(&at, CMSG_DATA(c), sizeof(at));
        slot.arrival_ns = static_cast<int64_t>(at.tv_sec) * kNsPerS + at.tv_nsec;
      }
    }
    if (slot.arrival_ns == 0) slot.arrival_ns = realtime_ns();
    return true;
  }

  void reply(Request& request) {
    size_t length = request.length;
    if (o_.dns) length = dns::make_response(request.data.data(), length, kDatagramMax, o_.id);
    const ssize_t sent =
        sendto(fd_, request.data.data(), length, MSG_DONTWAIT,
               reinterpret_cast<const sockaddr*>(&request.peer), request.peer_length);
    ++(sent < 0 ? stats_.send_errors : stats_.served);
  }

  Options o_;
  std::mt19937_64 rng_;
  std::exponential_distribution<double> service_ns_;  // its parameter: 1 / mean (ns)
  int fd_ = -1;
  std::array<Request, kQueueMax> queue_{};  // a ring: head_ is in service, count_ in all
  size_t head_ = 0;
  size_t count_ = 0;
  Stats stats_;
};

}  // namespace
}  // namespace shortline::bench

int main(int argc, char** argv) {
  using namespace shortline::bench;
  const Options options = parse_options(argc, argv);
  struct sigaction action = {};
  action.sa_handler = on_signal;  // no SA_RESTART: a signal ends the sleep or the poll
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGINT, &action, nullptr);
  // Timer slack 1 us: wake at the deadline, not up to 50 us after it
  prctl(PR_SET_TIMERSLACK, 1000UL);
  static QueueServer server(options);  // static: the queue holds 4096 datagrams
  std::printf("listening on %s\n", server.local().to_string().c_str());
  std::fflush(stdout);
  server.run();
  server.print_stats();
  return 0;
}

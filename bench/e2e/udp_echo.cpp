// shortline-bench-echo: a UDP echo server for the end-to-end benchmark. One thread, epoll
// over its listen sockets, every datagram sent back to its source in recvmmsg/sendmmsg batches.
#include <signal.h>
#include <sys/epoll.h>

#include <csignal>

#include "bench/e2e/bench_common.h"

namespace shortline::bench {
namespace {

volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

constexpr size_t kSocketsMax = 64;

struct EchoStats {
  uint64_t received = 0;
  uint64_t echoed = 0;
  uint64_t dropped = 0;
};

void print_usage() {
  std::fprintf(stderr,
               "usage: shortline-bench-echo --listen HOST:PORT [--listen ...] | --ports P1,P2\n"
               "  [--host 127.0.0.1]   port 0 binds an ephemeral port; each bound port is\n"
               "  printed as 'listening HOST:PORT' on stdout\n");
}

std::vector<NetAddress> listen_addresses(const Flags& flags) {
  std::vector<NetAddress> addresses;
  for (const auto& text : flags.all("listen"))
    for (const auto& part : split_commas(text)) addresses.push_back(parse_address_or_die(part));
  const std::string host = flags.text("host", "127.0.0.1");
  for (const auto& text : flags.all("ports"))
    for (const auto& port : split_commas(text))
      addresses.push_back(parse_address_or_die(
          (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + port));
  if (addresses.empty() || addresses.size() > kSocketsMax) {
    print_usage();
    usage_error("give 1 to 64 addresses with --listen or --ports");
  }
  return addresses;
}

// Echoes one batch from fd back to the senders; returns false when nothing was waiting.
bool echo_batch(int fd, DatagramBatch& batch, EchoStats& stats) {
  const int n = batch.receive(fd, 0, kBatchMax, true);
  if (n <= 0) return false;
  const auto count = static_cast<size_t>(n);
  for (size_t i = 0; i < count; ++i) batch.iovs[i].iov_len = batch.msgs[i].msg_len;
  const size_t sent = send_all(fd, batch.msgs.data(), count);
  stats.received += count;
  stats.echoed += sent;
  stats.dropped += count - sent;
  return count == kBatchMax;
}

int run(int argc, char** argv) {
  const Flags flags(argc, argv, {"listen", "ports", "host"});
  const auto addresses = listen_addresses(flags);
  const int epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd < 0) die("epoll_create1");
  std::vector<int> fds;
  for (const auto& address : addresses) {
    const int fd = open_udp_socket(address.family(), &address);
    epoll_event event{EPOLLIN, {.u64 = fds.size()}};
    if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &event) != 0) die("epoll_ctl");
    std::printf("listening %s\n", local_address_of(fd).to_string().c_str());
    fds.push_back(fd);
  }
  std::fflush(stdout);
  std::signal(SIGTERM, on_signal);
  std::signal(SIGINT, on_signal);

  static DatagramBatch batch;  // static: 130 KiB is too large for the stack
  EchoStats stats;
  std::array<epoll_event, kSocketsMax> events{};
  while (g_stop == 0) {
    const int ready = epoll_wait(epoll_fd, events.data(), static_cast<int>(events.size()), 200);
    for (int e = 0; e < ready; ++e) {
      const int fd = fds[events[static_cast<size_t>(e)].data.u64];
      for (int round = 0; round < 4 && echo_batch(fd, batch, stats); ++round) {
      }
    }
  }
  std::fprintf(stderr, "shortline-bench-echo: received %llu echoed %llu dropped %llu\n",
               static_cast<unsigned long long>(stats.received),
               static_cast<unsigned long long>(stats.echoed),
               static_cast<unsigned long long>(stats.dropped));
  return 0;
}

}  // namespace
}  // namespace shortline::bench

int main(int argc, char** argv) { return shortline::bench::run(argc, argv); }

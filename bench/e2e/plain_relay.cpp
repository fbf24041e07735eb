// shortline-bench-relay: the baseline a balancer must beat. One thread, epoll, recvmmsg/
// sendmmsg batches, round-robin backends, one upstream socket per client (bounded table).
#include <signal.h>
#include <sys/epoll.h>

#include <csignal>
#include <unordered_map>

#include "bench/e2e/bench_common.h"

namespace shortline::bench {
namespace {

volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

constexpr uint64_t kListenToken = ~0ULL;
constexpr size_t kEventsMax = 256;

struct AddressHash {
  size_t operator()(const NetAddress& a) const { return static_cast<size_t>(a.hash()); }
};

struct Upstream {
  int fd = -1;
  NetAddress client;
  size_t pending = 0;  // datagrams of the current receive batch queued for this socket
};

struct RelayStats {
  uint64_t requests = 0;
  uint64_t replies = 0;
  uint64_t dropped_table_full = 0;
  uint64_t dropped_send = 0;
};

class Relay {
 public:
  Relay(const NetAddress& listen, std::vector<NetAddress> backends, size_t clients_max)
      : backends_(std::move(backends)), clients_max_(clients_max) {
    epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd_ < 0) die("epoll_create1");
    listen_fd_ = open_udp_socket(listen.family(), &listen);
    watch(listen_fd_, kListenToken);
    upstreams_.reserve(clients_max_);
    by_client_.reserve(clients_max_);
    send_order_.reserve(kBatchMax);
  }

  [[nodiscard]] int listen_fd() const { return listen_fd_; }
  [[nodiscard]] const RelayStats& stats() const { return stats_; }

  void run() {
    std::array<epoll_event, kEventsMax> events{};
    while (g_stop == 0) {
      const int ready = epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()), 200);
      for (int e = 0; e < ready; ++e) {
        const uint64_t token = events[static_cast<size_t>(e)].data.u64;
        if (token == kListenToken) {
          forward_requests();
        } else {
          collect_replies(upstreams_[token]);
        }
      }
      flush_replies();
    }
  }

 private:
  void watch(int fd, uint64_t token) {
    epoll_event event{EPOLLIN, {.u64 = token}};
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event) != 0) die("epoll_ctl");
  }

  // The upstream socket of a client, created on first sight; nullptr when the table is full.
  Upstream* upstream_for(const NetAddress& client) {
    const auto found = by_client_.find(client);
    if (found != by_client_.end()) return &upstreams_[found->second];
    if (upstreams_.size() >= clients_max_) return nullptr;
    Upstream upstream;
    upstream.fd = open_udp_socket(backends_.front().family(), nullptr);
    upstream.client = client;
    watch(upstream.fd, upstreams_.size());
    by_client_.emplace(client, upstreams_.size());
    upstreams_.push_back(upstream);
    return &upstreams_.back();
  }

  // One batch from the listen socket, grouped by upstream socket, one sendmmsg per group.
  void forward_requests() {
    const int n = requests_.receive(listen_fd_, 0, kBatchMax, true);
    if (n <= 0) return;
    const auto count = static_cast<size_t>(n);
    std::array<Upstream*, kBatchMax> owner{};
    send_order_.clear();
    for (size_t i = 0; i < count; ++i) {
      const auto client =
          NetAddress::from_sockaddr(reinterpret_cast<const sockaddr*>(&requests_.peers[i]),
                                    requests_.msgs[i].msg_hdr.msg_namelen);
      owner[i] = upstream_for(client);
      if (owner[i] == nullptr) [[unlikely]] {
        ++stats_.dropped_table_full;
        continue;
      }
      if (owner[i]->pending++ == 0) send_order_.push_back(owner[i]);
    }
    stats_.requests += count;
    for (Upstream* upstream : send_order_) send_group(*upstream, owner, count);
  }

  void send_group(Upstream& upstream, const std::array<Upstream*, kBatchMax>& owner, size_t count) {
    std::array<mmsghdr, kBatchMax> out{};
    size_t used = 0;
    for (size_t i = 0; i < count; ++i) {
      if (owner[i] != &upstream) continue;
      const NetAddress& backend = backends_[next_backend_++ % backends_.size()];
      requests_.iovs[i].iov_len = requests_.msgs[i].msg_len;
      out[used].msg_hdr = {};
      out[used].msg_hdr.msg_iov = &requests_.iovs[i];
      out[used].msg_hdr.msg_iovlen = 1;
      out[used].msg_hdr.msg_name = const_cast<sockaddr*>(backend.sockaddr_ptr());
      out[used].msg_hdr.msg_namelen = backend.length;
      ++used;
    }
    stats_.dropped_send += used - send_all(upstream.fd, out.data(), used);
    upstream.pending = 0;
  }

  // Reads replies from one upstream socket into the shared reply batch, flushing when full.
  void collect_replies(Upstream& upstream) {
    for (int round = 0; round < 4; ++round) {
      if (replies_used_ == kBatchMax) flush_replies();
      const int n = replies_.receive(upstream.fd, replies_used_, kBatchMax - replies_used_, false);
      if (n <= 0) return;
      for (size_t i = replies_used_; i < replies_used_ + static_cast<size_t>(n); ++i) {
        replies_.iovs[i].iov_len = replies_.msgs[i].msg_len;
        replies_.msgs[i].msg_hdr.msg_name = upstream.client.sockaddr_ptr();
        replies_.msgs[i].msg_hdr.msg_namelen = upstream.client.length;
      }
      replies_used_ += static_cast<size_t>(n);
      if (replies_used_ < kBatchMax) return;
    }
  }

  void flush_replies() {
    if (replies_used_ == 0) return;
    const size_t sent = send_all(listen_fd_, replies_.msgs.data(), replies_used_);
    stats_.replies += sent;
    stats_.dropped_send += replies_used_ - sent;
    replies_used_ = 0;
  }

  std::vector<NetAddress> backends_;
  size_t clients_max_;
  size_t next_backend_ = 0;
  int epoll_fd_ = -1;
  int listen_fd_ = -1;
  std::vector<Upstream> upstreams_;  // reserved to clients_max_: pointers stay valid
  std::unordered_map<NetAddress, size_t, AddressHash> by_client_;
  std::vector<Upstream*> send_order_;
  DatagramBatch requests_;
  DatagramBatch replies_;
  size_t replies_used_ = 0;
  RelayStats stats_;
};

int run(int argc, char** argv) {
  const Flags flags(argc, argv, {"listen", "backend", "clients-max"});
  const auto listen = parse_address_or_die(flags.text("listen", "127.0.0.1:0"));
  std::vector<NetAddress> backends;
  for (const auto& text : flags.all("backend"))
    for (const auto& part : split_commas(text)) backends.push_back(parse_address_or_die(part));
  if (backends.empty())
    usage_error(
        "shortline-bench-relay --listen HOST:PORT --backend H:P[,H:P...] [--clients-max N]");
  const uint64_t clients_max = flags.count("clients-max", 4096);
  if (clients_max == 0 || clients_max > 60000) usage_error("--clients-max must be 1..60000");

  static Relay relay(listen, backends, clients_max);  // static: the batches are large
  std::signal(SIGTERM, on_signal);
  std::signal(SIGINT, on_signal);
  std::printf("shortline-bench-relay: listening on %s backends %zu\n",
              local_address_of(relay.listen_fd()).to_string().c_str(), backends.size());
  std::fflush(stdout);
  relay.run();
  const auto& s = relay.stats();
  std::printf(
      "shortline-bench-relay: requests %llu replies %llu dropped_table_full %llu "
      "dropped_send %llu\n",
      static_cast<unsigned long long>(s.requests), static_cast<unsigned long long>(s.replies),
      static_cast<unsigned long long>(s.dropped_table_full),
      static_cast<unsigned long long>(s.dropped_send));
  return 0;
}

}  // namespace
}  // namespace shortline::bench

int main(int argc, char** argv) { return shortline::bench::run(argc, argv); }

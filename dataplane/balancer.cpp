// Balancer: listen sockets, worker threads, pinning, drain and counter totals.
#include "dataplane/balancer.h"

#include <pthread.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <latch>

#include "dataplane/dataplane_limits.h"
#include "dataplane/monotonic_clock.h"

namespace shortline {
namespace {

std::string errno_text(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

// Larger socket buffers absorb bursts; as root FORCE lifts the rmem_max/wmem_max caps.
void size_socket_buffers(int fd, uint32_t buffer_bytes) {
  const int bytes = static_cast<int>(buffer_bytes);
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof(bytes)) != 0)
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes));
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &bytes, sizeof(bytes)) != 0)
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof(bytes));
}

// On a wildcard listen every datagram says which local address it was sent to, so that its
// reply can leave from that address (IPV6_RECVPKTINFO also covers IPv4 clients of [::]).
bool ask_for_destination(int fd, int family) {
  const int one = 1;
  if (family == AF_INET) return setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one)) == 0;
  const int off = 0;  // [::] serves IPv4 clients too, whatever net.ipv6.bindv6only says
  return setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off)) == 0 &&
         setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one)) == 0;
}

int open_listen_socket(const NetAddress& address, uint32_t buffer_bytes, std::string& error) {
  const int fd = socket(address.family(), SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    error = errno_text("socket");
    return -1;
  }
  const int one = 1;
  // SO_REUSEPORT: one socket per worker, the kernel spreads flows by 4-tuple hash.
  // SO_RXQ_OVFL: each datagram carries the count of datagrams the kernel dropped.
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0 ||
      setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof(one)) != 0 ||
      (address.is_wildcard() && !ask_for_destination(fd, address.family()))) {
    error = errno_text("setsockopt");
    close(fd);
    return -1;
  }
  size_socket_buffers(fd, buffer_bytes);
  if (bind(fd, address.sockaddr_ptr(), address.length) != 0) {
    error = errno_text(("bind " + address.to_string()).c_str());
    close(fd);
    return -1;
  }
  return fd;
}

// Port 0 asks for any free port. Bound with SO_REUSEPORT, the kernel may hand out a port
// that another process's SO_REUSEPORT socket (same user) already holds, and the two would
// then share traffic. A probe socket without SO_REUSEPORT gets a port nobody holds.
uint16_t find_free_port(const NetAddress& address) {
  const int fd = socket(address.family(), SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  NetAddress bound = address;
  socklen_t length = sizeof(bound.storage);
  uint16_t port = 0;
  if (bind(fd, address.sockaddr_ptr(), address.length) == 0 &&
      getsockname(fd, bound.sockaddr_ptr(), &length) == 0)
    port = bound.port();
  close(fd);
  return port;
}

}  // namespace

Balancer::Balancer(DataplaneConfig config) : config_(std::move(config)) {
  if (config_.workers == 0) config_.workers = std::max(1u, std::thread::hardware_concurrency());
  listen_address_ = config_.listen;
}

Balancer::~Balancer() {
  if (!threads_.empty()) {
    control_.drain_deadline_ns.store(0);
    control_.stop_receiving.store(true);
    join();
  }
  for (int fd : listen_fds_) close(fd);
}

std::string Balancer::start() {
  if (auto error = open(); !error.empty()) return error;
  return start_workers();
}

std::string Balancer::open() {
  // control/ validated the same table with key paths; this catches a caller that did not.
  if (auto error = validate_limits(config_); !error.empty()) {
    config_error_ = true;
    return error;
  }
  file_limit_ = raise_file_limit();
  plan_ = plan_capacity(config_, config_.workers, file_limit_.soft, ephemeral_port_count());
  if (!plan_.error.empty()) {
    config_error_ = true;
    return plan_.error;
  }
  table_ = std::make_unique<ServerTable>(config_.max_servers, config_.workers);
  stats_ = std::make_unique<WorkerStats[]>(config_.workers);
  for (const BackendSpec& backend : config_.backends) {
    if (!table_->add_server(backend.address, backend.weight))
      return "more backends than max_servers (" + std::to_string(config_.max_servers) + ")";
  }
  // After the backends: with the maglev policy the table is then built once, not per server.
  table_->set_live_settings(live_settings_of(config_));
  return adopted_ ? "" : open_listen_sockets();
}

std::string Balancer::adopt_listen_sockets(std::vector<int> fds) {
  listen_fds_ = std::move(fds);
  adopted_ = true;
  if (listen_fds_.empty() || listen_fds_.size() > DataplaneConfig::kWorkersMax)
    return "takeover: " + std::to_string(listen_fds_.size()) + " listen sockets (expected 1 to " +
           std::to_string(DataplaneConfig::kWorkersMax) + ")";
  for (const int fd : listen_fds_) {
    const auto bound = bound_udp_address(fd);
    if (!bound) return "takeover: a passed listen socket is not a UDP socket";
    if (fd != listen_fds_.front() && !(*bound == listen_address_))
      return "takeover: the passed listen sockets are bound to " + listen_address_.to_string() +
             " and " + bound->to_string();
    listen_address_ = *bound;
  }
  // The worker reads config.listen (a wildcard listen answers from the address asked).
  config_.listen = listen_address_;
  config_.workers = static_cast<uint32_t>(listen_fds_.size());
  return "";
}

std::string Balancer::open_listen_sockets() {
  const bool any_port = listen_address_.port() == 0;
  constexpr int kAttempts = 8;  // another process may take the probed port in between
  std::string error;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    if (any_port) listen_address_.set_port(find_free_port(listen_address_));
    for (uint32_t w = 0; w < config_.workers; ++w) {
      const int fd = open_listen_socket(listen_address_, config_.socket_buffer_bytes, error);
      if (fd < 0) break;
      listen_fds_.push_back(fd);
    }
    if (listen_fds_.size() == config_.workers) return "";
    for (int fd : listen_fds_) close(fd);
    listen_fds_.clear();
    if (!any_port) break;
  }
  return error;
}

std::string Balancer::start_workers() {
  worker_errors_.assign(config_.workers, "");
  std::latch ready(config_.workers);
  for (uint32_t w = 0; w < config_.workers; ++w)
    workers_.push_back(
        std::make_unique<Worker>(w, config_, plan_.per_worker, *table_, stats_[w]));
  for (uint32_t w = 0; w < config_.workers; ++w) {
    threads_.emplace_back([this, w, &ready] {
      // "sl-worker-N" in top -H, ps -L and /proc/PID/task/*/comm (15 characters at most).
      pthread_setname_np(pthread_self(), ("sl-worker-" + std::to_string(w)).c_str());
      if (config_.pin_workers) {
        cpu_set_t cpus;
        CPU_ZERO(&cpus);
        CPU_SET(w % std::max(1u, std::thread::hardware_concurrency()), &cpus);
        pthread_setaffinity_np(pthread_self(), sizeof(cpus), &cpus);
      }
      const std::string error = workers_[w]->init(listen_fds_[w]);
      if (!error.empty()) worker_errors_[w] = "worker " + std::to_string(w) + ": " + error;
      ready.count_down();
      if (error.empty()) workers_[w]->run(control_);
      else table_->go_offline(w);
    });
  }
  ready.wait();
  for (const auto& error : worker_errors_) {
    if (error.empty()) continue;
    stop_receiving();
    join();
    return error;
  }
  return "";
}

void Balancer::stop_receiving() {
  // A second call (a takeover, then SIGTERM) keeps the first deadline.
  if (control_.stop_receiving.load()) return;
  control_.drain_deadline_ns.store(monotonic_ns() + config_.drain_timeout_ms * 1'000'000ULL);
  control_.stop_receiving.store(true);
}

void Balancer::join() {
  for (auto& thread : threads_) {
    if (thread.joinable()) thread.join();
  }
  threads_.clear();
  workers_.clear();
}

StatsTotals Balancer::totals() const {
  StatsTotals totals;
  if (!stats_) return totals;
  for (uint32_t w = 0; w < config_.workers; ++w) totals.add(worker_totals(w));
  return totals;
}

StatsTotals Balancer::worker_totals(uint32_t worker) const {
  StatsTotals totals;
  if (!stats_ || worker >= config_.workers) return totals;
  const WorkerStats& stats = stats_[worker];
  for (std::size_t c = 0; c < kCounterCount; ++c)
    totals.values[c] = stats.values[c].load(std::memory_order_relaxed);
  totals.sessions_open = stats.sessions_open.load(std::memory_order_relaxed);
  totals.sessions_pending = stats.sessions_pending.load(std::memory_order_relaxed);
  totals.sockets_busy = stats.sockets_busy.load(std::memory_order_relaxed);
  totals.sockets_quarantined = stats.sockets_quarantined.load(std::memory_order_relaxed);
  totals.batches = stats.batches.load(std::memory_order_relaxed);
  totals.batch_datagrams = stats.batch_datagrams.load(std::memory_order_relaxed);
  return totals;
}

}  // namespace shortline

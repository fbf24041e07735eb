// Receiver loop, workers and drain of the reference server.
#include "tools/server/udp_server.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "dataplane/monotonic_clock.h"

namespace shortline::tools {
namespace {

constexpr int kPollTimeoutMs = 10;          // how often the receiver checks for a stop
constexpr uint32_t kReceiveBatchMax = 256;  // datagrams per wake before checking again
constexpr auto kWorkerWait = std::chrono::milliseconds(10);
// Socket receive buffer asked for (best effort: the kernel caps it at net.core.rmem_max).
// A burst larger than the buffer is dropped by the kernel before the receiver sees it.
constexpr int kReceiveBufferBytes = 4 << 20;

uint32_t to_us(std::chrono::steady_clock::duration d) {
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(d).count();
  return static_cast<uint32_t>(std::clamp<int64_t>(us, 0, UINT32_MAX));
}

std::optional<NetAddress> listen_address(const ServerOptions& options) {
  const std::string& host = options.listen_address;
  const bool v6 = host.find(':') != std::string::npos;
  return NetAddress::parse((v6 ? "[" + host + "]" : host) + ":" + std::to_string(options.port));
}

// A wildcard bind is advertised as loopback: reports need an address a balancer can use.
NetAddress advertised(NetAddress bound) {
  const std::string text = bound.to_string();
  if (text.rfind("0.0.0.0:", 0) == 0) return *NetAddress::parse("127.0.0.1:" + std::to_string(bound.port()));
  if (text.rfind("[::]:", 0) == 0) return *NetAddress::parse("[::1]:" + std::to_string(bound.port()));
  return bound;
}

}  // namespace

UdpServer::UdpServer(const ServerOptions& options, std::optional<wire::AuthKey> key,
                     EventLog& log)
    : options_(options),
      key_(std::move(key)),
      log_(log),
      model_(options.service_ms, options.service_distribution, options.speed),
      queue_(options.queue_max, options.max_datagram_bytes) {}

UdpServer::~UdpServer() {
  workers_stop_.store(true);
  for (auto& worker : workers_) {
    if (worker.joinable()) worker.join();
  }
  if (reporter_) reporter_->stop();
  if (fd_ >= 0) ::close(fd_);
}

bool UdpServer::start(std::string& error) {
  const auto address = listen_address(options_);
  if (!address) {
    error = "bad listen address '" + options_.listen_address + "'";
    return false;
  }
  fd_ = ::socket(address->family(), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0 || ::bind(fd_, address->sockaddr_ptr(), address->length) != 0) {
    error = "cannot bind " + address->to_string() + ": " + std::strerror(errno);
    return false;
  }
  const int receive_buffer_bytes = kReceiveBufferBytes;
  (void)::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer_bytes,
                     sizeof(receive_buffer_bytes));
  sockaddr_storage storage{};
  socklen_t length = sizeof(storage);
  ::getsockname(fd_, reinterpret_cast<sockaddr*>(&storage), &length);
  bound_ = NetAddress::from_sockaddr(reinterpret_cast<const sockaddr*>(&storage), length);

  ReporterConfig config{options_.server_id, advertised(bound_), options_.workers,
                        options_.report_interval_ms, model_.mean_us(), key_};
  reporter_ = std::make_unique<Reporter>(config, options_.balancers, queue_, totals_, log_);
  if (!reporter_->start(error)) return false;
  for (uint32_t i = 0; i < options_.workers; ++i) {
    workers_.emplace_back([this, i] { worker_loop(i); });
  }
  return true;
}

void UdpServer::receive_batch() {
  for (uint32_t i = 0; i < kReceiveBatchMax; ++i) {
    const auto slot = queue_.acquire();
    std::array<uint8_t, 64> scratch{};  // where a datagram goes when it is to be dropped
    const std::span<uint8_t> into = slot ? queue_.buffer(*slot) : std::span<uint8_t>(scratch);
    sockaddr_storage from{};
    socklen_t from_length = sizeof(from);
    const ssize_t n = ::recvfrom(fd_, into.data(), into.size(), MSG_TRUNC,
                                 reinterpret_cast<sockaddr*>(&from), &from_length);
    if (n < 0) {
      if (slot) queue_.abandon(*slot);
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        log_.write(std::string("receive failed: ") + std::strerror(errno));
      }
      return;
    }
    counters_.received.fetch_add(1, std::memory_order_relaxed);
    last_receive_ns_.store(monotonic_ns(), std::memory_order_relaxed);
    if (!slot || static_cast<std::size_t>(n) > into.size()) {
      if (slot) queue_.abandon(*slot);
      auto& counter = slot ? counters_.drop_oversize : counters_.drop_queue_full;
      counter.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    RequestSlot& request = queue_.slot(*slot);
    request.from = NetAddress::from_sockaddr(reinterpret_cast<const sockaddr*>(&from), from_length);
    request.size_bytes = static_cast<uint32_t>(n);
    request.received = std::chrono::steady_clock::now();
    queue_.push(*slot);
  }
}

void UdpServer::worker_loop(uint32_t worker_index) {
  const uint64_t seed = options_.seed != 0 ? options_.seed : options_.server_id + 1;
  std::mt19937_64 rng(seed * 1000003 + worker_index);
  std::vector<uint8_t> reply(options_.max_datagram_bytes);  // per worker, allocated once
  while (!workers_stop_.load(std::memory_order_relaxed)) {
    const auto slot = queue_.pop(kWorkerWait);
    if (!slot) continue;
    serve(*slot, rng, reply);
    queue_.finish(*slot);
  }
}

void UdpServer::serve(uint32_t slot, std::mt19937_64& rng, std::span<uint8_t> reply) {
  const RequestSlot& request = queue_.slot(slot);
  const auto payload = queue_.buffer(slot).first(request.size_bytes);
  const auto started = std::chrono::steady_clock::now();
  const wire::Decoded decoded =
      wire::peek_type(payload) == wire::MessageType::client_request
          ? wire::decode(payload)
          : wire::Decoded{wire::WireError::bad_type, {}, {}, false};
  const auto* client = decoded.ok() ? std::get_if<wire::ClientRequest>(&decoded.message) : nullptr;
  simulate_work(model_.service_time_us(client != nullptr ? client->work_us : 0, rng));
  const auto finished = std::chrono::steady_clock::now();
  const uint32_t service_us = to_us(finished - started);
  totals_.served.fetch_add(1, std::memory_order_relaxed);
  totals_.service_us.fetch_add(service_us, std::memory_order_relaxed);

  std::span<const uint8_t> out = payload;  // echo, unless it was a ClientRequest
  if (client != nullptr) {
    const wire::ClientResponse response{client->client_id, client->request_id,
                                        client->send_time_ns, client->work_us,
                                        options_.server_id, to_us(started - request.received),
                                        service_us};
    out = reply.first(wire::encode(response, reply, request.size_bytes));
  } else {
    counters_.echoed.fetch_add(1, std::memory_order_relaxed);
  }
  const ssize_t sent = ::sendto(fd_, out.data(), out.size(), MSG_DONTWAIT,
                                request.from.sockaddr_ptr(), request.from.length);
  auto& counter = sent == static_cast<ssize_t>(out.size()) ? counters_.answered : counters_.send_errors;
  counter.fetch_add(1, std::memory_order_relaxed);
}

bool UdpServer::run(const volatile std::sig_atomic_t& stop_requested) {
  pollfd poll_fd{fd_, POLLIN, 0};
  while (stop_requested == 0) {
    const int ready = ::poll(&poll_fd, 1, kPollTimeoutMs);
    if (ready > 0) receive_batch();
  }
  return drain();
}

// Keeps receiving while DRAINING (requests a balancer sent before it saw the report still
// arrive), until the queue is empty and nothing arrived for a quiet period, or timeout.
bool UdpServer::drain() {
  const uint32_t depth_at_stop = queue_.depth();
  log_.write("draining: " + std::to_string(depth_at_stop) + " requests queued or in service");
  reporter_->publish(wire::ServerState::draining);
  const uint64_t quiet_ns =
      std::max<uint64_t>(3ULL * options_.report_interval_ms, 20) * 1'000'000ULL;
  const uint64_t deadline_ns = monotonic_ns() + uint64_t{options_.drain_timeout_ms} * 1'000'000ULL;
  pollfd poll_fd{fd_, POLLIN, 0};
  bool finished = false;
  while (monotonic_ns() < deadline_ns) {
    if (::poll(&poll_fd, 1, 1) > 0) receive_batch();
    const bool quiet = monotonic_ns() - last_receive_ns_.load(std::memory_order_relaxed) >= quiet_ns;
    if (queue_.depth() == 0 && quiet) {
      finished = true;
      break;
    }
  }
  const uint32_t left = queue_.depth();
  workers_stop_.store(true);
  for (auto& worker : workers_) worker.join();
  workers_.clear();
  reporter_->stop();
  reporter_->publish(wire::ServerState::leaving);
  log_.write(finished ? std::string("drained; reported LEAVING")
                      : "drain timed out after " + std::to_string(options_.drain_timeout_ms) +
                            " ms with " + std::to_string(left) +
                            " requests unanswered; reported LEAVING");
  return finished;
}

}  // namespace shortline::tools

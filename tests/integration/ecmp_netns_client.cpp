// ecmp_netns_client: the client side of ecmp_netns_test, run inside the client network
// namespace (ip netns exec). It sends ClientRequests open loop from many sockets (flows, so
// that the router's L4 hash spreads them over the balancers), retries a request after its
// timeout when asked, notes which server answered each flow, and prints one summary line:
//   ecmp_client: requests N answered A lost L retries R flows F flows_on_two_servers M servers S
//     p99_ms P max_ms X
// (M: flows answered by more than one server; S: servers that answered at all; P and X:
// latency of the answered requests from their first attempt, for the log).
// Bounded: N requests at a rate, then at most (retries + 2) timeouts more: one for each
// attempt of the last request, one for slack.
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "control/wire/messages.h"
#include "dataplane/net_address.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  shortline::NetAddress target;
  uint32_t flows = 64;
  uint32_t requests = 1000;
  double rate_per_s = 500;
  uint32_t timeout_ms = 500;
  uint32_t retries = 0;
  uint32_t progress_at = 0;  // print "ecmp_client: sent P" once P requests are out
};

struct Request {
  Clock::time_point first_sent_at{};
  Clock::time_point sent_at{};  // the latest attempt
  uint32_t attempts = 0;
  bool answered = false;
  bool given_up = false;
};

struct Flow {
  int fd = -1;
  std::optional<uint32_t> server_id;  // the first server that answered it
  bool on_two_servers = false;
};

std::optional<Options> parse(int argc, char** argv) {
  Options o;
  bool target_given = false;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view flag = argv[i];
    const char* value = argv[i + 1];
    const auto number = [&] { return static_cast<uint32_t>(std::strtoul(value, nullptr, 10)); };
    if (flag == "--target") {
      const auto address = shortline::NetAddress::parse(value);
      if (!address) return std::nullopt;
      o.target = *address;
      target_given = true;
    } else if (flag == "--flows") {
      o.flows = number();
    } else if (flag == "--requests") {
      o.requests = number();
    } else if (flag == "--rate") {
      o.rate_per_s = std::strtod(value, nullptr);
    } else if (flag == "--timeout-ms") {
      o.timeout_ms = number();
    } else if (flag == "--retries") {
      o.retries = number();
    } else if (flag == "--progress-at") {
      o.progress_at = number();
    } else {
      return std::nullopt;
    }
  }
  const bool sane = target_given && o.flows >= 1 && o.flows <= 1024 && o.requests >= 1 &&
                    o.requests <= 1'000'000 && o.rate_per_s > 0 && o.timeout_ms >= 1;
  if (!sane) return std::nullopt;
  return o;
}

class EcmpClient {
 public:
  explicit EcmpClient(const Options& options) : options_(options), requests_(options.requests) {}
  ~EcmpClient() {
    for (const Flow& flow : flows_)
      if (flow.fd >= 0) close(flow.fd);
  }
  EcmpClient(const EcmpClient&) = delete;
  EcmpClient& operator=(const EcmpClient&) = delete;

  bool open_flows() {
    for (uint32_t i = 0; i < options_.flows; ++i) {
      Flow flow;
      flow.fd = ::socket(options_.target.family(), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (flow.fd < 0) return false;
      flows_.push_back(flow);
      pollfds_.push_back({flow.fd, POLLIN, 0});
    }
    return true;
  }

  void run() {
    start_ = Clock::now();
    const auto sending = std::chrono::duration<double>(options_.requests / options_.rate_per_s);
    const auto deadline = start_ + std::chrono::duration_cast<Clock::duration>(sending) +
                          std::chrono::milliseconds(options_.timeout_ms) * (options_.retries + 2);
    while (Clock::now() < deadline && finished_ < options_.requests) {
      send_due();
      retry_or_give_up();
      if (poll(pollfds_.data(), pollfds_.size(), 1) > 0) receive_all();
    }
  }

  void print_summary() const {
    uint32_t answered = 0;
    for (const Request& r : requests_) answered += r.answered ? 1 : 0;
    uint32_t moved = 0;
    for (const Flow& flow : flows_) moved += flow.on_two_servers ? 1 : 0;
    std::vector<double> sorted = latencies_ms_;
    std::sort(sorted.begin(), sorted.end());
    const double p99_ms = sorted.empty() ? 0 : sorted[sorted.size() * 99 / 100];
    const double max_ms = sorted.empty() ? 0 : sorted.back();
    std::printf(
        "ecmp_client: requests %u answered %u lost %u retries %u flows %u "
        "flows_on_two_servers %u servers %zu p99_ms %.1f max_ms %.1f send_failures %u (%s)\n",
        options_.requests, answered, options_.requests - answered, retries_sent_, options_.flows,
        moved, servers_.size(), p99_ms, max_ms, send_failures_,
        send_failures_ == 0 ? "none" : std::strerror(first_send_errno_));
  }

 private:
  // Open loop: request i is due at start + i / rate, on flow i mod flows.
  void send_due() {
    const double elapsed_s = std::chrono::duration<double>(Clock::now() - start_).count();
    while (next_ < options_.requests && next_ <= elapsed_s * options_.rate_per_s) {
      send(next_);
      ++next_;
      if (next_ == options_.progress_at) {
        std::printf("ecmp_client: sent %u\n", next_);
        std::fflush(stdout);
      }
    }
  }

  void send(uint32_t id) {
    Request& request = requests_[id];
    const shortline::wire::ClientRequest message{
        .client_id = id % options_.flows, .request_id = id, .send_time_ns = 0, .work_us = 0};
    uint8_t datagram[shortline::wire::kClientRequestBytes];
    const std::size_t size = shortline::wire::encode(message, datagram);
    // A failed send (a full socket buffer) is left to the timeout, like a lost datagram,
    // and counted with its first errno, so that the summary says where a loss began.
    if (::sendto(flows_[id % options_.flows].fd, datagram, size, 0,
                 options_.target.sockaddr_ptr(), options_.target.length) < 0) {
      if (send_failures_++ == 0) first_send_errno_ = errno;
    }
    request.sent_at = Clock::now();
    if (request.attempts == 0) request.first_sent_at = request.sent_at;
    ++request.attempts;
  }

  void retry_or_give_up() {
    const auto now = Clock::now();
    const auto timeout = std::chrono::milliseconds(options_.timeout_ms);
    for (uint32_t id = oldest_open_; id < next_; ++id) {
      Request& request = requests_[id];
      if (request.answered || request.given_up || now - request.sent_at < timeout) continue;
      if (request.attempts <= options_.retries) {
        send(id);
        ++retries_sent_;
      } else {
        request.given_up = true;
        ++finished_;
      }
    }
    while (oldest_open_ < next_ && (requests_[oldest_open_].answered ||
                                    requests_[oldest_open_].given_up))
      ++oldest_open_;
  }

  void receive_all() {
    for (size_t i = 0; i < pollfds_.size(); ++i) {
      if ((pollfds_[i].revents & POLLIN) == 0) continue;
      uint8_t datagram[512];
      ssize_t n = 0;
      while ((n = ::recv(pollfds_[i].fd, datagram, sizeof(datagram), 0)) > 0)
        on_reply(flows_[i], std::span<const uint8_t>(datagram, static_cast<size_t>(n)));
    }
  }

  void on_reply(Flow& flow, std::span<const uint8_t> datagram) {
    const auto decoded = shortline::wire::decode(datagram);
    const auto* response = std::get_if<shortline::wire::ClientResponse>(&decoded.message);
    if (!decoded.ok() || response == nullptr || response->request_id >= options_.requests) return;
    Request& request = requests_[response->request_id];
    if (request.answered || request.given_up) return;  // a late reply to a retried request
    request.answered = true;
    ++finished_;
    latencies_ms_.push_back(
        std::chrono::duration<double, std::milli>(Clock::now() - request.first_sent_at).count());
    if (flow.server_id && *flow.server_id != response->server_id) flow.on_two_servers = true;
    if (!flow.server_id) flow.server_id = response->server_id;
    servers_.insert(response->server_id);
  }

  Options options_;
  std::vector<Request> requests_;
  std::vector<Flow> flows_;
  std::vector<pollfd> pollfds_;
  std::set<uint32_t> servers_;  // every server that answered a request
  std::vector<double> latencies_ms_;  // from the first attempt to the answer
  Clock::time_point start_{};
  uint32_t next_ = 0;         // the next request to send for the first time
  uint32_t oldest_open_ = 0;  // every request below it is answered or given up
  uint32_t finished_ = 0;
  uint32_t retries_sent_ = 0;
  uint32_t send_failures_ = 0;
  int first_send_errno_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  const auto options = parse(argc, argv);
  if (!options) {
    std::fprintf(stderr,
                 "usage: ecmp_netns_client --target HOST:PORT [--flows F] [--requests N] "
                 "[--rate R] [--timeout-ms T] [--retries K] [--progress-at P]\n");
    return 2;
  }
  EcmpClient client(*options);
  if (!client.open_flows()) {
    std::perror("ecmp_netns_client: socket");
    return 1;
  }
  client.run();
  client.print_summary();
  return 0;
}

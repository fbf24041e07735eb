// Sessions, upstream sockets and per-source limits of the real shortline-lb, tested as a
// user would: clients that open a socket per request, a spoofed flood, late replies,
// wildcard listens and abusive sources, against echo servers on threads. The balancer is
// watched through what clients receive, its descriptors and memory in /proc, the admin
// endpoint and the counters it prints at exit.
#include <gtest/gtest.h>
#include <netinet/ip.h>
#include <netinet/udp.h>

#include "sessions_test_support.h"

namespace shortline {
namespace {
// ---- the fixture: one shortline-lb at a time ----

class SessionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const auto missing = probe_kernel_features(); !missing.empty())
      GTEST_SKIP() << "kernel lacks io_uring features: " << missing;
  }

  // Starts shortline-lb with `flags` after the test defaults (a later flag wins), through
  // `prefix` (e.g. prlimit) when given. With "--admin HOST:0" it reads the admin address.
  // Tests that do not need a large table pass --max-sessions 1024: the upstream pool is
  // capped by it, and an uncapped one (as many sockets as the file limit allows) takes
  // thousands of ephemeral ports, which balancers running beside this one also need.
  void start_lb(const std::vector<std::string>& flags,
                const std::vector<std::string>& prefix = {}) {
    std::vector<std::string> argv = prefix;
    argv.insert(argv.end(), {kLb, "--listen", "127.0.0.1:0", "--control-port", "0",
                             "--controller-port", "0", "--admin", "off"});
    argv.insert(argv.end(), flags.begin(), flags.end());
    lb_ = std::make_unique<ChildProcess>(argv);
    const auto ready = lb_->wait_for_line("listening on ");
    ASSERT_TRUE(ready) << lb_->output();
    listen_ = *NetAddress::parse(address_after(*ready, "listening on "));
    if (std::find(flags.begin(), flags.end(), "--admin") != flags.end()) {
      const auto admin = lb_->wait_for_line("admin on http://", 10s);
      ASSERT_TRUE(admin) << lb_->output();
      admin_ = *NetAddress::parse(address_after(*admin, "admin on http://"));
    }
    ASSERT_TRUE(testing::wait_until([&] { return (pid_ = child_named("shortline-lb")) > 0; }, 10s));
  }

  // host:port of the balancer, for a wildcard listen the port on another host.
  [[nodiscard]] NetAddress at(const std::string& host) const {
    NetAddress address = testing::any_port(host);
    address.set_port(listen_.port());
    return address;
  }

  std::string stop_lb() {
    lb_->signal(SIGTERM);
    EXPECT_EQ(lb_->wait_exit(), 0) << lb_->output();
    return lb_->output();
  }

  std::unique_ptr<ChildProcess> lb_;
  NetAddress listen_;
  NetAddress admin_;
  pid_t pid_ = -1;
};

// 16 fresh-socket clients at up to 1000 requests/s through the balancer at target, its
// descriptors sampled as they go: every request answered with its own payload, from more
// distinct clients than distinct_clients_min, and the descriptors flat.
LoadResult expect_descriptors_follow_requests(pid_t pid, const NetAddress& target,
                                              int distinct_clients_min, int files_max,
                                              int requests_min) {
  const int fds_first = open_fds(pid);
  int fds_max = fds_first;
  LoadOptions options;
  options.requests_min = requests_min;
  options.requests_per_s_max = 1000;  // the run spans several idle timeouts
  options.every_50ms = [&] { fds_max = std::max(fds_max, open_fds(pid)); };
  Load load(target, options);
  const LoadResult r = load.run();
  EXPECT_EQ(r.lost, 0) << r.answered << " of " << r.requests << " answered in " << r.seconds
                       << " s";
  EXPECT_EQ(r.answered, r.requests);
  EXPECT_EQ(r.foreign, 0) << r.foreign_example;
  EXPECT_GE(r.requests, requests_min) << "only " << r.requests << " in " << r.seconds << " s";
  EXPECT_GT(static_cast<int>(r.ports.size()), distinct_clients_min)
      << "the test needs more clients";
  EXPECT_LE(fds_max, fds_first + 64)
      << "descriptors grew with the clients: " << fds_first << " at start";
  EXPECT_LE(fds_max, files_max);
  return r;
}

// ---- 1, 2: descriptors follow the requests in flight, not the clients seen ----

TEST_F(SessionsTest, FreshSocketPerRequest) {
  EchoServer a("127.0.0.1"), b("127.0.0.1"), c("127.0.0.1");
  ASSERT_NO_FATAL_FAILURE(
      start_lb({"--workers", "1", "--max-sessions", "256", "--idle-timeout-ms", "1000", "--backend",
                backend_list({a.address(), b.address(), c.address()})}));
  const LoadResult r = expect_descriptors_follow_requests(pid_, listen_, 256, 1100, 1500);
  EXPECT_GT(r.seconds, 1.0) << "the run must outlast the idle timeout";
  const std::string output = stop_lb();
  EXPECT_EQ(counter(output, "drops_total"), 0u) << output;
  EXPECT_GE(counter(output, "sessions_completed"), static_cast<uint64_t>(r.requests)) << output;
}

TEST_F(SessionsTest, FreshSocketPerRequestUnderA1024FileLimit) {
  const std::string prlimit = find_program("prlimit");
  if (prlimit.empty()) GTEST_SKIP() << "util-linux prlimit is not installed";
  EchoServer a("127.0.0.1"), b("127.0.0.1"), c("127.0.0.1");
  // Default max_sessions (65536) and idle timeout (30 s): more clients than descriptors.
  ASSERT_NO_FATAL_FAILURE(start_lb(
      {"--workers", "1", "--backend", backend_list({a.address(), b.address(), c.address()})},
      {prlimit, "--nofile=1024:1024"}));
  EXPECT_EQ(file_limits(pid_).first, 1024u);
  const LoadResult r = expect_descriptors_follow_requests(pid_, listen_, 1024, 1024, 2000);
  const std::string output = stop_lb();
  EXPECT_EQ(counter(output, "drops_total"), 0u) << output;
  EXPECT_GE(counter(output, "sessions_completed"), static_cast<uint64_t>(r.requests)) << output;
}

TEST_F(SessionsTest, RaisesTheSoftFileLimitToTheHardLimit) {
  const std::string prlimit = find_program("prlimit");
  if (prlimit.empty()) GTEST_SKIP() << "util-linux prlimit is not installed";
  rlimit ours{};
  getrlimit(RLIMIT_NOFILE, &ours);
  const uint64_t hard = std::min<uint64_t>(4096, ours.rlim_max);  // a child may not go above
  if (hard < 1024) GTEST_SKIP() << "this process's hard file limit is only " << hard;
  EchoServer echo("127.0.0.1");
  ASSERT_NO_FATAL_FAILURE(start_lb(
      {"--workers", "1", "--max-sessions", "1024", "--backend", echo.address().to_string()},
      {prlimit, "--nofile=512:" + std::to_string(hard)}));
  EXPECT_EQ(file_limits(pid_), std::make_pair(hard, hard));
  testing::Client client("127.0.0.1");
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(client.send(listen_, "limit " + std::to_string(i)));
    const auto reply = client.receive(5s);
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->payload, "limit " + std::to_string(i));
  }
  EXPECT_EQ(counter(stop_lb(), "drops_total"), 0u);
}

// ---- 3: a flood from spoofed sources leaves a real client untouched ----

// An IPv4+UDP datagram from source:source_port to `to`, for a raw IPPROTO_RAW socket
// (which implies IP_HDRINCL). The kernel fills the IP checksum and id; a UDP checksum of 0
// means none over IPv4.
std::string spoofed_datagram(uint32_t source, uint16_t source_port, const sockaddr_in& to,
                             const std::string& payload) {
  iphdr ip{};
  ip.version = 4;
  ip.ihl = 5;
  ip.ttl = 64;
  ip.protocol = IPPROTO_UDP;
  ip.tot_len = htons(static_cast<uint16_t>(sizeof(iphdr) + sizeof(udphdr) + payload.size()));
  ip.saddr = htonl(source);
  ip.daddr = to.sin_addr.s_addr;
  udphdr udp{};
  udp.source = htons(source_port);
  udp.dest = to.sin_port;
  udp.len = htons(static_cast<uint16_t>(sizeof(udphdr) + payload.size()));
  std::string packet(reinterpret_cast<const char*>(&ip), sizeof(ip));
  packet.append(reinterpret_cast<const char*>(&udp), sizeof(udp)).append(payload);
  return packet;
}

// One socket on 127.0.0.1 asking one request at a time (1 s to answer, one retry) until
// told the flood is over, then 20 more.
class SteadyClient {
 public:
  explicit SteadyClient(const NetAddress& target) : target_(target) {
    thread_ = std::thread([this] { run(); });
  }
  ~SteadyClient() { finish(); }
  SteadyClient(const SteadyClient&) = delete;
  SteadyClient& operator=(const SteadyClient&) = delete;

  void flood_started() { flood_started_ = true; }
  void flood_over() { flood_over_ = true; }
  void finish() {
    flood_over_ = true;
    if (thread_.joinable()) thread_.join();
  }
  [[nodiscard]] int done() const { return done_.load(); }
  [[nodiscard]] int lost() const { return lost_.load(); }
  // "request 12 (during the flood)" for the first one lost; read after finish().
  [[nodiscard]] const std::string& first_lost() const { return first_lost_; }

 private:
  void run() {
    const int fd = testing::open_udp_socket(testing::any_port("127.0.0.1"));
    const auto deadline = Clock::now() + 60s;
    int after_flood = 0;
    for (int i = 0; i < 5000 && after_flood < 20 && Clock::now() < deadline; ++i) {
      const bool during = flood_started_ && !flood_over_;
      if (flood_over_) ++after_flood;
      if (!request(fd, &target_, "steady " + std::to_string(i), 1000ms, 2) && lost_++ == 0) {
        first_lost_ = "request " + std::to_string(i) +
                      (during        ? " (during the flood)"
                       : flood_over_ ? " (after)"
                                     : " (before)");
      }
      ++done_;
    }
    close(fd);
  }

  NetAddress target_;
  std::atomic<bool> flood_started_{false};
  std::atomic<bool> flood_over_{false};
  std::atomic<int> done_{0};
  std::atomic<int> lost_{0};
  std::string first_lost_;
  std::thread thread_;
};

TEST_F(SessionsTest, SpoofedFlood) {
  const int raw = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
  if (raw < 0) GTEST_SKIP() << "no raw socket (needs CAP_NET_RAW): " << std::strerror(errno);
  DelayedEchoServer slow("127.0.0.1", 200), fast("127.0.0.1", 0);
  // Fewer buffers than the default 4096 per worker: the flood is first to touch the buffer
  // rings allocated at start (workers x buffers x ~4 KiB), and under TSan that and its
  // shadow alone would come near the memory bound below.
  const std::string config = write_config("flood", R"({"buffers_per_worker": 1024})");
  ASSERT_NO_FATAL_FAILURE(start_lb({"--config", config, "--workers", "2", "--max-sessions", "512",
                                    "--backend", backend_list({slow.address(), fast.address()})}));
  std::remove(config.c_str());
  SteadyClient steady(listen_);
  ASSERT_TRUE(testing::wait_until([&] { return steady.done() >= 20; }, 30s)) << steady.done();
  const int fds_first = open_fds(pid_);
  const uint64_t rss_first_kib = status_field(pid_, "VmRSS");
  int fds_max = fds_first;
  uint64_t rss_max_kib = rss_first_kib;
  const auto sample = [&] {
    fds_max = std::max(fds_max, open_fds(pid_));
    rss_max_kib = std::max(rss_max_kib, status_field(pid_, "VmRSS"));
  };
  // 20,000 datagrams from random 127.a.b.c (a > 0, so never 127.0.0.1), 100 every 7.5 ms.
  std::mt19937 random(20260101);
  const auto draw = [&](uint32_t below) { return static_cast<uint32_t>(random() % below); };
  sockaddr_in to{};
  std::memcpy(&to, listen_.sockaddr_ptr(), sizeof(to));
  uint64_t flood_sent = 0;
  const auto flood_start = Clock::now();
  steady.flood_started();
  for (int burst = 0; burst < 200; ++burst) {
    std::this_thread::sleep_until(flood_start + burst * 7500us);  // pacing, not correctness
    for (int i = 0; i < 100; ++i) {
      const uint32_t source =
          (127u << 24) | (1 + draw(254)) << 16 | draw(256) << 8 | (1 + draw(254));
      const auto port = static_cast<uint16_t>(1024 + draw(64000));
      const auto packet = spoofed_datagram(source, port, to, "flood " + std::to_string(burst));
      if (sendto(raw, packet.data(), packet.size(), 0, reinterpret_cast<const sockaddr*>(&to),
                 sizeof(to)) == static_cast<ssize_t>(packet.size()))
        ++flood_sent;
    }
    if (burst % 10 == 0) sample();
  }
  close(raw);
  steady.flood_over();
  steady.finish();
  sample();
  const int fresh = testing::open_udp_socket(testing::any_port("127.0.0.1"));
  EXPECT_TRUE(request(fresh, &listen_, "new client after the flood", 2000ms)) << "not answered";
  close(fresh);
  sample();
  const std::string output = stop_lb();
  EXPECT_EQ(steady.lost(), 0) << "of " << steady.done() << " requests, each with one retry; "
                              << steady.first_lost() << "\n"
                              << output;
  EXPECT_GE(steady.done(), 40);
  EXPECT_GE(flood_sent, 19000u);
  EXPECT_LE(fds_max, fds_first + 64)
      << "descriptors grew with the flood: " << fds_first << " before";
  EXPECT_LE(fds_max, 1100);
  EXPECT_LT(rss_max_kib - rss_first_kib, 64u * 1024) << rss_first_kib << " KiB before the flood";
  EXPECT_GE(counter(output, "requests_received") + counter(output, "drop_kernel_receive_queue"),
            flood_sent)
      << output;
  EXPECT_EQ(counter(output, "drops_total"), named_drops(output)) << output;
}

// ---- 4: a reply that comes after its request timed out goes to nobody ----

TEST_F(SessionsTest, LateReplyReachesNobodyElse) {
  EchoServer fast("127.0.0.1");
  DelayedEchoServer slow("127.0.0.1", 600);  // answers everything, 400 ms too late
  // Round-robin sends every other request to the slow server; a small table means a small
  // socket pool, so sockets are reused while late replies are still on their way.
  ASSERT_NO_FATAL_FAILURE(start_lb({"--workers", "1", "--request-timeout-ms", "200", "--policy",
                                    "round-robin", "--max-sessions", "32", "--admin", "127.0.0.1:0",
                                    "--backend", backend_list({fast.address(), slow.address()})}));
  LoadOptions options;
  options.fresh_slots = 16;
  options.fixed_slots = 16;
  options.reply_timeout = 800ms;  // beyond request_timeout_ms: the balancer gives up first
  options.retries = 0;
  options.requests_min = 0;
  options.run_min = 2s;
  options.run_max = 2s;
  options.requests_max = 100000;
  options.lost_max = 1 << 30;
  Load load(listen_, options);
  const LoadResult r = load.run();
  ASSERT_TRUE(testing::wait_until([&] { return slow.pending() == 0; }, 10s));
  const uint64_t late_sent = slow.replies_sent();
  const auto late_dropped_now = [&] {
    const auto no_session = admin_counter(admin_, "drop_reply_no_session");
    const auto wrong_source = admin_counter(admin_, "drop_reply_wrong_source");
    return no_session && wrong_source ? *no_session + *wrong_source : 0;
  };
  // Waits until the balancer has handled every late reply (or 10 s).
  testing::wait_until([&] { return late_dropped_now() >= late_sent; }, 10s);
  const std::string output = stop_lb();
  EXPECT_EQ(r.foreign, 0) << "a client got another's reply, e.g. " << r.foreign_example;
  EXPECT_GT(r.answered, 0);
  EXPECT_GT(late_sent, 0u);
  const uint64_t late_dropped =
      counter(output, "drop_reply_no_session") + counter(output, "drop_reply_wrong_source");
  const uint64_t forwarded = counter(output, "replies_forwarded");
  const uint64_t forwarded_from_slow = forwarded - std::min(forwarded, fast.received());
  EXPECT_GT(late_dropped, 0u) << output;
  EXPECT_GE(late_dropped + forwarded_from_slow, late_sent) << output;
  EXPECT_GT(counter(output, "requests_timed_out"), 0u) << output;
}

// ---- 5: replies leave from the address the client sent to ----

// Requests through a socket on from_host connected to `to`, one at a time; the kernel then
// delivers only datagrams whose source is `to`. Returns the replies that came back; stops
// at the first one missing (2 s), since the rest would miss too.
int connected_replies(const std::string& from_host, const NetAddress& to, int count) {
  const int fd = testing::open_udp_socket(testing::any_port(from_host));
  if (fd < 0 || connect(fd, to.sockaddr_ptr(), to.length) != 0) return -1;
  int answered = 0;
  while (answered < count &&
         request(fd, nullptr, "to " + to.to_string() + " #" + std::to_string(answered), 2000ms))
    ++answered;
  close(fd);
  return answered;
}

// The source address of the reply to one request from an unconnected socket.
std::string reply_source(const std::string& from_host, const NetAddress& to) {
  testing::Client client(from_host);
  if (!client.send(to, "where from")) return "(send failed)";
  const auto reply = client.receive(2s);
  return reply ? reply->from.to_string() : "(no reply)";
}

TEST_F(SessionsTest, WildcardListenRepliesFromTheAddressSentTo) {
  EchoServer echo("127.0.0.1");
  ASSERT_NO_FATAL_FAILURE(start_lb({"--listen", "0.0.0.0:0", "--workers", "2", "--max-sessions",
                                    "1024", "--backend", echo.address().to_string()}));
  for (const std::string host : {"127.0.0.1", "127.0.0.2"}) {
    EXPECT_EQ(connected_replies("127.0.0.1", at(host), 50), 50)
        << "sent to " << at(host).to_string();
    EXPECT_EQ(reply_source("127.0.0.1", at(host)), at(host).to_string());
  }
  EXPECT_EQ(counter(stop_lb(), "drops_total"), 0u);
}

TEST_F(SessionsTest, DualStackWildcardListenRepliesFromTheAddressSentTo) {
  if (!EchoServer("::1").ok()) GTEST_SKIP() << "cannot bind ::1 (no IPv6 on loopback?)";
  EchoServer echo("127.0.0.1");
  ASSERT_NO_FATAL_FAILURE(start_lb({"--listen", "[::]:0", "--workers", "2", "--max-sessions",
                                    "1024", "--backend", echo.address().to_string()}));
  // IPv4 clients reach the IPv6 wildcard socket as ::ffff:127.0.0.x (dual stack).
  for (const auto& [from, host] : std::vector<std::pair<std::string, std::string>>{
           {"::1", "::1"}, {"127.0.0.1", "127.0.0.1"}, {"127.0.0.1", "127.0.0.2"}}) {
    EXPECT_EQ(connected_replies(from, at(host), 50), 50) << "sent to " << at(host).to_string();
    EXPECT_EQ(reply_source(from, at(host)), at(host).to_string());
  }
  EXPECT_EQ(counter(stop_lb(), "drops_total"), 0u);
}

// ---- 6: per-source and per-prefix limits hold back one source, not the others ----

// count requests from one socket on host, one every `interval`, each given 2 s; returns
// how many were answered.
int paced_requests(const std::string& host, const NetAddress& to, int count,
                   std::chrono::milliseconds interval) {
  const int fd = testing::open_udp_socket(testing::any_port(host));
  if (fd < 0) return -1;
  const auto start = Clock::now();
  int answered = 0;
  for (int i = 0; i < count; ++i) {
    std::this_thread::sleep_until(start + i * interval);  // pacing, not correctness
    if (request(fd, &to, "paced " + host + " #" + std::to_string(i), 2000ms)) ++answered;
  }
  close(fd);
  return answered;
}

struct Blast {
  int answered = 0;
  double window_s = 0;  // first send to last reply: every admitted request came inside it
};

// per_source requests from one socket on each host, alternating, as fast as the sockets
// take them; replies are collected until none came for 500 ms (at most 5 s).
Blast blast(const std::vector<std::string>& hosts, const NetAddress& to, int per_source) {
  std::vector<pollfd> fds;
  for (const auto& host : hosts)
    fds.push_back({testing::open_udp_socket(testing::any_port(host)), POLLIN, 0});
  std::set<std::string> answered;
  const auto start = Clock::now();
  auto last_reply = start;
  const auto drain = [&](int timeout_ms) {
    bool any = false;
    if (poll(fds.data(), fds.size(), timeout_ms) <= 0) return false;
    char buffer[2048];
    for (const auto& p : fds) {
      for (ssize_t n; (p.revents & POLLIN) != 0 &&
                      (n = recv(p.fd, buffer, sizeof(buffer), MSG_DONTWAIT)) >= 0;) {
        answered.insert(std::string(buffer, static_cast<size_t>(n)));
        last_reply = Clock::now();
        any = true;
      }
    }
    return any;
  };
  for (int i = 0; i < per_source; ++i) {
    for (std::size_t h = 0; h < fds.size(); ++h) {
      const std::string payload = "blast " + hosts[h] + " #" + std::to_string(i);
      (void)sendto(fds[h].fd, payload.data(), payload.size(), 0, to.sockaddr_ptr(), to.length);
    }
    drain(0);
  }
  const auto end = Clock::now() + 5s;
  for (auto quiet_since = Clock::now(); Clock::now() < end && Clock::now() - quiet_since < 500ms;)
    if (drain(20)) quiet_since = Clock::now();
  for (const auto& p : fds) close(p.fd);
  return {static_cast<int>(answered.size()),
          std::chrono::duration<double>(last_reply - start).count()};
}

TEST_F(SessionsTest, PerSourceLimitsRequestRate) {
  EchoServer echo("127.0.0.1");
  const std::string config = write_config("source_rate", R"({"source_requests_per_s": 50})");
  ASSERT_NO_FATAL_FAILURE(start_lb({"--config", config, "--workers", "1", "--max-sessions", "1024",
                                    "--backend", echo.address().to_string()}));
  auto polite = std::async(std::launch::async,
                           [&] { return paced_requests("127.0.0.3", listen_, 20, 100ms); });
  std::this_thread::sleep_for(150ms);  // the blast overlaps the polite client's run
  const Blast greedy = blast({"127.0.0.2"}, listen_, 500);
  EXPECT_EQ(polite.get(), 20);
  EXPECT_GT(greedy.answered, 0);
  // A full bucket (one second's worth) plus what refilled while it was admitted.
  EXPECT_LE(greedy.answered, 50 + 50 * greedy.window_s + 2) << greedy.window_s << " s";
  const std::string output = stop_lb();
  EXPECT_GT(counter(output, "drop_source_rate"), 0u) << output;
  std::remove(config.c_str());
}

TEST_F(SessionsTest, PerSourceLimitsPrefixRate) {
  EchoServer echo("127.0.0.1");
  const std::string config = write_config("prefix_rate", R"({"prefix_requests_per_s": 50})");
  ASSERT_NO_FATAL_FAILURE(start_lb({"--config", config, "--workers", "1", "--max-sessions", "1024",
                                    "--backend", echo.address().to_string()}));
  auto other_prefix = std::async(std::launch::async,
                                 [&] { return paced_requests("127.0.3.1", listen_, 20, 100ms); });
  std::this_thread::sleep_for(150ms);  // the blast overlaps the other prefix's run
  const Blast together = blast({"127.0.2.1", "127.0.2.2"}, listen_, 250);
  EXPECT_EQ(other_prefix.get(), 20);
  EXPECT_GT(together.answered, 0);
  EXPECT_LE(together.answered, 50 + 50 * together.window_s + 2) << together.window_s << " s";
  const std::string output = stop_lb();
  EXPECT_GT(counter(output, "drop_prefix_rate"), 0u) << output;
  EXPECT_EQ(counter(output, "drop_source_rate"), 0u) << output;
  std::remove(config.c_str());
}

// One request from each of `count` fresh sockets per host, all sent before any reply can
// come; returns per host how many were answered within timeout.
std::vector<int> one_request_each(const std::vector<std::pair<std::string, int>>& groups,
                                  const NetAddress& to, std::chrono::milliseconds timeout) {
  std::vector<pollfd> fds;
  std::vector<std::size_t> group_of;
  for (std::size_t g = 0; g < groups.size(); ++g) {
    for (int i = 0; i < groups[g].second; ++i) {
      fds.push_back({testing::open_udp_socket(testing::any_port(groups[g].first)), POLLIN, 0});
      group_of.push_back(g);
    }
  }
  for (std::size_t i = 0; i < fds.size(); ++i) {
    const std::string payload = "one of many #" + std::to_string(i);
    (void)sendto(fds[i].fd, payload.data(), payload.size(), 0, to.sockaddr_ptr(), to.length);
  }
  std::vector<int> answered(groups.size(), 0);
  std::vector<bool> done(fds.size(), false);
  const auto deadline = Clock::now() + timeout;
  for (std::size_t left = fds.size(); left > 0 && Clock::now() < deadline;) {
    if (poll(fds.data(), fds.size(), 20) <= 0) continue;
    char buffer[2048];
    for (std::size_t i = 0; i < fds.size(); ++i) {
      if (done[i] || (fds[i].revents & POLLIN) == 0) continue;
      const ssize_t n = recv(fds[i].fd, buffer, sizeof(buffer), MSG_DONTWAIT);
      if (n < 0 ||
          std::string(buffer, static_cast<size_t>(n)) != "one of many #" + std::to_string(i))
        continue;
      done[i] = true;
      fds[i].events = 0;
      ++answered[group_of[i]];
      --left;
    }
  }
  for (const auto& p : fds) close(p.fd);
  return answered;
}

TEST_F(SessionsTest, PerSourceLimitsOpenSessions) {
  DelayedEchoServer slow("127.0.0.1", 500);  // sessions stay open half a second
  const std::string config = write_config("source_sessions", R"({"source_sessions_max": 4})");
  ASSERT_NO_FATAL_FAILURE(
      start_lb({"--config", config, "--workers", "1", "--max-sessions", "1024",
                "--request-timeout-ms", "3000", "--backend", slow.address().to_string()}));
  for (int wave = 0; wave < 3; ++wave) {
    const auto answered = one_request_each({{"127.0.0.4", 12}, {"127.0.0.5", 4}}, listen_, 3s);
    EXPECT_LE(answered[0], 4) << "wave " << wave;
    EXPECT_GE(answered[0], 1) << "wave " << wave;
    EXPECT_EQ(answered[1], 4) << "wave " << wave;
  }
  const std::string output = stop_lb();
  EXPECT_GT(counter(output, "drop_source_sessions"), 0u) << output;
  std::remove(config.c_str());
}

}  // namespace
}  // namespace shortline

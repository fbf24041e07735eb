// shortline-replay as a benchmark, end to end against servers written here: a fixed rate paced
// over time, a window that bounds what is outstanding (checked at the server), a ramp into a
// server that answers at most a known rate (the knee found near it), DNS replies matched by
// message ID with several queries in flight per flow and out of order, and a non-DNS capture
// (RADIUS) matched by flow alone.
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "dataplane/net_address.h"
#include "tests/integration/replay_test_support.h"

namespace {

using Clock = std::chrono::steady_clock;
using shortline::NetAddress;
using namespace shortline::testing;
using namespace std::chrono_literals;

const std::string kBinDir = SHORTLINE_BIN_DIR;

// What a ScriptedServer does with one datagram: drop it, or send it back after a delay.
struct Verdict {
  bool drop = false;
  std::chrono::milliseconds delay{0};
};
using Script = std::function<Verdict(const std::string& payload)>;

// A UDP server thread on 127.0.0.1 that answers each datagram as its script says (echoing the
// payload), and records what it saw: arrivals with their source port and time, and the most
// requests it held at once (received, reply not yet sent).
class ScriptedServer {
 public:
  struct Arrival {
    std::string payload;
    uint16_t source_port;
    Clock::time_point at;
  };

  explicit ScriptedServer(Script script) : script_(std::move(script)) {
    const auto bind_to = *NetAddress::parse("127.0.0.1:0");
    fd_ = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    const int buffer_bytes = 1 << 20;
    if (fd_ >= 0) setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &buffer_bytes, sizeof(buffer_bytes));
    if (fd_ >= 0 && bind(fd_, bind_to.sockaddr_ptr(), bind_to.length) == 0) {
      socklen_t length = sizeof(address_.storage);
      getsockname(fd_, address_.sockaddr_ptr(), &length);
      address_.length = length;
      thread_ = std::thread([this] { serve(); });
    }
  }
  ~ScriptedServer() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    if (fd_ >= 0) close(fd_);
  }
  ScriptedServer(const ScriptedServer&) = delete;
  ScriptedServer& operator=(const ScriptedServer&) = delete;

  bool ok() const { return thread_.joinable(); }
  const NetAddress& address() const { return address_; }
  std::vector<Arrival> arrivals() const {
    std::lock_guard lock(mutex_);
    return arrivals_;
  }
  size_t held_max() const { return held_max_.load(); }

 private:
  struct Pending {
    Clock::time_point due;
    std::string payload;
    NetAddress to;
  };

  void serve() {
    std::vector<char> buffer(70000);
    while (!stop_) {
      send_due();
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(wait_ms())) <= 0) continue;
      NetAddress from;
      socklen_t length = sizeof(from.storage);
      const ssize_t n = recvfrom(fd_, buffer.data(), buffer.size(), 0, from.sockaddr_ptr(), &length);
      if (n < 0) continue;
      from.length = length;
      std::string payload(buffer.data(), static_cast<size_t>(n));
      {
        std::lock_guard lock(mutex_);
        arrivals_.push_back({payload, from.port(), Clock::now()});
      }
      const Verdict verdict = script_(payload);
      if (verdict.drop) continue;
      pending_.push_back({Clock::now() + verdict.delay, std::move(payload), from});
      held_max_ = std::max(held_max_.load(), pending_.size());
    }
  }
  // Sends every reply that is due (the list is short: a few hundred at most).
  void send_due() {
    const auto now = Clock::now();
    for (auto it = pending_.begin(); it != pending_.end();) {
      if (it->due > now) {
        ++it;
        continue;
      }
      (void)sendto(fd_, it->payload.data(), it->payload.size(), 0, it->to.sockaddr_ptr(),
                   it->to.length);
      it = pending_.erase(it);
    }
  }
  int64_t wait_ms() const {
    int64_t wait = 20;
    const auto now = Clock::now();
    for (const Pending& p : pending_)
      wait = std::min<int64_t>(wait, std::chrono::duration_cast<std::chrono::milliseconds>(
                                         p.due - now).count());
    return std::max<int64_t>(wait, 0);
  }

  Script script_;
  int fd_ = -1;
  NetAddress address_;
  std::atomic<bool> stop_{false};
  std::atomic<size_t> held_max_{0};
  std::vector<Pending> pending_;  // server thread only
  mutable std::mutex mutex_;
  std::vector<Arrival> arrivals_;
  std::thread thread_;
};

Script echo_at_once() {
  return [](const std::string&) { return Verdict{}; };
}

// Answers at most rate_pps (a token bucket holding burst tokens), drops the rest.
Script answer_at_most(double rate_pps, double burst) {
  struct Bucket {
    double tokens;
    Clock::time_point last = Clock::now();
  };
  auto bucket = std::make_shared<Bucket>(Bucket{burst});
  return [bucket, rate_pps, burst](const std::string&) {
    const auto now = Clock::now();
    const double elapsed_s = std::chrono::duration<double>(now - bucket->last).count();
    bucket->last = now;
    bucket->tokens = std::min(burst, bucket->tokens + elapsed_s * rate_pps);
    if (bucket->tokens < 1.0) return Verdict{true, {}};
    bucket->tokens -= 1.0;
    return Verdict{};
  };
}

std::string capture_path(const std::string& name) {
  return ::testing::TempDir() + "shortline-replay-load-" + name + ".pcap";
}

// A capture of `count` plain requests from one source to port 7000, 1 ms apart.
std::string write_plain_capture(int count) {
  const std::string path = capture_path("plain");
  CaptureWriter writer(path);
  const uint64_t t0 = 1'700'000'000ULL * 1'000'000'000ULL;
  for (int i = 0; i < count; ++i)
    writer.add(frame(false, 1, 4000, 9, 7000, "request " + std::to_string(i)),
               t0 + static_cast<uint64_t>(i) * 1'000'000);
  return path;
}

// A DNS query for NAME (type A, class IN) with the given ID and no EDNS.
std::string dns_query(uint16_t id, const std::string& name) {
  std::string q = {static_cast<char>(id >> 8), static_cast<char>(id & 0xFF), 1, 0, 0, 1, 0, 0,
                   0, 0, 0, 0};
  q += static_cast<char>(name.size());
  q += name;
  q += std::string{0, 0, 1, 0, 1};
  return q;
}

uint16_t id_of(const std::string& payload) {
  return static_cast<uint16_t>((static_cast<uint8_t>(payload[0]) << 8) |
                               static_cast<uint8_t>(payload[1]));
}

// A capture of `count` DNS queries from one source to port 53, 1 ms apart.
std::string write_dns_capture(int count) {
  const std::string path = capture_path("queries");
  CaptureWriter writer(path);
  const uint64_t t0 = 1'700'000'000ULL * 1'000'000'000ULL;
  for (int i = 0; i < count; ++i)
    writer.add(frame(false, 1, 4000, 9, 53, dns_query(static_cast<uint16_t>(i), std::string("q").append(std::to_string(i)))),
               t0 + static_cast<uint64_t>(i) * 1'000'000);
  return path;
}

bool have_replay() { return std::filesystem::exists(kBinDir + "/shortline-replay"); }

RunResult replay(const std::string& capture, const NetAddress& target,
                 const std::vector<std::string>& extra) {
  std::vector<std::string> args = {kBinDir + "/shortline-replay", capture, "--target",
                                   target.to_string(), "--json", "--no-progress"};
  args.insert(args.end(), extra.begin(), extra.end());
  return run(args, 120s);
}

TEST(ReplayLoad, FixedRateIsPacedOverTheWholeRun) {
  if (!have_replay()) GTEST_SKIP() << "shortline-replay not built in " << kBinDir;
  ScriptedServer server(echo_at_once());
  ASSERT_TRUE(server.ok());
  const std::string capture = write_plain_capture(10);
  const RunResult r = replay(capture, server.address(),
                             {"--rate", "500", "--loop", "0", "--duration", "2"});
  std::filesystem::remove(capture);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("\"mode\":\"rate\""), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("\"match\":\"flow\""), std::string::npos) << r.output;
  EXPECT_DOUBLE_EQ(json_double(r.output, "intended_pps"), 500.0);
  // Achieved against intended, with room for a loaded machine (pacing is against absolute
  // times, so a stall is caught up rather than lost).
  const double achieved = json_double(r.output, "achieved_pps");
  EXPECT_GT(achieved, 0.6 * 500) << r.output;
  EXPECT_LT(achieved, 1.1 * 500) << r.output;
  const long long sent = json_number(r.output, "sent");
  EXPECT_EQ(json_number(r.output, "replies"), sent) << r.output;
  // Spread over time, not sent in a burst: some in each half of the run, as the server saw it.
  const auto arrivals = server.arrivals();
  ASSERT_EQ(static_cast<long long>(arrivals.size()), sent);
  ASSERT_GT(arrivals.size(), 100U);
  const auto first = arrivals.front().at;
  const auto in_first_second = std::count_if(arrivals.begin(), arrivals.end(), [&](const auto& a) {
    return a.at - first < 1s;
  });
  EXPECT_GT(in_first_second, static_cast<long>(arrivals.size()) / 5) << in_first_second;
  EXPECT_LT(in_first_second, static_cast<long>(arrivals.size()) * 4 / 5) << in_first_second;
}

TEST(ReplayLoad, WindowBoundsWhatIsOutstanding) {
  if (!have_replay()) GTEST_SKIP() << "shortline-replay not built in " << kBinDir;
  constexpr int kWindow = 8;
  constexpr auto kDelay = 25ms;
  ScriptedServer server([&](const std::string&) { return Verdict{false, kDelay}; });
  ASSERT_TRUE(server.ok());
  const std::string capture = write_plain_capture(10);
  const RunResult r = replay(capture, server.address(),
                             {"--window", std::to_string(kWindow), "--loop", "0", "--duration",
                              "1.5"});
  std::filesystem::remove(capture);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(json_number(r.output, "window"), kWindow);
  // Never more than the window in flight: as the replay counted it, and as the server held it.
  EXPECT_LE(json_number(r.output, "outstanding_max"), kWindow) << r.output;
  EXPECT_GE(json_number(r.output, "outstanding_max"), 2) << r.output;
  EXPECT_LE(server.held_max(), static_cast<size_t>(kWindow));
  const long long replies = json_number(r.output, "replies");
  EXPECT_EQ(replies, json_number(r.output, "sent")) << r.output;
  EXPECT_GT(replies, 40) << r.output;
  // Closed loop: no faster than window / delay (320 per second), whatever the machine.
  const double answered = json_double(r.output, "answered_pps");
  EXPECT_LE(answered, 1.1 * kWindow / 0.025) << r.output;
  EXPECT_GT(answered, 0.0);
}

TEST(ReplayLoad, RampFindsTheKneeOfARateLimitedServer) {
  if (!have_replay()) GTEST_SKIP() << "shortline-replay not built in " << kBinDir;
  constexpr double kCapacity = 1000.0;  // the server answers at most this many per second
  ScriptedServer server(answer_at_most(kCapacity, 20));
  ASSERT_TRUE(server.ok());
  // DNS queries from one source: with drops and many requests in flight on one flow, only
  // message IDs tell which request a reply answers.
  const std::string capture = write_dns_capture(10);
  const RunResult r = replay(capture, server.address(),
                             {"--ramp", "200:2400:4", "--interval", "0.25", "--knee-loss", "0.01",
                              "--knee-p99-ms", "1000", "--timeout-ms", "500"});
  std::filesystem::remove(capture);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("\"mode\":\"ramp\""), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("\"match\":\"dns\""), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("\"intervals\":[{"), std::string::npos) << r.output;
  const auto knee_at = r.output.find("\"knee\":{");
  ASSERT_NE(knee_at, std::string::npos) << r.output;
  const std::string knee = r.output.substr(knee_at);
  const double knee_pps = json_double(knee, "pps");
  // Rows are 0.25 s apart on a rate climbing 550 pps per second: ~140 pps per row.
  EXPECT_GT(knee_pps, 0.75 * kCapacity) << r.output;
  EXPECT_LT(knee_pps, 1.15 * kCapacity) << r.output;
  EXPECT_GT(json_number(r.output, "loss"), 0) << "the ramp never passed the server's capacity";
}

TEST(ReplayLoad, DnsRepliesMatchTheirQueryByIdWithSeveralInFlight) {
  if (!have_replay()) GTEST_SKIP() << "shortline-replay not built in " << kBinDir;
  // Each flow sends four queries 100 ms apart, all with the same ID in the capture: "late"
  // (answered at 500 ms, after the 400 ms timeout), "slow" (150 ms), "fast" (at once) and
  // "drop" (never). So replies come out of order and the late one arrives while "fast" and
  // "drop" are still in flight: matched in send order it would have been taken for theirs.
  ScriptedServer server([](const std::string& payload) {
    if (payload.find("late") != std::string::npos) return Verdict{false, 500ms};
    if (payload.find("slow") != std::string::npos) return Verdict{false, 150ms};
    if (payload.find("drop") != std::string::npos) return Verdict{true, {}};
    return Verdict{};
  });
  ASSERT_TRUE(server.ok());
  const std::string capture = capture_path("dns");
  {
    CaptureWriter writer(capture);
    const uint64_t t0 = 1'700'000'000ULL * 1'000'000'000ULL;
    const char* names[] = {"late", "slow", "fast", "drop"};
    for (int i = 0; i < 4; ++i)
      for (uint8_t flow = 1; flow <= 2; ++flow)
        writer.add(frame(false, flow, 5000, 9, 53, dns_query(0x4242, names[i])),
                   t0 + static_cast<uint64_t>(i) * 100'000'000 + flow * 1000);
  }
  const RunResult r = replay(capture, server.address(), {"--timeout-ms", "400"});
  std::filesystem::remove(capture);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("\"match\":\"dns\""), std::string::npos) << r.output;
  EXPECT_EQ(json_number(r.output, "sent"), 8);
  EXPECT_EQ(json_number(r.output, "replies"), 4) << r.output;      // slow and fast, per flow
  EXPECT_EQ(json_number(r.output, "timed_out"), 4) << r.output;    // late and drop, per flow
  EXPECT_EQ(json_number(r.output, "unmatched_replies"), 2) << r.output;  // the late replies
  // Matched by ID, "fast" takes next to nothing and "slow" 150 ms: the median is the fast one.
  // In send order, the fast reply would have been charged to "late" (sent 200 ms earlier).
  const auto latency_at = r.output.find("\"latency_us\":{");
  ASSERT_NE(latency_at, std::string::npos);
  const std::string latency = r.output.substr(latency_at);
  EXPECT_LT(json_double(latency, "p50"), 80'000.0) << r.output;
  EXPECT_LT(json_double(latency, "max"), 400'000.0) << r.output;
  // The replay gave the queries of one flow distinct IDs although the capture repeats one.
  std::map<uint16_t, std::set<uint16_t>> ids_per_port;
  for (const auto& a : server.arrivals()) ids_per_port[a.source_port].insert(id_of(a.payload));
  ASSERT_EQ(ids_per_port.size(), 2U);
  for (const auto& [port, ids] : ids_per_port) EXPECT_EQ(ids.size(), 4U) << "port " << port;
}

TEST(ReplayLoad, RadiusCaptureIsMatchedByFlowAlone) {
  if (!have_replay()) GTEST_SKIP() << "shortline-replay not built in " << kBinDir;
  const std::string radius = std::string(SHORTLINE_SOURCE_DIR) + "/../shared/captures/RADIUS.pcap";
  if (!std::filesystem::exists(radius)) GTEST_SKIP() << "no sample capture at " << radius;
  ScriptedServer server(echo_at_once());
  ASSERT_TRUE(server.ok());
  const RunResult r = replay(radius, server.address(), {"--rate", "200", "--loop", "20"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("\"match\":\"flow\""), std::string::npos) << r.output;
  const long long sent = json_number(r.output, "sent");
  EXPECT_EQ(sent, 40) << r.output;  // two Access-Requests to port 1812, twenty times
  EXPECT_EQ(json_number(r.output, "replies"), sent) << r.output;
  EXPECT_EQ(json_number(r.output, "unmatched_replies"), 0) << r.output;
  // The payloads went out untouched (no DNS ID rewriting): RADIUS codes and identifiers kept.
  std::set<std::string> distinct;
  for (const auto& a : server.arrivals()) distinct.insert(a.payload);
  EXPECT_EQ(distinct.size(), 2U);
}

TEST(ReplayLoad, ForcedDnsMatchingRefusesPayloadsWithoutAHeader) {
  if (!have_replay()) GTEST_SKIP() << "shortline-replay not built in " << kBinDir;
  const std::string capture = write_plain_capture(3);  // "request N": under 12 bytes
  const RunResult r = replay(capture, *NetAddress::parse("127.0.0.1:9"), {"--match", "dns"});
  std::filesystem::remove(capture);
  EXPECT_EQ(r.exit_code, 2) << r.output;
}

}  // namespace

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
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "dataplane/net_address.h"
#include "tests/integration/replay_test_support.h"
#include "tests/integration/scripted_udp_server.h"

namespace {

using Clock = std::chrono::steady_clock;
using shortline::NetAddress;
using namespace shortline::testing;
using namespace std::chrono_literals;

const std::string kBinDir = SHORTLINE_BIN_DIR;

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
  ScriptedServer server("127.0.0.1:0", echo_at_once());
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
  ScriptedServer server("127.0.0.1:0", [&](const std::string&) { return Verdict{false, kDelay}; });
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
  ScriptedServer server("127.0.0.1:0", answer_at_most(kCapacity, 20));
  ASSERT_TRUE(server.ok());
  // DNS queries from one source: with drops and many requests in flight on one flow, only
  // message IDs tell which request a reply answers.
  const std::string capture = write_dns_capture(10);
  const std::string picture = capture_path("ramp") + ".svg";
  const RunResult r = replay(capture, server.address(),
                             {"--ramp", "200:2400:4", "--interval", "0.25", "--knee-loss", "0.01",
                              "--knee-p99-ms", "1000", "--timeout-ms", "500", "--plot", picture});
  std::filesystem::remove(capture);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // The picture, drawn by gnuplot: an SVG with both panels and the knee's marker.
  std::ostringstream svg_text;
  svg_text << std::ifstream(picture).rdbuf();
  const std::string svg = svg_text.str();
  std::filesystem::remove(picture);
  EXPECT_NE(svg.find("<svg"), std::string::npos) << r.output;
  EXPECT_NE(svg.find("answered, datagrams/s"), std::string::npos);
  EXPECT_NE(svg.find("p99 latency"), std::string::npos);
  EXPECT_NE(svg.find("knee: "), std::string::npos);
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
  // resperf's figure: answered, before the first row over a bound, so never above the knee.
  const auto best_at = r.output.find("\"max_throughput\":{");
  ASSERT_NE(best_at, std::string::npos) << r.output;
  const double best_pps = json_double(r.output.substr(best_at), "answered_pps");
  EXPECT_GT(best_pps, 0.0) << r.output;
  EXPECT_LE(best_pps, knee_pps * 1.01) << r.output;
}

TEST(ReplayLoad, DnsRepliesMatchTheirQueryByIdWithSeveralInFlight) {
  if (!have_replay()) GTEST_SKIP() << "shortline-replay not built in " << kBinDir;
  // Each flow sends four queries 100 ms apart, all with the same ID in the capture: "late"
  // (answered at 500 ms, after the 400 ms timeout), "slow" (150 ms), "fast" (at once) and
  // "drop" (never). So replies come out of order and the late one arrives while "fast" and
  // "drop" are still in flight: matched in send order it would have been taken for theirs.
  ScriptedServer server("127.0.0.1:0", [](const std::string& payload) {
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
  ScriptedServer server("127.0.0.1:0", echo_at_once());
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

// shortline-replay end to end: a capture written by the test (known flows, sizes, timestamps)
// is replayed into recording echo servers on loopback, directly and through shortline-lb;
// payloads, flow → socket mapping and pacing are checked, and bad input gives exit 2.
#include <arpa/inet.h>
#include <fcntl.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
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

const std::string kBinDir = SHORTLINE_BIN_DIR;
constexpr int kFlows = 4;           // three IPv4 sources and one IPv6 source
constexpr int kRequests = 24;       // to UDP port 53, 25 ms apart in the capture
constexpr uint64_t kGapNs = 25'000'000;

// The echo server of these tests: answers at once, records what arrived.
using RecordingEcho = ScriptedServer;

// "flow=F seq=S " padded with '.' to a size that varies per request.
std::string request_payload(int flow, int seq) {
  std::string p = "flow=" + std::to_string(flow) + " seq=" + std::to_string(seq) + " ";
  p.resize(p.size() + static_cast<size_t>((seq * 97) % 900), '.');
  return p;
}

int flow_of(const std::string& payload) { return std::atoi(payload.c_str() + 5); }

// Writes the test capture: kRequests requests round-robin over kFlows sources, a reply for
// every other request (to the sources' ports, so port 53 stays the busiest), an ARP frame.
std::string write_capture() {
  const std::string path = testing::TempDir() + "shortline-replay-test.pcap";
  CaptureWriter writer(path);
  auto add = [&writer](const std::vector<uint8_t>& f, uint64_t ts_ns) { writer.add(f, ts_ns); };
  const uint64_t t0 = 1'700'000'000ULL * 1'000'000'000ULL;
  for (int i = 0; i < kRequests; ++i) {
    const int flow = i % kFlows;
    const bool v6 = flow == 3;
    const auto sport = static_cast<uint16_t>(1000 + flow);
    const uint64_t ts = t0 + static_cast<uint64_t>(i) * kGapNs;
    add(frame(v6, static_cast<uint8_t>(flow + 1), sport, 53, 53, request_payload(flow, i)), ts);
    if (i % 2 == 0) add(frame(v6, 53, 53, static_cast<uint8_t>(flow + 1), sport, "reply"), ts + 1000);
  }
  add(std::vector<uint8_t>(42, 0x06), t0 + kRequests * kGapNs);  // not IP: not UDP
  return path;
}

RunResult replay(const std::string& capture, const NetAddress& target,
                 const std::vector<std::string>& extra) {
  std::vector<std::string> args = {kBinDir + "/shortline-replay", capture, "--target",
                                   target.to_string(), "--json", "--no-progress"};
  args.insert(args.end(), extra.begin(), extra.end());
  return run(args, std::chrono::seconds(60));
}

// Every request arrived once with its exact payload; with keep_ports, each flow also used
// one source port per server and different flows different ports (true of the replay's own
// sockets; through shortline-lb each exchange borrows a pooled upstream port instead).
void check_payloads(const std::vector<const RecordingEcho*>& servers, int loops,
                    bool keep_ports) {
  std::multiset<std::string> expected;
  for (int l = 0; l < loops; ++l)
    for (int i = 0; i < kRequests; ++i) expected.insert(request_payload(i % kFlows, i));
  std::multiset<std::string> got;
  for (const RecordingEcho* server : servers) {
    std::map<int, uint16_t> port_of_flow;
    std::set<uint16_t> ports;
    for (const auto& a : server->arrivals()) {
      got.insert(a.payload);
      if (!keep_ports) continue;
      const int flow = flow_of(a.payload);
      auto [it, fresh] = port_of_flow.emplace(flow, a.source_port);
      EXPECT_EQ(it->second, a.source_port) << "flow " << flow << " changed socket";
      if (fresh) {
        EXPECT_TRUE(ports.insert(a.source_port).second) << "two flows share a socket";
      }
    }
  }
  EXPECT_EQ(got, expected);
}

void check_payloads_and_flows(const std::vector<const RecordingEcho*>& servers, int loops) {
  check_payloads(servers, loops, true);
}

class ReplayTest : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(kBinDir + "/shortline-replay"))
      GTEST_SKIP() << "shortline-replay not built in " << kBinDir;
    echo_ = std::make_unique<RecordingEcho>(GetParam());
    if (!echo_->ok()) GTEST_SKIP() << "cannot bind " << GetParam() << " (no IPv6 loopback?)";
    capture_ = write_capture();
  }
  void TearDown() override {
    if (!capture_.empty()) std::filesystem::remove(capture_);
  }
  std::unique_ptr<RecordingEcho> echo_;
  std::string capture_;
};

TEST_P(ReplayTest, RecordedPaceScaledKeepsPayloadsFlowsAndTiming) {
  constexpr double kSpeed = 2.0;
  const RunResult r = replay(capture_, echo_->address(), {"--speed", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(json_number(r.output, "read"), kRequests + kRequests / 2 + 1) << r.output;
  EXPECT_EQ(json_number(r.output, "selected"), kRequests);
  EXPECT_EQ(json_number(r.output, "dst_port"), 53);
  EXPECT_EQ(json_number(r.output, "flows"), kFlows);
  EXPECT_EQ(json_number(r.output, "not_udp"), 1);
  EXPECT_EQ(json_number(r.output, "sent"), kRequests);
  EXPECT_EQ(json_number(r.output, "replies"), kRequests) << r.output;
  check_payloads_and_flows({echo_.get()}, 1);
  // Pacing, with bounds generous enough for a loaded machine (the echo thread may see the
  // first datagram late): no datagram far ahead of its schedule relative to the first, the
  // run not far too slow, and the whole span close to the scaled recorded span (a replay at
  // full speed would take about 1 ms, not 287 ms).
  const auto arrivals = echo_->arrivals();
  ASSERT_EQ(arrivals.size(), static_cast<size_t>(kRequests));
  const auto first = arrivals.front().at;
  for (size_t i = 0; i < arrivals.size(); ++i) {
    const int seq = std::atoi(arrivals[i].payload.c_str() + arrivals[i].payload.find("seq=") + 4);
    const double expected_ms = static_cast<double>(seq) * kGapNs / 1e6 / kSpeed;
    const double actual_ms =
        std::chrono::duration<double, std::milli>(arrivals[i].at - first).count();
    EXPECT_GE(actual_ms, expected_ms - 50.0) << "seq " << seq << " arrived early";
    EXPECT_LE(actual_ms, expected_ms + 2000.0) << "seq " << seq << " arrived far too late";
  }
  const double span_ms =
      std::chrono::duration<double, std::milli>(arrivals.back().at - first).count();
  EXPECT_GE(span_ms, 0.7 * (kRequests - 1) * kGapNs / 1e6 / kSpeed);
}

TEST_P(ReplayTest, MaxRateLoopsSendEverythingAgain) {
  const RunResult r = replay(capture_, echo_->address(), {"--max-rate", "--loop", "3"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(json_number(r.output, "sent"), 3 * kRequests) << r.output;
  EXPECT_EQ(json_number(r.output, "loops"), 3);
  EXPECT_EQ(json_number(r.output, "replies"), 3 * kRequests) << r.output;
  check_payloads_and_flows({echo_.get()}, 3);
}

TEST_P(ReplayTest, DurationBoundsAnEndlessLoop) {
  const auto started = Clock::now();
  const RunResult r =
      replay(capture_, echo_->address(), {"--loop", "0", "--duration", "0.3", "--speed", "4"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("\"stop\":\"duration\""), std::string::npos) << r.output;
  EXPECT_GT(json_number(r.output, "sent"), 0);
  EXPECT_LT(Clock::now() - started, std::chrono::seconds(30));
}

INSTANTIATE_TEST_SUITE_P(Loopback, ReplayTest, ::testing::Values("127.0.0.1:0", "[::1]:0"));

// shortline-lb in front of two echo servers; stdout's first line gives its port.
class LbProcess {
 public:
  LbProcess(const std::string& backends, std::string& error) {
    int out[2];
    if (pipe2(out, O_CLOEXEC) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(out[1], STDOUT_FILENO);
      const std::string bin = kBinDir + "/shortline-lb";
      execl(bin.c_str(), bin.c_str(), "--listen", "127.0.0.1:0", "--backend", backends.c_str(),
            "--workers", "1", static_cast<char*>(nullptr));
      _exit(127);
    }
    close(out[1]);
    out_fd_ = out[0];
    std::string line;
    const auto deadline = Clock::now() + std::chrono::seconds(20);
    char c = 0;
    while (line.find('\n') == std::string::npos && Clock::now() < deadline) {
      pollfd p{out_fd_, POLLIN, 0};
      if (poll(&p, 1, 100) <= 0) continue;
      if (read(out_fd_, &c, 1) != 1) break;
      line += c;
    }
    const std::string prefix = "shortline-lb: listening on ";
    if (line.rfind(prefix, 0) != 0) {
      error = "no ready line from shortline-lb, got: '" + line + "'";
      return;
    }
    const auto address_end = line.find_first_of(" \n", prefix.size());
    auto address = NetAddress::parse(line.substr(prefix.size(), address_end - prefix.size()));
    if (address) address_ = *address;
    else error = "cannot parse the address in '" + line + "'";
  }
  ~LbProcess() {
    if (pid_ > 0 && !stopped_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (out_fd_ >= 0) close(out_fd_);
  }
  const NetAddress& address() const { return address_; }
  // SIGTERM, then waits (bounded) for it to drain and exit; the exit status or -1.
  int stop() {
    kill(pid_, SIGTERM);
    const auto deadline = Clock::now() + std::chrono::seconds(20);
    int status = 0;
    while (Clock::now() < deadline) {
      char buffer[4096];
      pollfd p{out_fd_, POLLIN, 0};
      if (poll(&p, 1, 50) > 0 && read(out_fd_, buffer, sizeof(buffer)) <= 0) {
        // stdout closed: the process is exiting
      }
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        stopped_ = true;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
    }
    return -1;
  }

 private:
  pid_t pid_ = -1;
  int out_fd_ = -1;
  bool stopped_ = false;
  NetAddress address_;
};

TEST(ReplayThroughBalancer, EveryRequestReachesOneServerOnce) {
  if (!std::filesystem::exists(kBinDir + "/shortline-replay"))
    GTEST_SKIP() << "shortline-replay not built in " << kBinDir;
  if (!std::filesystem::exists(kBinDir + "/shortline-lb"))
    GTEST_SKIP() << "shortline-lb not built in " << kBinDir << ": the balancer part is skipped";
  RecordingEcho first("127.0.0.1:0");
  RecordingEcho second("127.0.0.1:0");
  ASSERT_TRUE(first.ok() && second.ok());
  std::string error;
  LbProcess lb(first.address().to_string() + "," + second.address().to_string(), error);
  ASSERT_TRUE(error.empty()) << error;
  const std::string capture = write_capture();
  const RunResult r = replay(capture, lb.address(), {"--speed", "4", "--loop", "2"});
  std::filesystem::remove(capture);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(json_number(r.output, "sent"), 2 * kRequests) << r.output;
  EXPECT_EQ(json_number(r.output, "replies"), 2 * kRequests) << r.output;
  check_payloads({&first, &second}, 2, false);
  EXPECT_EQ(lb.stop(), 0);
}

TEST(ReplayCli, BadInputExitsTwoWithAMessage) {
  if (!std::filesystem::exists(kBinDir + "/shortline-replay"))
    GTEST_SKIP() << "shortline-replay not built in " << kBinDir;
  const std::string bin = kBinDir + "/shortline-replay";
  EXPECT_EQ(run({bin, "--help"}, std::chrono::seconds(10)).exit_code, 0);
  EXPECT_EQ(run({bin, "/nonexistent.pcap", "--target", "127.0.0.1:9"}, std::chrono::seconds(10))
                .exit_code, 2);
  EXPECT_EQ(run({bin, "x.pcap", "--target", "127.0.0.1"}, std::chrono::seconds(10)).exit_code, 2);
  EXPECT_EQ(run({bin, "--target", "127.0.0.1:9"}, std::chrono::seconds(10)).exit_code, 2);
  const std::string captures = std::string(SHORTLINE_SOURCE_DIR) + "/../shared/captures";
  if (!std::filesystem::is_directory(captures)) GTEST_SKIP() << "no sample captures at " << captures;
  for (const char* file : {"heap-overflow-1.pcap", "empty.pcapng"}) {
    EXPECT_EQ(run({bin, captures + "/" + file, "--target", "127.0.0.1:9"}, std::chrono::seconds(10))
                  .exit_code, 2) << file;
  }
}

}  // namespace

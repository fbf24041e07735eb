// shortline-server and shortline-client as real processes on loopback, IPv4 and IPv6:
// every request answered, ServerReports reach a fake balancer with the right id and queue,
// signed reports verify, and SIGTERM drains the queue, reports LEAVING and exits 0.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "control/wire/messages.h"
#include "tests/integration/child_process.h"
#include "tests/integration/udp_test_support.h"

namespace shortline {
namespace {

using namespace std::chrono_literals;
using testing::ChildProcess;

const std::string kBin = SHORTLINE_BIN_DIR;

std::string log_dir() {
  return ::testing::TempDir() + "shortline_server_client_" + std::to_string(::getpid());
}

// A UDP socket standing in for a balancer's control port: collects ServerReports.
class FakeBalancer {
 public:
  explicit FakeBalancer(const std::string& host, const wire::AuthKey* key = nullptr)
      : fd_(testing::open_udp_socket(testing::any_port(host))), key_(key), guard_(16) {
    if (fd_ >= 0) address_ = testing::local_address(fd_);
  }
  ~FakeBalancer() {
    if (fd_ >= 0) close(fd_);
  }
  FakeBalancer(const FakeBalancer&) = delete;
  FakeBalancer& operator=(const FakeBalancer&) = delete;

  [[nodiscard]] bool ok() const { return fd_ >= 0; }
  [[nodiscard]] const NetAddress& address() const { return address_; }

  // Receives reports until one satisfies `match` or the timeout passes.
  template <typename Match>
  std::optional<wire::ServerReport> wait_for(Match match, std::chrono::milliseconds timeout = 20s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::array<uint8_t, 2048> buffer{};
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 20) <= 0) continue;
      const ssize_t n = recv(fd_, buffer.data(), buffer.size(), 0);
      if (n <= 0) continue;
      const auto decoded = wire::decode(std::span<const uint8_t>(buffer).first(static_cast<std::size_t>(n)),
                                        wire::DecodeOptions{key_, key_ ? &guard_ : nullptr});
      if (!decoded.ok()) {
        ++rejected_;
        continue;
      }
      const auto* report = std::get_if<wire::ServerReport>(&decoded.message);
      if (report == nullptr) continue;
      ++reports_;
      if (key_ != nullptr && !decoded.authenticated) ++rejected_;
      if (match(*report)) return *report;
    }
    return std::nullopt;
  }
  [[nodiscard]] uint64_t reports() const { return reports_; }
  [[nodiscard]] uint64_t rejected() const { return rejected_; }

 private:
  int fd_;
  NetAddress address_;
  const wire::AuthKey* key_;
  wire::ReplayGuard guard_;
  uint64_t reports_ = 0;
  uint64_t rejected_ = 0;
};

struct ServerProcess {
  std::unique_ptr<ChildProcess> process;
  NetAddress address;
};

// Starts shortline-server on a kernel-chosen port and reads the port from its stdout.
std::optional<ServerProcess> start_server(const std::string& host, uint32_t id,
                                          std::vector<std::string> extra) {
  std::vector<std::string> argv = {kBin + "/shortline-server", "--port", "0", "--id",
                                   std::to_string(id), "--listen-address", host,
                                   "--log-dir", log_dir()};
  argv.insert(argv.end(), extra.begin(), extra.end());
  ServerProcess server{std::make_unique<ChildProcess>(argv), {}};
  const auto line = server.process->wait_for_line("shortline-server: listening on ");
  if (!line) return std::nullopt;
  const auto parsed = NetAddress::parse(line->substr(line->rfind(' ') + 1));
  if (!parsed) return std::nullopt;
  server.address = *parsed;
  return server;
}

bool have_ipv6_loopback() {
  const int fd = testing::open_udp_socket(testing::any_port("::1"));
  if (fd < 0) return false;
  close(fd);
  return true;
}

class ServerClientTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "::1" && !have_ipv6_loopback()) GTEST_SKIP() << "no IPv6 loopback";
  }
};

TEST_P(ServerClientTest, ClientGetsEveryAnswerAndBalancerGetsReports) {
  const std::string host = GetParam();
  FakeBalancer balancer(host);
  ASSERT_TRUE(balancer.ok());
  auto server = start_server(host, 7, {"--workers", "2", "--service-ms", "0.2", "--balancer",
                                       balancer.address().to_string()});
  ASSERT_TRUE(server.has_value());

  const auto up = balancer.wait_for([](const wire::ServerReport& r) { return r.server_id == 7; });
  ASSERT_TRUE(up.has_value()) << "no report from server 7";
  EXPECT_EQ(up->state, wire::ServerState::up);
  EXPECT_EQ(up->address, server->address);
  EXPECT_EQ(up->workers, 2U);

  ChildProcess client({kBin + "/shortline-client", "--target", server->address.to_string(),
                       "--requests", "200", "--concurrency", "8", "--json", "--id", "11",
                       "--timeout-ms", "5000", "--log-dir", log_dir()});
  const auto json_line = client.wait_for_line("{\"client_id\"", 60s);
  ASSERT_TRUE(json_line.has_value()) << client.output();
  EXPECT_EQ(client.wait_exit(), 0);
  const auto summary = nlohmann::json::parse(*json_line);
  EXPECT_EQ(summary["requests"], 200);
  EXPECT_EQ(summary["answered"], 200);
  EXPECT_EQ(summary["failed"], 0);
  EXPECT_EQ(summary["servers"]["7"], 200);
  EXPECT_GT(summary["latency_us"]["p99"].get<double>(), 0.0);
  // Each answer's time at the server: at least its 0.2 ms service, and below the slowest
  // round trip (with room for the histograms' 1/64 rounding).
  const double server_p99 = summary["server_side_us"]["p99"].get<double>();
  EXPECT_GE(server_p99, 150.0);
  EXPECT_LE(server_p99, 1.05 * summary["latency_us"]["max"].get<double>());

  server->process->signal(SIGTERM);
  const auto leaving = balancer.wait_for(
      [](const wire::ServerReport& r) { return r.state == wire::ServerState::leaving; });
  EXPECT_TRUE(leaving.has_value());
  EXPECT_EQ(server->process->wait_exit(), 0) << server->process->output();
  EXPECT_TRUE(std::filesystem::exists(log_dir() + "/servers/server-7.log"));
  EXPECT_TRUE(std::filesystem::exists(log_dir() + "/clients/client-11.log"));
}

// Requests queued behind a slow worker are all answered after SIGTERM; the reports show
// the queue, then DRAINING, then LEAVING; the exit status is 0.
TEST_P(ServerClientTest, SigtermDrainsTheQueue) {
  const std::string host = GetParam();
  FakeBalancer balancer(host);
  ASSERT_TRUE(balancer.ok());
  auto server = start_server(host, 8, {"--workers", "1", "--service-ms", "20", "--balancer",
                                       balancer.address().to_string()});
  ASSERT_TRUE(server.has_value());

  testing::Client client(host);
  constexpr int kRequests = 12;
  for (int i = 1; i <= kRequests; ++i) {
    std::array<uint8_t, wire::kClientRequestBytes> buffer{};
    const std::size_t size =
        wire::encode(wire::ClientRequest{1, static_cast<uint64_t>(i), 0, 0}, buffer);
    ASSERT_TRUE(client.send(server->address, std::string(buffer.begin(), buffer.begin() + static_cast<long>(size))));
  }
  const auto queued = balancer.wait_for(
      [](const wire::ServerReport& r) { return r.server_id == 8 && r.queue_length >= 3; });
  ASSERT_TRUE(queued.has_value()) << "no report showed the queue";
  server->process->signal(SIGTERM);

  std::vector<bool> answered(kRequests + 1, false);
  int answers = 0;
  while (answers < kRequests) {
    const auto reply = client.receive(20s);
    ASSERT_TRUE(reply.has_value()) << "only " << answers << " answers";
    const auto decoded = wire::decode(std::span<const uint8_t>(
        reinterpret_cast<const uint8_t*>(reply->payload.data()), reply->payload.size()));
    ASSERT_TRUE(decoded.ok());
    const auto& response = std::get<wire::ClientResponse>(decoded.message);
    EXPECT_EQ(response.server_id, 8U);
    ASSERT_LE(response.request_id, static_cast<uint64_t>(kRequests));
    EXPECT_FALSE(answered[response.request_id]) << "duplicate " << response.request_id;
    answered[response.request_id] = true;
    ++answers;
  }
  bool saw_draining = false;
  const auto leaving = balancer.wait_for([&saw_draining](const wire::ServerReport& r) {
    saw_draining = saw_draining || r.state == wire::ServerState::draining;
    return r.state == wire::ServerState::leaving;
  });
  EXPECT_TRUE(leaving.has_value());
  EXPECT_TRUE(saw_draining);
  EXPECT_EQ(server->process->wait_exit(), 0) << server->process->output();
}

TEST_P(ServerClientTest, OtherDatagramsAreEchoed) {
  const std::string host = GetParam();
  auto server = start_server(host, 9, {"--service-ms", "0"});
  ASSERT_TRUE(server.has_value());
  testing::Client client(host);
  ASSERT_TRUE(client.send(server->address, "plain udp payload"));
  const auto reply = client.receive(20s);
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->payload, "plain udp payload");
  server->process->signal(SIGTERM);
  EXPECT_EQ(server->process->wait_exit(), 0);
}

std::string family_name(const ::testing::TestParamInfo<std::string>& param_info) {
  return param_info.param == "::1" ? "IPv6" : "IPv4";
}

INSTANTIATE_TEST_SUITE_P(Loopback, ServerClientTest, ::testing::Values("127.0.0.1", "::1"),
                         family_name);

TEST(ServerAuth, SignedReportsVerifyAndAreFresh) {
  const std::string key_path = log_dir() + "-key";
  {
    std::ofstream(key_path) << std::string(64, 'b') << "\n";
  }
  const auto key = wire::AuthKey::from_hex(std::string(64, 'b'));
  ASSERT_TRUE(key.has_value());
  FakeBalancer balancer("127.0.0.1", &*key);
  auto server = start_server("127.0.0.1", 12, {"--auth-key-file", key_path, "--balancer",
                                               balancer.address().to_string()});
  ASSERT_TRUE(server.has_value());
  int seen = 0;
  const auto fifth = balancer.wait_for([&seen](const wire::ServerReport& r) {
    return r.server_id == 12 && ++seen == 5;
  });
  EXPECT_TRUE(fifth.has_value());
  EXPECT_EQ(balancer.rejected(), 0U);
  server->process->signal(SIGTERM);
  EXPECT_EQ(server->process->wait_exit(), 0);
  std::remove(key_path.c_str());
}

TEST(ClientCli, RefusesMissingBoundsAndSmallSize) {
  ChildProcess no_bound({kBin + "/shortline-client", "--target", "127.0.0.1:9"});
  EXPECT_EQ(no_bound.wait_exit(), 2);
  EXPECT_NE(no_bound.output().find("--requests or --duration"), std::string::npos);
  ChildProcess small({kBin + "/shortline-client", "--target", "127.0.0.1:9", "--requests", "1",
                      "--size", "8"});
  EXPECT_EQ(small.wait_exit(), 2);
  EXPECT_NE(small.output().find("--size"), std::string::npos);
}

}  // namespace
}  // namespace shortline

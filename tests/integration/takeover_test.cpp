// Upgrades without loss: a second shortline-lb --take-over takes the running one's sockets
// under steady traffic (no client retries) in packet and flow affinity; every request is
// answered, the old process drains and exits 0, the new one serves on. Bad input on the
// takeover socket (garbage, a partial header, a client that leaves midway) leaves the old
// one serving.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <atomic>
#include <cstring>
#include <thread>

#include "child_process.h"
#include "control/takeover.h"
#include "dataplane/kernel_probe.h"
#include "udp_test_support.h"

namespace shortline {
namespace {

using namespace std::chrono_literals;
using testing::ChildProcess;

const std::string kLb = std::string(SHORTLINE_BIN_DIR) + "/shortline-lb";
constexpr int kClients = 6;
constexpr int kRequestsPerClientMax = 700;  // 4,200 at most in all
constexpr auto kReplyWait = 5s;             // generous: a reply missing this long is lost

std::string after(const std::string& line, const std::string& marker) {
  const auto start = line.find(marker) + marker.size();
  return line.substr(start, line.find_first_of(" /)", start) - start);
}

std::string socket_path(const std::string& name) {
  std::string path = ::testing::TempDir();
  return path.append("/sl_").append(name).append("_").append(std::to_string(::getpid())) + ".sock";
}

// A TCP port nobody holds now (for the admin endpoint, which must move to the new process).
uint16_t free_tcp_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  uint16_t port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), length) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0)
    port = ntohs(address.sin_port);
  ::close(fd);
  return port;
}

std::vector<std::string> lb_args(const std::string& affinity, const std::string& backends,
                                 const std::string& admin, const std::string& path) {
  return {kLb,       "--listen",          "127.0.0.1:0",  "--backend",          backends,
          "--workers", "2",               "--affinity",   affinity,             "--control-port",
          "0",       "--admin",           admin,          "--upstream-sockets", "256",
          "--max-sessions", "256",        "--takeover-socket", path};
}

// kClients threads, each a socket of its own, one request at a time awaited without retry.
class SteadyTraffic {
 public:
  explicit SteadyTraffic(const NetAddress& target) {
    for (int c = 0; c < kClients; ++c) threads_.emplace_back([this, c, target] { run(c, target); });
  }
  ~SteadyTraffic() { stop(); }
  void stop() {
    stop_ = true;
    for (auto& thread : threads_)
      if (thread.joinable()) thread.join();
  }
  [[nodiscard]] uint64_t answered() const { return answered_.load(); }
  [[nodiscard]] uint64_t lost() const { return lost_.load(); }
  [[nodiscard]] uint64_t sent() const { return sent_.load(); }

 private:
  void run(int client_id, const NetAddress& target) {
    testing::Client client("127.0.0.1");
    const auto deadline = std::chrono::steady_clock::now() + 90s;
    for (int n = 0; n < kRequestsPerClientMax && !stop_ && std::chrono::steady_clock::now() < deadline;
         ++n) {
      std::string payload("c");
      payload.append(std::to_string(client_id)).append(" n").append(std::to_string(n));
      ++sent_;
      const auto reply = client.send(target, payload) ? client.receive(kReplyWait) : std::nullopt;
      if (reply && reply->payload == payload) ++answered_;
      else ++lost_;
      std::this_thread::sleep_for(1ms);  // pacing: a steady rate, not a burst
    }
  }

  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> sent_{0};
  std::atomic<uint64_t> answered_{0};
  std::atomic<uint64_t> lost_{0};
  std::vector<std::thread> threads_;
};

void take_over_under_traffic(const std::string& affinity, bool with_admin) {
  if (const auto missing = probe_kernel_features(); !missing.empty())
    GTEST_SKIP() << "kernel lacks io_uring features: " << missing;
  testing::EchoServer echo_a("127.0.0.1");
  testing::EchoServer echo_b("127.0.0.1");
  const std::string backends = echo_a.address().to_string() + "," + echo_b.address().to_string();
  std::string admin("off");
  if (with_admin) admin = std::string("127.0.0.1:").append(std::to_string(free_tcp_port()));
  const std::string path = socket_path(affinity);
  auto args = lb_args(affinity, backends, admin, path);
  ChildProcess old_lb(args);
  const auto listening = old_lb.wait_for_line("listening on");
  ASSERT_TRUE(listening) << old_lb.output();
  const auto control = old_lb.wait_for_line("control on");
  ASSERT_TRUE(control) << old_lb.output();
  ASSERT_TRUE(old_lb.wait_for_line("takeover socket at")) << old_lb.output();
  const NetAddress target = *NetAddress::parse(after(*listening, "listening on "));

  SteadyTraffic traffic(target);
  ASSERT_TRUE(testing::wait_until([&] { return traffic.answered() >= 1000; }, 60s));
  args.push_back("--take-over");
  args.push_back(path);
  ChildProcess new_lb(args);
  const auto new_listening = new_lb.wait_for_line("listening on", 60s);
  ASSERT_TRUE(new_listening) << new_lb.output() << old_lb.output();
  EXPECT_EQ(after(*new_listening, "listening on "), target.to_string());
  const auto new_control = new_lb.wait_for_line("control on", 5s);
  ASSERT_TRUE(new_control) << new_lb.output();
  EXPECT_EQ(after(*new_control, "control on "), after(*control, "control on "));
  if (with_admin) {
    const auto admin_line = new_lb.wait_for_line("admin on http://", 5s);
    ASSERT_TRUE(admin_line) << new_lb.output();
    EXPECT_EQ(after(*admin_line, "admin on http://"), admin);
  }
  EXPECT_EQ(old_lb.wait_exit(60s), 0) << old_lb.output();
  EXPECT_NE(old_lb.output().find("reads the listen sockets; stopping receiving"), std::string::npos)
      << old_lb.output();
  const uint64_t at_exit = traffic.answered();
  EXPECT_TRUE(testing::wait_until([&] { return traffic.answered() >= at_exit + 1000; }, 60s));
  traffic.stop();
  EXPECT_EQ(traffic.lost(), 0u) << "sent " << traffic.sent() << "\n"
                                << old_lb.output() << new_lb.output();
  EXPECT_GE(traffic.answered(), 2000u);

  // The new one serves a client it has never seen, then drains like any balancer.
  testing::Client late("127.0.0.1");
  ASSERT_TRUE(late.send(target, "after"));
  const auto reply = late.receive(kReplyWait);
  ASSERT_TRUE(reply) << new_lb.output();
  EXPECT_EQ(reply->payload, "after");
  new_lb.signal(SIGTERM);
  EXPECT_EQ(new_lb.wait_exit(60s), 0) << new_lb.output();
  EXPECT_EQ(new_lb.output().find("replies_forwarded            0\n"), std::string::npos)
      << new_lb.output();
}

TEST(Takeover, PacketAffinityLosesNothingAndTheAdminPortMoves) {
  take_over_under_traffic("packet", true);
}

TEST(Takeover, FlowAffinityLosesNothing) { take_over_under_traffic("flow", false); }

int connect_unix(const std::string& path) {
  const int fd = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, path.c_str(), sizeof(address.sun_path) - 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

void expect_serving(const NetAddress& target, const std::string& tag) {
  testing::Client client("127.0.0.1");
  for (int i = 0; i < 5; ++i) {
    const std::string payload = std::string(tag).append(" ").append(std::to_string(i));
    ASSERT_TRUE(client.send(target, payload));
    const auto reply = client.receive(kReplyWait);
    ASSERT_TRUE(reply) << tag;
    EXPECT_EQ(reply->payload, payload);
  }
}

TEST(Takeover, BadInputOnTheTakeoverSocketLeavesTheOldOneServing) {
  if (const auto missing = probe_kernel_features(); !missing.empty())
    GTEST_SKIP() << "kernel lacks io_uring features: " << missing;
  testing::EchoServer echo("127.0.0.1");
  const std::string path = socket_path("bad");
  ChildProcess lb(lb_args("packet", echo.address().to_string(), "off", path));
  const auto listening = lb.wait_for_line("listening on");
  ASSERT_TRUE(listening) << lb.output();
  ASSERT_TRUE(lb.wait_for_line("takeover socket at")) << lb.output();
  const NetAddress target = *NetAddress::parse(after(*listening, "listening on "));

  const int garbage = connect_unix(path);
  ASSERT_GE(garbage, 0);
  ASSERT_EQ(::send(garbage, "GET / HTTP/1.0\r\n\r\n", 18, 0), 18);
  ASSERT_TRUE(lb.wait_for_line("bad request (not a takeover message")) << lb.output();
  ::close(garbage);
  expect_serving(target, "after garbage");

  const int partial = connect_unix(path);
  ASSERT_GE(partial, 0);
  const auto request = takeover::encode(takeover::Message{});
  ASSERT_EQ(::send(partial, request.data(), 6, 0), 6);  // half a header
  ASSERT_TRUE(lb.wait_for_line("bad request (short message")) << lb.output();
  ::close(partial);
  expect_serving(target, "after a partial header");

  // Takes the offer (and the fds), then leaves without saying "reading".
  const int quitter = connect_unix(path);
  ASSERT_GE(quitter, 0);
  ASSERT_EQ(takeover::send_message(quitter, takeover::Message{}), "");
  std::vector<int> fds;
  std::string error;
  const auto offer = takeover::receive_message(quitter, 20'000, fds, error);
  ASSERT_TRUE(offer) << error;
  EXPECT_EQ(offer->type, takeover::MessageType::offer);
  EXPECT_EQ(offer->workers, 2u);
  EXPECT_EQ(fds.size(), 3u);  // two listen sockets and the control socket
  EXPECT_EQ(offer->listen, target);
  for (const int fd : fds) ::close(fd);
  ::close(quitter);
  ASSERT_TRUE(lb.wait_for_line("did not take over (the peer closed the connection)"))
      << lb.output();
  expect_serving(target, "after a successor left midway");

  lb.signal(SIGTERM);
  EXPECT_EQ(lb.wait_exit(), 0) << lb.output();
}

}  // namespace
}  // namespace shortline

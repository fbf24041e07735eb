// shortline-controller with real processes on loopback: it starts the balancer and the pool,
// answers hand-made ScaleRequests (ADD starts a server that answers requests; a retry is not
// a second ADD; REMOVE drains one; min/max refuse), restarts a server killed with SIGKILL,
// and on SIGTERM stops every child and exits 0. Also: bad config exits 2, and the demo
// runs for a bounded time and leaves nothing running.
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "control/admin_http.h"
#include "control/controller/live_view.h"
#include "control/wire/messages.h"
#include "tests/integration/child_process.h"
#include "tests/integration/notify_socket.h"
#include "tests/integration/output_numbers.h"
#include "tests/integration/udp_test_support.h"

namespace shortline::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::number_after;

constexpr uint16_t kPortRangeSize = 16;
constexpr const char* kNoAutoScaling =
    R"(, "min_servers": 1, "max_servers_running": 3, "scale_down_idle_ms": 86400000,
    "scale_up_hold_ms": 86400000)";

// A port that was free a moment ago (bound to 0 and released): UDP or TCP.
uint16_t free_port(int type) {
  const int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
  NetAddress address = *NetAddress::parse("127.0.0.1:0");
  if (fd < 0 || bind(fd, address.sockaddr_ptr(), address.length) != 0) return 0;
  const uint16_t port = local_address(fd).port();
  close(fd);
  return port;
}

bool udp_free(uint16_t port) {
  const int fd = open_udp_socket(*NetAddress::parse("127.0.0.1:" + std::to_string(port)));
  if (fd < 0) return false;
  close(fd);
  return true;
}

// kPortRangeSize free UDP ports in a row, below the kernel's ephemeral range so that other
// tests' ephemeral sockets do not land in it. Tries a bounded number of bases.
uint16_t free_port_range() {
  for (int attempt = 0; attempt < 200; ++attempt) {
    const auto base = static_cast<uint16_t>(20000 + (getpid() * 37 + attempt * 101) % 12000);
    bool all_free = true;
    for (uint16_t i = 0; i < kPortRangeSize && all_free; ++i) all_free = udp_free(base + i);
    if (all_free) return base;
  }
  return 0;
}

// The lines of `pgrep -af PATTERN`, minus pgrep itself and the shell running it.
std::string pgrep(const std::string& pattern) {
  const std::string command = "pgrep -af '" + pattern + "' | grep -v -e pgrep -e 'sh -c'";
  std::string out;
  if (FILE* pipe = popen(command.c_str(), "r")) {
    std::array<char, 512> buffer{};
    while (fgets(buffer.data(), buffer.size(), pipe) != nullptr) out.append(buffer.data());
    pclose(pipe);
  }
  return out;
}

bool process_gone(pid_t pid) { return kill(pid, 0) != 0 && errno == ESRCH; }

pid_t pid_in(const std::optional<std::string>& line) {
  return line ? static_cast<pid_t>(number_after(*line, "(pid ")) : -1;
}

class ControllerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "shortline_controller_XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    controller_port_ = free_port(SOCK_DGRAM);
    server_side_port_ = free_port(SOCK_DGRAM);
    client_side_port_ = free_port(SOCK_DGRAM);
    admin_port_ = free_port(SOCK_STREAM);
    range_start_ = free_port_range();
    ASSERT_NE(range_start_, 0) << "no free port range";
  }
  void TearDown() override {
    // A failed test SIGKILLs the controller; its children then get SIGTERM (their
    // parent-death signal) and drain, so give them time.
    EXPECT_TRUE(wait_until([this] { return pgrep(dir_).empty(); }, seconds(30)))
        << "processes left running:\n"
        << pgrep(dir_);
    std::system(("rm -rf '" + dir_ + "'").c_str());
  }

  // The balancer's scaling is held off unless `balancer_extra` says otherwise, so that the
  // hand-made ScaleRequests are the only ones.
  std::string write_config(const std::string& controller_extra, uint32_t clients = 2,
                           const std::string& balancer_extra = kNoAutoScaling) const {
    const std::string path = dir_ + "/config.json";
    std::ofstream(path) << R"({"server": {"count": "1", "port_range_start": ")" << range_start_
                        << R"(", "port_range_end": ")" << range_start_ + kPortRangeSize - 1
                        << R"(", "start_id": "0"}, "client": {"count": )" << clients
                        << R"(, "start_id": 1000}, "load_balancer": {"server_side_port": )"
                        << server_side_port_ << ", \"client_side_port\": " << client_side_port_
                        << R"(, "workers": 1, "admin_port": )" << admin_port_ << balancer_extra
                        << R"(}, "controller": {"port": )" << controller_port_ << controller_extra
                        << "}}";
    return path;
  }

  std::vector<std::string> command(const std::string& config,
                                   const std::vector<std::string>& extra = {}) const {
    std::vector<std::string> argv = {std::string(SHORTLINE_BIN_DIR) + "/shortline-controller",
                                     "--config",
                                     config,
                                     "--log-dir",
                                     dir_ + "/logs",
                                     "--bin-dir",
                                     SHORTLINE_BIN_DIR};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return argv;
  }

  std::string dir_;
  uint16_t controller_port_ = 0;
  uint16_t server_side_port_ = 0;
  uint16_t client_side_port_ = 0;
  uint16_t admin_port_ = 0;
  uint16_t range_start_ = 0;
};

// Sends a ScaleRequest and waits for the reply with its sequence, resending once a second
// as the balancer does.
std::optional<wire::ScaleReply> scale(Client& socket, uint16_t controller_port,
                                      wire::ScaleAction action, uint64_t sequence,
                                      uint32_t server_id = 0) {
  wire::ScaleRequest request;
  request.action = action;
  request.server_id = server_id;
  request.reason = wire::ScaleReason::operator_request;
  request.sequence = sequence;
  std::array<uint8_t, wire::kControlMessageBytesMax> out{};
  const std::size_t size = wire::encode(request, out);
  const std::string payload(reinterpret_cast<const char*>(out.data()), size);
  const auto to = *NetAddress::parse("127.0.0.1:" + std::to_string(controller_port));
  for (int attempt = 0; attempt < 20; ++attempt) {
    socket.send(to, payload);
    while (const auto datagram = socket.receive(milliseconds(1000))) {
      const auto decoded = wire::decode(
          {reinterpret_cast<const uint8_t*>(datagram->payload.data()), datagram->payload.size()});
      const auto* reply = std::get_if<wire::ScaleReply>(&decoded.message);
      if (decoded.ok() && reply != nullptr && reply->sequence == sequence) return *reply;
    }
  }
  return std::nullopt;
}

// Sends ClientRequests to `server` until one is answered; returns the answering server's id.
std::optional<uint32_t> answered_by(const NetAddress& server) {
  Client client("127.0.0.1");
  for (uint64_t request_id = 1; request_id <= 100; ++request_id) {
    wire::ClientRequest request;
    request.client_id = 7;
    request.request_id = request_id;
    std::array<uint8_t, 64> out{};
    const std::size_t size = wire::encode(request, out);
    client.send(server, std::string(reinterpret_cast<const char*>(out.data()), size));
    while (const auto datagram = client.receive(milliseconds(200))) {
      const auto decoded = wire::decode(
          {reinterpret_cast<const uint8_t*>(datagram->payload.data()), datagram->payload.size()});
      const auto* response = std::get_if<wire::ClientResponse>(&decoded.message);
      if (decoded.ok() && response != nullptr && response->request_id == request_id)
        return response->server_id;
    }
  }
  return std::nullopt;
}

}  // namespace

TEST_F(ControllerTest, AddRetryRemoveAndLimits) {
  ChildProcess controller(command(write_config("")));
  ASSERT_TRUE(controller.wait_for_line("listening for ScaleRequests", seconds(30)))
      << controller.output();
  Client socket("127.0.0.1");

  // ADD: a reply with the same sequence, and a new server that answers requests.
  const auto added = scale(socket, controller_port_, wire::ScaleAction::add, 11);
  ASSERT_TRUE(added.has_value()) << controller.output();
  EXPECT_EQ(added->result, wire::ScaleResult::ok);
  EXPECT_EQ(added->server_id, 1u);
  EXPECT_GE(added->address.port(), range_start_);
  EXPECT_LT(added->address.port(), range_start_ + kPortRangeSize);
  const pid_t server1 = pid_in(controller.wait_for_line("added server 1 on"));
  EXPECT_GT(server1, 0);
  EXPECT_EQ(answered_by(added->address), 1u);

  // A retry of sequence 11 is answered alike and starts nothing: the next ADD gets id 2.
  const auto retried = scale(socket, controller_port_, wire::ScaleAction::add, 11);
  ASSERT_TRUE(retried.has_value());
  EXPECT_EQ(retried->server_id, 1u);
  EXPECT_EQ(retried->address, added->address);
  const auto second = scale(socket, controller_port_, wire::ScaleAction::add, 12);
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->result, wire::ScaleResult::ok);
  EXPECT_EQ(second->server_id, 2u);
  const pid_t server2 = pid_in(controller.wait_for_line("added server 2 on"));
  EXPECT_GT(server2, 0);
  EXPECT_EQ(answered_by(second->address), 2u);  // up, with its SIGTERM handler installed
  // load_balancer.max_servers_running 3: a fourth is refused.
  const auto over = scale(socket, controller_port_, wire::ScaleAction::add, 13);
  ASSERT_TRUE(over.has_value());
  EXPECT_EQ(over->result, wire::ScaleResult::at_limit);

  // REMOVE: the server drains and exits, and the controller reaps it.
  const auto removed = scale(socket, controller_port_, wire::ScaleAction::remove, 14, 2);
  ASSERT_TRUE(removed.has_value());
  EXPECT_EQ(removed->result, wire::ScaleResult::ok);
  EXPECT_EQ(removed->server_id, 2u);
  ASSERT_TRUE(controller.wait_for_line("server 2 exited after its stop (exit 0)"))
      << controller.output();
  EXPECT_TRUE(wait_until([&] { return process_gone(server2); }));
  const auto unknown = scale(socket, controller_port_, wire::ScaleAction::remove, 15, 99);
  ASSERT_TRUE(unknown.has_value());
  EXPECT_EQ(unknown->result, wire::ScaleResult::unknown_server);

  // load_balancer.min_servers 1: removing one of two works, the last one is refused.
  const auto remove1 = scale(socket, controller_port_, wire::ScaleAction::remove, 16, 1);
  ASSERT_TRUE(remove1.has_value());
  EXPECT_EQ(remove1->result, wire::ScaleResult::ok);
  const auto remove0 = scale(socket, controller_port_, wire::ScaleAction::remove, 17, 0);
  ASSERT_TRUE(remove0.has_value());
  EXPECT_EQ(remove0->result, wire::ScaleResult::at_limit);

  controller.signal(SIGTERM);
  EXPECT_EQ(controller.wait_exit(seconds(40)), 0) << controller.output();
  for (const pid_t pid : {server1, server2}) EXPECT_TRUE(process_gone(pid)) << pid;
}

TEST_F(ControllerTest, KilledServerAndBalancerAreRestartedAndSigtermStopsEveryChild) {
  ChildProcess controller(command(write_config(R"(, "restart_backoff_ms": 50)")));
  const pid_t balancer = pid_in(controller.wait_for_line("started shortline-lb", seconds(30)));
  const pid_t server0 = pid_in(controller.wait_for_line("started server 0 on", seconds(30)));
  ASSERT_GT(server0, 0) << controller.output();
  ASSERT_GT(balancer, 0) << controller.output();
  ASSERT_TRUE(controller.wait_for_line("listening for ScaleRequests", seconds(30)))
      << controller.output();
  const auto server0_address =
      *NetAddress::parse("127.0.0.1:" + std::to_string(range_start_));  // the first port
  EXPECT_EQ(answered_by(server0_address), 0u);

  // SIGKILL a server: the controller restarts it under the same id, and it answers again.
  ASSERT_EQ(kill(server0, SIGKILL), 0);
  ASSERT_TRUE(controller.wait_for_line("server 0 crashed")) << controller.output();
  const pid_t restarted = pid_in(controller.wait_for_line("restarted server 0 on"));
  ASSERT_GT(restarted, 0) << controller.output();
  EXPECT_NE(restarted, server0);
  EXPECT_EQ(answered_by(server0_address), 0u);

  // SIGKILL the balancer: restarted too.
  ASSERT_EQ(kill(balancer, SIGKILL), 0);
  ASSERT_TRUE(controller.wait_for_line("shortline-lb crashed")) << controller.output();
  const pid_t balancer2 = pid_in(controller.wait_for_line("started shortline-lb"));
  ASSERT_GT(balancer2, 0) << controller.output();

  // SIGTERM: every child stops, the controller exits 0.
  controller.signal(SIGTERM);
  EXPECT_EQ(controller.wait_exit(seconds(40)), 0) << controller.output();
  for (const pid_t pid : {server0, restarted, balancer, balancer2})
    EXPECT_TRUE(process_gone(pid)) << pid;
  EXPECT_NE(controller.output().find("every child stopped"), std::string::npos)
      << controller.output();
}

TEST_F(ControllerTest, BadConfigExitsTwoWithTheLoadersMessage) {
  {
    ChildProcess controller(command(write_config(R"(, "stop_timeout_ms": 0)")));
    EXPECT_EQ(controller.wait_exit(), 2);
    EXPECT_NE(controller.output().find("config: controller.stop_timeout_ms: 0"), std::string::npos)
        << controller.output();
  }
  {
    ChildProcess controller(command(write_config(R"(, "server_command": "srv {prot}")")));
    EXPECT_EQ(controller.wait_exit(), 2);
    EXPECT_NE(controller.output().find("unknown placeholder {prot}"), std::string::npos)
        << controller.output();
  }
  ChildProcess no_file(command(dir_ + "/missing.json"));
  EXPECT_EQ(no_file.wait_exit(), 2);
  EXPECT_NE(no_file.output().find("cannot read"), std::string::npos) << no_file.output();
}

TEST_F(ControllerTest, ServerThatCannotStartFailsTheStart) {
  ChildProcess controller(
      command(write_config(R"(, "server_command": "{bin_dir}/no-such-server {port}")")));
  EXPECT_EQ(controller.wait_exit(seconds(40)), 1);
  EXPECT_NE(controller.output().find("no-such-server"), std::string::npos) << controller.output();
}

TEST_F(ControllerTest, DemoRunsForItsDurationAndLeavesNothingRunning) {
  ChildProcess controller(
      command(write_config(R"(, "server_service_ms": 2)", 2), {"--demo", "--duration", "5"}));
  EXPECT_EQ(controller.wait_exit(seconds(60)), 0) << controller.output();
  const std::string& output = controller.output();
  EXPECT_NE(output.find("server count, one column a second"), std::string::npos) << output;
  EXPECT_NE(output.find("summary after"), std::string::npos) << output;
  EXPECT_NE(output.find("clients: 2 of 2 reported"), std::string::npos) << output;
}

TEST_F(ControllerTest, LoadAboveThresholdAddsAServerThatTakesTrafficAndIdleRemovesIt) {
  // One server serves about 100 requests/s (10 ms each); 250/s keeps its queue above
  // 0.9 x threshold, so the balancer asks for more; once the load stops, servers sit idle
  // and the balancer asks to remove them again, down to min_servers.
  const std::string config = write_config(R"(, "server_service_ms": 10)", 0,
                                          R"(, "server_scaling_threshold": 5, "min_servers": 1,
      "max_servers_running": 3, "scale_up_hold_ms": 200, "scale_down_idle_ms": 1000,
      "scale_cooldown_ms": 500)");
  ChildProcess controller(command(config));
  ASSERT_TRUE(controller.wait_for_line("listening for ScaleRequests", seconds(30)))
      << controller.output();
  ChildProcess client({std::string(SHORTLINE_BIN_DIR) + "/shortline-client", "--target",
                       "127.0.0.1:" + std::to_string(client_side_port_), "--rate", "250",
                       "--duration", "4", "--timeout-ms", "2000", "--retries", "3", "--id", "1000",
                       "--json", "--log-dir", dir_ + "/logs"});
  ASSERT_TRUE(controller.wait_for_line("added server 1 on", seconds(30))) << controller.output();
  ASSERT_EQ(client.wait_exit(seconds(60)), 0) << client.output();
  // The new server registered with the balancer and answered part of the load.
  EXPECT_GT(number_after(client.output(), "\"1\":"), 0) << client.output();  // in "servers"
  // Idle: the pool shrinks back to one server, each removed one drained and exited.
  ASSERT_TRUE(controller.wait_for_line("pool now 1", seconds(60))) << controller.output();
  ASSERT_TRUE(controller.wait_for_line("exited after its stop (exit 0)", seconds(30)))
      << controller.output();
  controller.signal(SIGTERM);
  EXPECT_EQ(controller.wait_exit(seconds(40)), 0) << controller.output();
}

TEST_F(ControllerTest, WithAKeyOnlySignedScaleRequestsAreExecuted) {
  const std::string key_path = dir_ + "/control.key";
  std::ofstream(key_path) << std::string(64, 'a') << "\n";
  const auto key = wire::AuthKey::from_hex(std::string(64, 'a'));
  ASSERT_TRUE(key.has_value());
  ChildProcess controller(command(write_config(
      "", 2, std::string(kNoAutoScaling) + R"(, "auth_key_file": ")" + key_path + "\"")));
  ASSERT_TRUE(controller.wait_for_line("listening for ScaleRequests", seconds(30)))
      << controller.output();
  Client socket("127.0.0.1");
  const auto to = *NetAddress::parse("127.0.0.1:" + std::to_string(controller_port_));
  wire::ScaleRequest request;
  request.action = wire::ScaleAction::add;
  request.sequence = 21;
  std::array<uint8_t, wire::kControlMessageBytesMax> out{};
  // Unsigned: dropped, never answered (a short wait: the signed one below is answered).
  std::size_t size = wire::encode(request, out);
  socket.send(to, std::string(reinterpret_cast<const char*>(out.data()), size));
  EXPECT_FALSE(socket.receive(milliseconds(500)).has_value());
  // Signed: answered with a signed reply.
  wire::SignOptions sign;
  sign.key = &*key;
  sign.stamp = {77, wire::initial_auth_sequence()};
  size = wire::encode(request, out, sign);
  socket.send(to, std::string(reinterpret_cast<const char*>(out.data()), size));
  const auto datagram = socket.receive(seconds(10));
  ASSERT_TRUE(datagram.has_value());
  wire::DecodeOptions options;
  options.key = &*key;
  const auto decoded = wire::decode(
      {reinterpret_cast<const uint8_t*>(datagram->payload.data()), datagram->payload.size()},
      options);
  ASSERT_TRUE(decoded.ok()) << wire::name(decoded.error);
  EXPECT_TRUE(decoded.authenticated);
  const auto* reply = std::get_if<wire::ScaleReply>(&decoded.message);
  ASSERT_NE(reply, nullptr);
  EXPECT_EQ(reply->sequence, 21u);
  EXPECT_EQ(reply->result, wire::ScaleResult::ok);
  controller.signal(SIGTERM);
  EXPECT_EQ(controller.wait_exit(seconds(40)), 0) << controller.output();
  EXPECT_NE(controller.output().find("bad_tag 1"), std::string::npos) << controller.output();
}

TEST_F(ControllerTest, CtrlCInTheDemoStopsClientsServersAndBalancer) {
  ChildProcess controller(command(write_config("", 3), {"--demo", "--duration", "120"}));
  // Wait until the load runs: the view lists the first client's start among its events.
  ASSERT_TRUE(controller.wait_for_line("started client 1000", seconds(60))) << controller.output();
  controller.signal(SIGINT);
  EXPECT_EQ(controller.wait_exit(seconds(60)), 0) << controller.output();
  EXPECT_NE(controller.output().find("summary after"), std::string::npos) << controller.output();
  // TearDown checks with pgrep that no client, server or balancer is left.
}

// The live view reads the balancer's own /api/status: the admin endpoint's JSON (rendered
// from LbStatus) parses into the rows the table shows.
TEST(ControllerStatusPollerTest, ReadsServersFromTheAdminEndpoint) {
  AdminServer admin;
  const auto error = admin.start(*NetAddress::parse("127.0.0.1:0"), [] {
    LbStatus status;
    ServerStatus server;
    server.id = 4;
    server.address = "127.0.0.1:50004";
    server.state = "up";
    server.reported_queue = 3;
    server.in_flight = 2;
    server.speed = 0.5;
    server.requests = 1234;
    status.servers.push_back(server);
    server.id = 1;
    server.state = "draining";
    status.servers.push_back(server);
    return status;
  });
  ASSERT_EQ(error, "");
  controller::StatusPoller poller(admin.bound_address());
  const auto body = poller.fetch();
  ASSERT_TRUE(body.has_value());
  const auto servers = controller::parse_status_servers(*body);
  ASSERT_TRUE(servers.has_value()) << *body;
  ASSERT_EQ(servers->size(), 2u);
  EXPECT_EQ((*servers)[0].id, 1u);
  EXPECT_EQ((*servers)[0].state, "draining");
  EXPECT_EQ((*servers)[1].id, 4u);
  EXPECT_EQ((*servers)[1].address, "127.0.0.1:50004");
  EXPECT_EQ((*servers)[1].queue, 3);
  EXPECT_EQ((*servers)[1].in_flight, 2);
  EXPECT_DOUBLE_EQ((*servers)[1].speed, 0.5);
  EXPECT_EQ((*servers)[1].requests, 1234);
  admin.stop();
  EXPECT_FALSE(poller.fetch().has_value());  // gone: the view falls back, nothing hangs
}

}  // namespace shortline::testing

namespace shortline::testing {

// Under systemd only the controller, the unit's main process, notifies: READY=1 once the
// balancer and the first server run, STOPPING=1 on SIGTERM. Its children do not see
// NOTIFY_SOCKET (the balancer's own READY=1 would otherwise arrive first).
TEST_F(ControllerTest, NotifiesReadyAndStoppingWhileItsChildrenStayQuiet) {
  NotifySocket manager;
  ASSERT_TRUE(manager.bound()) << manager.path();
  std::optional<ChildProcess> controller;
  {
    const ScopedEnv notify("NOTIFY_SOCKET", manager.path());
    controller.emplace(command(write_config("")));
  }
  const auto ready = manager.receive(30'000);
  ASSERT_TRUE(ready) << controller->output();
  EXPECT_EQ(*ready, "READY=1\nSTATUS=balancer and pool running");
  ASSERT_TRUE(controller->wait_for_line("started server 0 on", seconds(5))) << controller->output();
  controller->signal(SIGTERM);
  const auto stopping = manager.receive(30'000);
  ASSERT_TRUE(stopping) << controller->output();
  EXPECT_EQ(*stopping, "STOPPING=1");
  EXPECT_EQ(controller->wait_exit(seconds(60)), 0) << controller->output();
  EXPECT_FALSE(manager.receive(0)) << "a child notified";
}

}  // namespace shortline::testing

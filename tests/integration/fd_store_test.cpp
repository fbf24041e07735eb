// systemd's file descriptor store, played by the test (control/fd_store.h): shortline-lb
// with --fd-store hands its listen and control sockets over NOTIFY_SOCKET (FDSTORE=1); the
// test holds them while no balancer runs, sends requests meanwhile, and starts the next
// balancer with them as LISTEN_FDS, as a restart of the unit would. That one must serve
// the very same port and answer what waited in the queue. A config that asks for other
// sockets drops them from the store (FDSTOREREMOVE=1) and binds anew.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "child_process.h"
#include "dataplane/kernel_probe.h"
#include "notify_socket.h"
#include "udp_test_support.h"

namespace shortline {
namespace {

using namespace std::chrono_literals;
using testing::ChildProcess;
using testing::NotifySocket;
using testing::ScopedEnv;

const std::string kLb = std::string(SHORTLINE_BIN_DIR) + "/shortline-lb";
constexpr int kQueuedRequests = 20;  // sent while no balancer runs
constexpr int kHighFd = 100;          // the stored fds wait above whatever the test opens

std::vector<std::string> lb_args(const std::string& backend, const std::string& workers) {
  return {kLb,        "--listen",  "127.0.0.1:0", "--backend", backend,     "--workers",
          workers,    "--control-port", "0",      "--admin",   "off",       "--fd-store"};
}

std::string after(const std::string& line, const std::string& marker) {
  const auto start = line.find(marker) + marker.size();
  return line.substr(start, line.find_first_of(" /)", start) - start);
}

struct StoredFds {
  std::vector<int> listen;
  std::vector<int> control;
  std::vector<std::string> messages;  // every notification, for failure messages
  ~StoredFds() {
    for (const int fd : listen) close(fd);
    for (const int fd : control) close(fd);
  }
};

// Collects notifications until READY=1 came after both FDSTORE=1 messages (or timeout).
void collect_store(const NotifySocket& notify, StoredFds& stored) {
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  bool ready = false;
  while (std::chrono::steady_clock::now() < deadline &&
         !(ready && !stored.listen.empty() && !stored.control.empty())) {
    std::vector<int> fds;
    const auto message = notify.receive_with_fds(500, fds);
    if (!message) continue;
    stored.messages.push_back(*message);
    if (message->find("READY=1") != std::string::npos) ready = true;
    auto& into = message->find("FDNAME=shortline-control") != std::string::npos ? stored.control
                                                                                 : stored.listen;
    into.insert(into.end(), fds.begin(), fds.end());
  }
}

std::string joined(const std::vector<std::string>& lines) {
  std::string text;
  for (const auto& line : lines) text.append(line).append("\n---\n");
  return text;
}

// argv started with `fds` at 3, 4, ... as LISTEN_FDS named `names`, and LISTEN_PID its own
// pid: bash (dash takes one-digit fds only) moves them into place and execs argv, keeping
// the pid, as systemd would.
std::vector<std::string> with_listen_fds(const std::vector<int>& fds,
                                         const std::vector<std::string>& names,
                                         const std::vector<std::string>& argv) {
  std::string moves, closes, joined_names;
  for (size_t i = 0; i < fds.size(); ++i) {
    const int high = fcntl(fds[i], F_DUPFD, kHighFd + static_cast<int>(i));  // not CLOEXEC
    moves.append(" ").append(std::to_string(3 + i)).append("<&").append(std::to_string(high));
    closes.append(" ").append(std::to_string(high)).append("<&-");
    joined_names.append(i == 0 ? "" : ":").append(names[i]);
  }
  std::vector<std::string> full = {
      "/bin/bash", "-c",
      "exec" + moves + closes + "; LISTEN_PID=$$ LISTEN_FDS=" + std::to_string(fds.size()) +
          " LISTEN_FDNAMES=" + joined_names + " exec \"$@\"",
      "sh"};
  full.insert(full.end(), argv.begin(), argv.end());
  return full;
}

// The fds in the test above kHighFd went to the shell; close the test's copies of them.
void close_high_copies(size_t count) {
  for (size_t i = 0; i < count; ++i) close(kHighFd + static_cast<int>(i));
}

// Each test starts with a first balancer (two workers) that stores its sockets, answers a
// request at target_ and stops on SIGTERM, leaving the sockets with the test.
class FdStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const auto missing = probe_kernel_features(); !missing.empty())
      GTEST_SKIP() << "kernel lacks io_uring features: " << missing;
    ASSERT_TRUE(notify_.bound());
    ChildProcess first(lb_args(echo_.address().to_string(), "2"));
    const auto listening = first.wait_for_line("listening on");
    ASSERT_TRUE(listening) << first.output();
    target_ = *NetAddress::parse(after(*listening, "listening on "));
    collect_store(notify_, stored_);
    ASSERT_EQ(stored_.listen.size(), 2u) << joined(stored_.messages) << first.output();
    ASSERT_EQ(stored_.control.size(), 1u) << joined(stored_.messages) << first.output();
    testing::Client client("127.0.0.1");
    ASSERT_TRUE(client.send(target_, "before"));
    const auto reply = client.receive(10s);
    ASSERT_TRUE(reply && reply->payload == "before") << first.output();
    first.signal(SIGTERM);
    ASSERT_EQ(first.wait_exit(30s), 0) << first.output();
  }

  // The next balancer, started with the stored sockets as LISTEN_FDS.
  std::unique_ptr<ChildProcess> restart(const std::string& workers) const {
    const std::vector<int> fds = {stored_.listen[0], stored_.listen[1], stored_.control[0]};
    auto child = std::make_unique<ChildProcess>(
        with_listen_fds(fds, {"shortline-listen", "shortline-listen", "shortline-control"},
                        lb_args(echo_.address().to_string(), workers)));
    close_high_copies(fds.size());
    return child;
  }

  testing::EchoServer echo_{"127.0.0.1"};
  NotifySocket notify_;
  ScopedEnv env_{"NOTIFY_SOCKET", notify_.path()};
  StoredFds stored_;
  NetAddress target_;
};

TEST_F(FdStoreTest, ARestartServesTheStoredSocketsAndWhatWaitedInThem) {
  // No balancer runs: what clients send now waits in the socket the "service manager" holds.
  testing::Client waiting("127.0.0.1");
  for (int i = 0; i < kQueuedRequests; ++i)
    ASSERT_TRUE(waiting.send(target_, "queued " + std::to_string(i)));
  const auto next = restart("2");
  ChildProcess& second = *next;
  // The log line comes before the start lines.
  EXPECT_TRUE(second.wait_for_line("fd store: serving the 2 listen sockets")) << second.output();
  const auto listening = second.wait_for_line("listening on");
  ASSERT_TRUE(listening) << second.output();
  EXPECT_EQ(after(*listening, "listening on "), target_.to_string()) << second.output();
  int answered = 0;
  for (int i = 0; i < kQueuedRequests; ++i) {
    const auto reply = waiting.receive(10s);
    if (!reply) break;
    if (reply->payload.rfind("queued ", 0) == 0) ++answered;
  }
  EXPECT_EQ(answered, kQueuedRequests) << second.output();
  testing::Client client("127.0.0.1");
  ASSERT_TRUE(client.send(target_, "after"));
  const auto reply = client.receive(10s);
  EXPECT_TRUE(reply && reply->payload == "after") << second.output();
  second.signal(SIGTERM);
  EXPECT_EQ(second.wait_exit(30s), 0) << second.output();
}

TEST_F(FdStoreTest, SocketsTheConfigNoLongerAsksForLeaveTheStore) {
  // One worker now: the two stored listen sockets are not what the config asks for.
  const auto next = restart("1");
  ChildProcess& second = *next;
  EXPECT_TRUE(second.wait_for_line("fd store: not taking 2 listen sockets")) << second.output();
  ASSERT_TRUE(second.wait_for_line("listening on")) << second.output();
  std::vector<std::string> removals;
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (std::chrono::steady_clock::now() < deadline && removals.size() < 2) {
    const auto message = notify_.receive(500);
    if (message && message->find("FDSTOREREMOVE=1") != std::string::npos)
      removals.push_back(*message);
  }
  ASSERT_EQ(removals.size(), 2u) << second.output();
  EXPECT_NE(joined(removals).find("FDNAME=shortline-listen"), std::string::npos);
  EXPECT_NE(joined(removals).find("FDNAME=shortline-control"), std::string::npos);
  second.signal(SIGTERM);
  EXPECT_EQ(second.wait_exit(30s), 0) << second.output();
}

}  // namespace
}  // namespace shortline

// A worker thread that hangs, as a user would meet it: shortline-lb runs two workers, the test
// stops one of its worker threads alone (ptrace interrupt: the rest of the process runs on),
// and /healthz must turn 503 naming that worker, then 200 again once it runs.
#include <sys/ptrace.h>
#include <sys/wait.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "dataplane/kernel_probe.h"
#include "tests/integration/balancer_test_support.h"
#include "tests/integration/child_process.h"
#include "tests/integration/udp_test_support.h"

namespace shortline {
namespace {

using namespace std::chrono_literals;
using testing::ChildProcess;

const std::string kLb = std::string(SHORTLINE_BIN_DIR) + "/shortline-lb";

std::string after(const std::string& line, const std::string& marker) {
  const auto start = line.find(marker) + marker.size();
  return line.substr(start, line.find_first_of(" /\n", start) - start);
}

// The thread of process pid named `name` (its comm), or -1.
pid_t thread_named(pid_t pid, const std::string& name) {
  const std::string tasks = "/proc/" + std::to_string(pid) + "/task";
  std::error_code error;
  for (const auto& task : std::filesystem::directory_iterator(tasks, error)) {
    std::string comm;
    std::getline(std::ifstream(task.path() / "comm"), comm);
    if (comm == name) return static_cast<pid_t>(std::stol(task.path().filename().string()));
  }
  return -1;
}

// Stops one thread of another process until destroyed (or resume()).
class ThreadStop {
 public:
  explicit ThreadStop(pid_t tid) : tid_(tid) {
    if (ptrace(PTRACE_SEIZE, tid_, nullptr, nullptr) != 0) return;
    seized_ = true;
    int status = 0;
    stopped_ = ptrace(PTRACE_INTERRUPT, tid_, nullptr, nullptr) == 0 &&
               waitpid(tid_, &status, __WALL) == tid_ && WIFSTOPPED(status);
  }
  ~ThreadStop() { resume(); }
  ThreadStop(const ThreadStop&) = delete;
  ThreadStop& operator=(const ThreadStop&) = delete;

  [[nodiscard]] bool stopped() const { return stopped_; }
  [[nodiscard]] bool seized() const { return seized_; }
  void resume() {
    if (seized_) (void)ptrace(PTRACE_DETACH, tid_, nullptr, nullptr);
    seized_ = stopped_ = false;
  }

 private:
  pid_t tid_;
  bool seized_ = false;
  bool stopped_ = false;
};

TEST(WorkerStall, HealthzNamesAStoppedWorkerAndRecoversWhenItRuns) {
  if (const auto missing = probe_kernel_features(); !missing.empty())
    GTEST_SKIP() << "kernel lacks io_uring features: " << missing;
  testing::EchoServer echo("127.0.0.1");
  ChildProcess lb({kLb, "--listen", "127.0.0.1:0", "--backend", echo.address().to_string(),
                   "--workers", "2", "--admin", "127.0.0.1:0", "--control-port", "0",
                   "--controller-port", "0", "--max-sessions", "1024"});
  ASSERT_TRUE(lb.wait_for_line("listening on")) << lb.output();
  const auto admin_line = lb.wait_for_line("admin on http://", 10s);
  ASSERT_TRUE(admin_line) << lb.output();
  const NetAddress admin = *NetAddress::parse(after(*admin_line, "admin on http://"));
  HttpResponse health;
  ASSERT_TRUE(testing::wait_until(
      [&] {
        health = http_get_response(admin, "/healthz");
        return health.status == 200;
      },
      20s))
      << health.status << " " << health.body << lb.output();
  pid_t worker = -1;
  ASSERT_TRUE(testing::wait_until(
      [&] { return (worker = thread_named(lb.pid(), "sl-worker-1")) > 0; }, 10s));

  ThreadStop stop(worker);
  if (!stop.seized()) GTEST_SKIP() << "ptrace refused here: " << std::strerror(errno);
  ASSERT_TRUE(stop.stopped());
  EXPECT_TRUE(testing::wait_until(
      [&] {
        health = http_get_response(admin, "/healthz");
        return health.status == 503;
      },
      30s))
      << health.status << " " << health.body;
  EXPECT_NE(health.body.find("worker 1 stalled"), std::string::npos) << health.body;
  EXPECT_NE(http_get(admin, "/metrics").find("shortline_workers_stalled 1"), std::string::npos);

  stop.resume();
  EXPECT_TRUE(testing::wait_until(
      [&] { return http_get_response(admin, "/healthz").status == 200; }, 30s));
  EXPECT_TRUE(lb.wait_for_line("workers: stalled", 10s)) << lb.output();
  EXPECT_TRUE(lb.wait_for_line("every worker takes batches again", 10s)) << lb.output();
  lb.signal(SIGTERM);
  EXPECT_EQ(lb.wait_exit(), 0) << lb.output();
}

}  // namespace
}  // namespace shortline

// Reloads and runtime changes against a running shortline-lb, under steady traffic that is
// never retried: SIGHUP with a changed backend list (the new backend takes traffic, the
// removed one drains, nothing is lost), SIGHUP with a broken file (the old config keeps
// serving, the error is logged), and shortline-ctl's status, drain, undrain, add, remove and
// reload with a missing, a wrong and the right admin token.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <future>

#include "speed_health_test_support.h"

namespace shortline::testing {
namespace {

const std::string kCtlPath = std::string(SHORTLINE_BIN_DIR) + "/shortline-ctl";
constexpr auto kWaitMax = std::chrono::seconds(20);

// Polls `condition` every 20 ms until it holds or kWaitMax passes.
bool eventually(const std::function<bool()>& condition) {
  const auto deadline = SteadyClock::now() + kWaitMax;
  while (SteadyClock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return condition();
}

std::string backends_json(const std::vector<const EchoServer*>& servers) {
  std::string list;
  for (const auto* s : servers)
    list.append(list.empty() ? "" : ", ").append("\"").append(s->address().to_string()).append("\"");
  return std::string("[").append(list).append("]");
}

// Steady traffic in the background: 250 requests/s over 4 sockets, no retries.
struct BackgroundLoad {
  explicit BackgroundLoad(const NetAddress& target, int requests = 2000) {
    LoadPlan plan;
    plan.requests_per_s = 250;
    plan.requests_max = requests;
    plan.reply_wait = std::chrono::milliseconds(3000);
    load = std::make_unique<OpenLoad>("127.0.0.1", target, plan);
    tally = std::async(std::launch::async, [this] { return load->run(); });
  }
  std::unique_ptr<OpenLoad> load;
  std::future<LoadTally> tally;
};

double control_counter(const Balancer& lb, const std::string& name) {
  const auto status = nlohmann::json::parse(http_get(lb.admin(), "/api/status"), nullptr, false);
  if (status.is_discarded() || !status.contains("control") || !status["control"].contains(name))
    return -1;
  return status["control"][name].get<double>();
}

TEST(ReloadTest, SighupChangesTheBackendsUnderTrafficWithoutLoss) {
  EchoServer a("127.0.0.1"), b("127.0.0.1"), c("127.0.0.1");
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  Balancer lb("reload_backends", "127.0.0.1",
              R"({"workers": 2, "policy": "round-robin", "backends": )" + backends_json({&a, &b}) +
                  "}",
              {});
  ASSERT_EQ(lb.wait_ready(), "");
  BackgroundLoad traffic(lb.listen());
  ASSERT_TRUE(eventually([&] { return a.received() > 50 && b.received() > 50; }));

  lb.rewrite_config(R"({"workers": 2, "policy": "random", "backends": )" +
                    backends_json({&b, &c}) + "}");
  lb.process().signal(SIGHUP);
  const auto line = lb.process().wait_for_line("reload (SIGHUP): ");
  ASSERT_TRUE(line) << lb.child().output();
  EXPECT_NE(line->find("applied policy and backends"), std::string::npos) << *line;
  EXPECT_NE(line->find("1 added, 1 removed (draining)"), std::string::npos) << *line;
  // The removal's event lines may come before or after the reload's own line: ask the
  // status instead of the output.
  ASSERT_TRUE(eventually([&] { return lb.server(a.address()).is_null(); })) << lb.child().output();
  const uint64_t a_at_removal = a.received();
  ASSERT_TRUE(eventually([&] { return c.received() > 50; })) << "the new backend got no traffic";

  const LoadTally tally = traffic.tally.get();
  EXPECT_EQ(tally.sent, 2000);
  EXPECT_EQ(tally.unanswered(), 0) << "requests lost across the reload";
  EXPECT_EQ(tally.wrong, 0);
  EXPECT_EQ(a.received(), a_at_removal) << "the removed backend still got requests";
  EXPECT_EQ(lb.field(c.address(), "state"), "up");
  EXPECT_EQ(control_counter(lb, "reloads"), 1);
  const auto status = nlohmann::json::parse(http_get(lb.admin(), "/api/status"), nullptr, false);
  EXPECT_EQ(status.value("policy", ""), "random") << "the reloaded policy is not the running one";
  EXPECT_EQ(lb.stop(), 0);
}

TEST(ReloadTest, SighupWithABrokenFileKeepsTheRunningConfig) {
  EchoServer a("127.0.0.1"), b("127.0.0.1");
  ASSERT_TRUE(a.ok() && b.ok());
  Balancer lb("reload_broken", "127.0.0.1", R"({"backends": )" + backends_json({&a, &b}) + "}", {});
  ASSERT_EQ(lb.wait_ready(), "");
  BackgroundLoad traffic(lb.listen(), 1000);
  ASSERT_TRUE(eventually([&] { return a.received() + b.received() > 20; }));
  lb.rewrite_config_raw(R"({"load_balancer": {"backends": [)");
  lb.process().signal(SIGHUP);
  const auto line = lb.process().wait_for_line("reload (SIGHUP): ");
  ASSERT_TRUE(line) << lb.child().output();
  EXPECT_NE(line->find("rejected, the running configuration stays: config: invalid JSON"),
            std::string::npos)
      << *line;
  lb.rewrite_config(R"({"backends": [], "max_sessions": 0})");  // loads? no: out of range
  lb.process().signal(SIGHUP);
  const auto second = lb.process().wait_for_line("reload (SIGHUP): ");
  ASSERT_TRUE(second) << lb.child().output();
  EXPECT_NE(second->find("rejected"), std::string::npos) << *second;
  EXPECT_NE(second->find("max_sessions"), std::string::npos) << *second;

  const LoadTally tally = traffic.tally.get();
  EXPECT_EQ(tally.unanswered(), 0);
  EXPECT_GE(a.received() + b.received(), 1000u) << "the backends kept serving";
  EXPECT_EQ(control_counter(lb, "reloads_rejected"), 2);
  EXPECT_EQ(control_counter(lb, "reloads"), 0);
  EXPECT_EQ(lb.stop(), 0);
}

struct CtlRun {
  int status = -1;
  std::string output;  // stdout and stderr together
};

CtlRun run_ctl(const NetAddress& admin, const std::vector<std::string>& args,
               const std::string& token_file = "") {
  std::string command = kCtlPath + " --admin " + admin.to_string();
  if (!token_file.empty()) command += " --token-file " + token_file;
  for (const auto& arg : args) command.append(" '").append(arg).append("'");
  command += " 2>&1";
  CtlRun run;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return run;
  char buffer[4096];
  for (size_t n; (n = fread(buffer, 1, sizeof(buffer), pipe)) > 0;) run.output.append(buffer, n);
  const int status = pclose(pipe);
  run.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return run;
}

std::string write_file(const std::string& name, const std::string& text) {
  const std::string path = ::testing::TempDir() + "/" + name + "_" + std::to_string(getpid());
  std::ofstream(path) << text << "\n";
  return path;
}

TEST(ReloadTest, CtlChangesTheRunningBalancerOnlyWithTheToken) {
  EchoServer a("127.0.0.1"), b("127.0.0.1"), c("127.0.0.1");
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  const std::string token = write_file("admin_token", "0123456789abcdef-good-token");
  const std::string wrong = write_file("admin_token_wrong", "0123456789abcdef-bad-token");
  Balancer lb("reload_ctl", "127.0.0.1",
              std::string(R"({"backends": )")
                  .append(backends_json({&a, &b}))
                  .append(R"(, "admin_token_file": ")")
                  .append(token)
                  .append("\"}"),
              {});
  ASSERT_EQ(lb.wait_ready(), "");

  const CtlRun status = run_ctl(lb.admin(), {"status"});
  EXPECT_EQ(status.status, 0) << status.output;
  EXPECT_NE(status.output.find("queue  state"), std::string::npos) << status.output;
  EXPECT_NE(status.output.find(a.address().to_string()), std::string::npos) << status.output;
  EXPECT_NE(status.output.find(b.address().to_string()), std::string::npos) << status.output;

  const CtlRun missing = run_ctl(lb.admin(), {"drain", a.address().to_string()});
  EXPECT_EQ(missing.status, 1) << missing.output;
  EXPECT_NE(missing.output.find("Authorization: Bearer"), std::string::npos) << missing.output;
  const CtlRun bad = run_ctl(lb.admin(), {"drain", a.address().to_string()}, wrong);
  EXPECT_EQ(bad.status, 1) << bad.output;
  EXPECT_NE(bad.output.find("wrong admin token"), std::string::npos) << bad.output;
  EXPECT_EQ(lb.field(a.address(), "state"), "up") << "a refused change changed something";

  const CtlRun drain = run_ctl(lb.admin(), {"drain", a.address().to_string()}, token);
  EXPECT_EQ(drain.status, 0) << drain.output;
  EXPECT_NE(drain.output.find("drained"), std::string::npos) << drain.output;
  EXPECT_EQ(lb.field(a.address(), "state"), "draining");
  {
    const uint64_t a_before = a.received();
    BackgroundLoad traffic(lb.listen(), 300);
    const LoadTally tally = traffic.tally.get();
    EXPECT_EQ(tally.unanswered(), 0);
    EXPECT_EQ(a.received(), a_before) << "a drained server got new requests";
  }
  const CtlRun undrain = run_ctl(lb.admin(), {"undrain", a.address().to_string()}, token);
  EXPECT_EQ(undrain.status, 0) << undrain.output;
  EXPECT_EQ(lb.field(a.address(), "state"), "up");

  const CtlRun add = run_ctl(lb.admin(), {"add", c.address().to_string(), "3"}, token);
  EXPECT_EQ(add.status, 0) << add.output;
  // A configured weight other than 1 is kept (scaled against the heaviest): no learning.
  EXPECT_TRUE(eventually([&] { return lb.field(c.address(), "speed_source") == "configured"; }));
  {
    BackgroundLoad traffic(lb.listen(), 600);
    EXPECT_EQ(traffic.tally.get().unanswered(), 0);
    EXPECT_GT(c.received(), 0u) << "the added backend got no traffic";
  }
  const CtlRun remove = run_ctl(lb.admin(), {"remove", c.address().to_string()}, token);
  EXPECT_EQ(remove.status, 0) << remove.output;
  EXPECT_TRUE(eventually([&] { return lb.server(c.address()).is_null(); }));
  const CtlRun unknown = run_ctl(lb.admin(), {"remove", c.address().to_string()}, token);
  EXPECT_EQ(unknown.status, 1) << unknown.output;
  EXPECT_NE(unknown.output.find("no static backend"), std::string::npos) << unknown.output;

  const CtlRun reload = run_ctl(lb.admin(), {"reload"}, token);
  EXPECT_EQ(reload.status, 0) << reload.output << lb.child().output();
  EXPECT_NE(reload.output.find("reload (admin): no live setting changed"), std::string::npos)
      << reload.output;
  const CtlRun usage = run_ctl(lb.admin(), {"drain"}, token);
  EXPECT_EQ(usage.status, 2) << usage.output;
  EXPECT_EQ(lb.stop(), 0) << lb.child().output();
  std::remove(token.c_str());
  std::remove(wrong.c_str());
}

// The check a routing daemon runs: 0 while a server is UP, 1 and the reason when none is,
// non-zero once the balancer has stopped (its admin endpoint closes first).
TEST(ReloadTest, CtlHealthFollowsTheServersAndTheBalancer) {
  EchoServer a("127.0.0.1"), b("127.0.0.1");
  ASSERT_TRUE(a.ok() && b.ok());
  Balancer lb("reload_health", "127.0.0.1",
              std::string(R"({"backends": )").append(backends_json({&a, &b})).append("}"), {});
  ASSERT_EQ(lb.wait_ready(), "");
  const CtlRun healthy = run_ctl(lb.admin(), {"health"});
  EXPECT_EQ(healthy.status, 0) << healthy.output;
  EXPECT_EQ(healthy.output, "ok\n");
  for (const EchoServer* server : {&a, &b})  // loopback without a token: accepted
    EXPECT_EQ(run_ctl(lb.admin(), {"drain", server->address().to_string()}).status, 0);
  const CtlRun drained = run_ctl(lb.admin(), {"health"});
  EXPECT_EQ(drained.status, 1) << drained.output;
  EXPECT_NE(drained.output.find("not healthy (HTTP 503): no server up (2 servers: 2 draining)"),
            std::string::npos)
      << drained.output;
  EXPECT_EQ(run_ctl(lb.admin(), {"undrain", a.address().to_string()}).status, 0);
  EXPECT_EQ(run_ctl(lb.admin(), {"health"}).status, 0);
  const NetAddress admin = lb.admin();
  EXPECT_EQ(lb.stop(), 0);
  const CtlRun stopped = run_ctl(admin, {"health"});
  EXPECT_EQ(stopped.status, 3) << stopped.output;
}

TEST(ReloadTest, CtlSaysWhenTheBalancerIsUnreachable) {
  const CtlRun run = run_ctl(*NetAddress::parse("127.0.0.1:1"), {"status"});
  EXPECT_EQ(run.status, 3) << run.output;
  EXPECT_NE(run.output.find("cannot reach the admin endpoint at 127.0.0.1:1"), std::string::npos)
      << run.output;
}

}  // namespace
}  // namespace shortline::testing

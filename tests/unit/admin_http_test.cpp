// Tests of the admin HTTP endpoint over a real loopback socket (label: integration): the
// routes with a fixed status, the history sampler, 404, a provider that throws, port 0, a
// port in use, IPv6 and stop.
#include "control/admin_http.h"
#include "control/lb_health.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <optional>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace shortline {
namespace {

constexpr time_t kClientTimeoutS = 5;  // a bound, not an expectation of speed

LbStatus fixed_status() {
  LbStatus status;
  status.uptime_ms = 12'345;
  status.listen_address = "127.0.0.1:54001";
  status.workers = 2;
  status.policy = "shortest-queue";
  status.affinity = "packet";
  ServerStatus fast;
  fast.id = 7;
  fast.address = "127.0.0.1:50007";
  fast.state = "up";
  fast.reported_queue = 3;
  fast.report_age_ms = 2.5;
  fast.in_flight = 4;
  fast.load = 5;
  fast.requests = 1000;
  fast.replies = 996;
  ServerStatus slow = fast;
  slow.id = 8;
  slow.address = "127.0.0.1:50008";
  slow.state = "draining";
  slow.speed = 0.25;
  slow.requests = 250;
  status.servers = {fast, slow};
  status.dataplane.values[static_cast<size_t>(Counter::requests_received)] = 1250;
  status.dataplane.values[static_cast<size_t>(Counter::drop_no_server)] = 3;
  status.dataplane.sessions_open = 2;
  status.control = {{"reports_accepted", 40}, {"reports_rejected_bad_tag", 1}};
  return status;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream stream(text);
  for (std::string line; std::getline(stream, line);) lines.push_back(line);
  return lines;
}

bool has_line(const std::string& text, const std::string& prefix, const std::string& part = "") {
  for (const auto& line : lines_of(text))
    if (line.starts_with(prefix) && line.find(part) != std::string::npos) return true;
  return false;
}

class AdminHttpTest : public testing::Test {
 protected:
  // Without history unless asked: the sampler's own calls would blur the counts of calls_.
  void start(const char* address_text = "127.0.0.1:0",
             std::optional<HistoryLimits> history = std::nullopt, AdminActions actions = {}) {
    const auto address = NetAddress::parse(address_text);
    ASSERT_TRUE(address.has_value());
    const std::string error = server_.start(
        *address,
        [this] {
          ++calls_;
          if (fail_) throw std::runtime_error("control thread gone");
          LbStatus status = fixed_status();
          if (servers_down_)
            for (auto& server : status.servers) server.state = "down";
          return status;
        },
        std::move(actions), history);
    ASSERT_EQ(error, "");
    ASSERT_NE(server_.bound_address().port(), 0);
  }

  httplib::Result get(const std::string& path) {
    httplib::Client client(host_of(server_.bound_address()), server_.bound_address().port());
    client.set_connection_timeout(kClientTimeoutS);
    client.set_read_timeout(kClientTimeoutS);
    return client.Get(path);
  }

  httplib::Result post(const std::string& path, const std::string& token = "") {
    httplib::Client client(host_of(server_.bound_address()), server_.bound_address().port());
    client.set_connection_timeout(kClientTimeoutS);
    client.set_read_timeout(kClientTimeoutS);
    if (!token.empty()) client.set_bearer_token_auth(token);
    return client.Post(path, "", "text/plain");
  }
  // Actions that record what they were asked and answer ok.
  AdminActions recording_actions(std::string token = "") {
    AdminActions a;
    a.token = std::move(token);
    a.drain = [this](std::string_view s) { return record("drain " + std::string(s)); };
    a.undrain = [this](std::string_view s) { return record("undrain " + std::string(s)); };
    a.add_backend = [this](std::string_view s, uint32_t w) {
      return record("add " + std::string(s) + " " + std::to_string(w));
    };
    a.remove_backend = [this](std::string_view s) { return record("remove " + std::string(s)); };
    a.reload = [this] { return record("reload"); };
    return a;
  }
  AdminAnswer record(std::string what) {
    const std::scoped_lock lock(actions_mutex_);
    actions_.push_back(what);
    return {200, "did " + what};
  }
  std::vector<std::string> actions() {
    const std::scoped_lock lock(actions_mutex_);
    return actions_;
  }
  static std::string host_of(const NetAddress& address) {
    return address.family() == AF_INET6 ? "::1" : "127.0.0.1";
  }

  AdminServer server_;
  std::atomic<int> calls_{0};
  std::atomic<bool> fail_{false};
  std::atomic<bool> servers_down_{false};  // every server of fixed_status() DOWN
  std::mutex actions_mutex_;
  std::vector<std::string> actions_;
};

TEST_F(AdminHttpTest, StatusIsJsonWithTheServers) {
  start();
  const auto result = get("/api/status");
  ASSERT_TRUE(result) << httplib::to_string(result.error());
  EXPECT_EQ(result->status, 200);
  EXPECT_EQ(result->get_header_value("Content-Type"), "application/json");
  const auto json = nlohmann::json::parse(result->body, nullptr, false);
  ASSERT_FALSE(json.is_discarded()) << result->body;
  ASSERT_TRUE(json.contains("servers"));
  ASSERT_EQ(json["servers"].size(), 2u);
  EXPECT_EQ(json["servers"][0]["id"], 7);
  EXPECT_EQ(json["servers"][1]["id"], 8);
  EXPECT_EQ(json["servers"][1]["state"], "draining");
  EXPECT_EQ(json["uptime_ms"], 12'345);
  EXPECT_EQ(calls_.load(), 1);
}

TEST_F(AdminHttpTest, MetricsArePrometheusText) {
  start();
  const auto result = get("/metrics");
  ASSERT_TRUE(result) << httplib::to_string(result.error());
  EXPECT_EQ(result->status, 200);
  EXPECT_EQ(result->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  const std::string& body = result->body;
  EXPECT_TRUE(has_line(body, "# HELP shortline_")) << body;
  EXPECT_TRUE(has_line(body, "# TYPE shortline_", " counter")) << body;
  EXPECT_TRUE(has_line(body, "# TYPE shortline_", " gauge")) << body;
  // A data-plane counter with its value, and per-server gauges labelled by server.
  EXPECT_TRUE(has_line(body, "shortline_", " 1250")) << body;
  EXPECT_TRUE(has_line(body, "shortline_", "\"127.0.0.1:50007\"")) << body;
  EXPECT_TRUE(has_line(body, "shortline_", "\"127.0.0.1:50008\"")) << body;
  for (const auto& line : lines_of(body)) {  // every sample line is NAME{...} VALUE
    if (line.empty() || line.starts_with("#")) continue;
    EXPECT_TRUE(line.starts_with("shortline_")) << line;
    EXPECT_NE(line.rfind(' '), std::string::npos) << line;
  }
}

TEST_F(AdminHttpTest, PageIsSelfContainedHtmlThatPollsTheStatus) {
  start();
  const auto result = get("/");
  ASSERT_TRUE(result) << httplib::to_string(result.error());
  EXPECT_EQ(result->status, 200);
  EXPECT_EQ(result->get_header_value("Content-Type"), "text/html; charset=utf-8");
  const std::string& body = result->body;
  EXPECT_TRUE(body.starts_with("<!doctype html>"));
  EXPECT_NE(body.find("/api/status"), std::string::npos);
  EXPECT_NE(body.find("/api/history"), std::string::npos);
  EXPECT_NE(body.find("<svg"), std::string::npos);
  EXPECT_EQ(body.find("src=\"http"), std::string::npos) << "no external assets";
  EXPECT_EQ(body.find("href=\"http"), std::string::npos) << "no external assets";
  EXPECT_EQ(calls_.load(), 0) << "the page itself needs no status";
}

TEST_F(AdminHttpTest, HistoryIsSampledThroughTheProviderAndServedAsArrays) {
  start("127.0.0.1:0", HistoryLimits{900, 64, 20});  // 20 ms: samples come quickly
  nlohmann::json json;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {  // a bound, not a speed check
    const auto result = get("/api/history");
    ASSERT_TRUE(result) << httplib::to_string(result.error());
    ASSERT_EQ(result->status, 200);
    EXPECT_EQ(result->get_header_value("Content-Type"), "application/json");
    json = nlohmann::json::parse(result->body, nullptr, false);
    ASSERT_FALSE(json.is_discarded()) << result->body;
    if (json["time_unix_ms"].size() >= 3) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const auto samples = json["time_unix_ms"].size();
  ASSERT_GE(samples, 3u) << json.dump();
  EXPECT_EQ(json["interval_ms"], 20);
  for (const char* series : {"requests_per_s", "reply_p99_ms", "servers_up", "servers_total",
                             "load_total"})
    EXPECT_EQ(json[series].size(), samples) << series;
  EXPECT_EQ(json["servers_up"][0], 1) << "7 is up, 8 draining";
  EXPECT_EQ(json["servers_total"][0], 2);
  ASSERT_EQ(json["servers"].size(), 2u);
  EXPECT_EQ(json["servers"][0]["id"], 7);
  EXPECT_EQ(json["servers"][0]["address"], "127.0.0.1:50007");
  EXPECT_EQ(json["servers"][0]["load"][0], 5);
  // ?since= skips what the page has; a malformed value asks for everything.
  const auto last = json["time_unix_ms"][samples - 1].get<int64_t>();
  const auto newer = nlohmann::json::parse(get("/api/history?since=" + std::to_string(last))->body);
  for (const auto& t : newer["time_unix_ms"]) EXPECT_GT(t.get<int64_t>(), last);
  const auto all = nlohmann::json::parse(get("/api/history?since=x")->body);
  EXPECT_GE(all["time_unix_ms"].size(), samples);
}

TEST_F(AdminHttpTest, WithoutHistoryTheRouteAnswersEmptyAndTheProviderIsNotCalled) {
  start();
  const auto result = get("/api/history");
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 200);
  const auto json = nlohmann::json::parse(result->body);
  EXPECT_TRUE(json["time_unix_ms"].empty());
  EXPECT_EQ(calls_.load(), 0);
}

TEST_F(AdminHttpTest, ActionsFromLoopbackWithoutATokenAreAccepted) {
  start("127.0.0.1:0", std::nullopt, recording_actions());
  const auto drain = post("/api/servers/drain?server=127.0.0.1%3A9000");
  ASSERT_TRUE(drain);
  EXPECT_EQ(drain->status, 200);
  const auto body = nlohmann::json::parse(drain->body);
  EXPECT_EQ(body["ok"], true);
  EXPECT_EQ(body["message"], "did drain 127.0.0.1:9000");
  ASSERT_TRUE(post("/api/backends?address=127.0.0.1%3A9001&weight=7"));
  ASSERT_TRUE(post("/api/backends/remove?address=127.0.0.1%3A9001"));
  ASSERT_TRUE(post("/api/servers/undrain?server=3"));
  ASSERT_TRUE(post("/api/reload"));
  EXPECT_EQ(actions(), (std::vector<std::string>{"drain 127.0.0.1:9000", "add 127.0.0.1:9001 7",
                                                 "remove 127.0.0.1:9001", "undrain 3", "reload"}));
}

TEST_F(AdminHttpTest, ActionsCheckTheirParameters) {
  start("127.0.0.1:0", std::nullopt, recording_actions());
  const auto no_server = post("/api/servers/drain");
  ASSERT_TRUE(no_server);
  EXPECT_EQ(no_server->status, 400);
  EXPECT_NE(no_server->body.find("missing parameter"), std::string::npos);
  const auto bad_weight = post("/api/backends?address=127.0.0.1%3A9001&weight=heavy");
  ASSERT_TRUE(bad_weight);
  EXPECT_EQ(bad_weight->status, 400);
  EXPECT_TRUE(actions().empty());
  const auto get_reload = get("/api/reload");
  ASSERT_TRUE(get_reload);
  EXPECT_NE(get_reload->status, 200) << "a GET never changes anything";
}

TEST_F(AdminHttpTest, WithATokenEveryActionNeedsIt) {
  start("127.0.0.1:0", std::nullopt, recording_actions("0123456789abcdef-token"));
  const auto missing = post("/api/reload");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 401);
  const auto wrong = post("/api/reload", "0123456789abcdef-tokeX");
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 401);
  EXPECT_NE(wrong->body.find("wrong admin token"), std::string::npos);
  EXPECT_TRUE(actions().empty());
  const auto right = post("/api/reload", "0123456789abcdef-token");
  ASSERT_TRUE(right);
  EXPECT_EQ(right->status, 200);
  EXPECT_EQ(actions(), (std::vector<std::string>{"reload"}));
  const auto status = get("/api/status");
  ASSERT_TRUE(status);
  EXPECT_EQ(status->status, 200) << "reads need no token";
}

TEST(AdminTokenTest, LoopbackPeersAndTokenFiles) {
  EXPECT_TRUE(is_loopback_peer("127.0.0.1"));
  EXPECT_TRUE(is_loopback_peer("127.5.6.7"));
  EXPECT_TRUE(is_loopback_peer("::1"));
  EXPECT_TRUE(is_loopback_peer("::ffff:127.0.0.1"));
  EXPECT_FALSE(is_loopback_peer("10.0.0.1"));
  EXPECT_FALSE(is_loopback_peer("::ffff:10.0.0.1"));
  EXPECT_FALSE(is_loopback_peer("1127.0.0.1"));
  const std::string path = ::testing::TempDir() + "/admin_token_test";
  std::string error;
  { std::ofstream(path) << "  short \n"; }
  EXPECT_FALSE(load_admin_token(path, error));
  EXPECT_NE(error.find("shorter than 16"), std::string::npos) << error;
  { std::ofstream(path) << "  0123456789abcdef-token \nsecond line\n"; }
  EXPECT_EQ(load_admin_token(path, error), std::optional<std::string>("0123456789abcdef-token"));
  std::remove(path.c_str());
  EXPECT_FALSE(load_admin_token(path, error));
  EXPECT_NE(error.find("cannot read"), std::string::npos) << error;
}

TEST_F(AdminHttpTest, UnknownPathIs404) {
  start();
  for (const char* path : {"/nope", "/metrics/x", "/api", "/api/status/1"}) {
    const auto result = get(path);
    ASSERT_TRUE(result) << path;
    EXPECT_EQ(result->status, 404) << path;
    EXPECT_NE(result->body.find("not found"), std::string::npos) << path;
  }
  EXPECT_EQ(calls_.load(), 0);
}

TEST(LbHealthTest, HealthyWhileAServerIsUp) {
  LbStatus status = fixed_status();  // one up, one draining
  EXPECT_TRUE(health_verdict(status).healthy);
  EXPECT_EQ(health_verdict(status).reason, "ok");
  status.servers[0].state = "down";
  const HealthVerdict none_up = health_verdict(status);
  EXPECT_FALSE(none_up.healthy);
  EXPECT_EQ(none_up.reason, "no server up (2 servers: 1 down, 1 draining)");
  status.servers.clear();
  EXPECT_EQ(health_verdict(status).reason, "no server up (no servers known)");
  status = fixed_status();
  status.workers = 0;
  EXPECT_EQ(health_verdict(status).reason, "no worker running");
}

TEST(LbHealthTest, AStalledWorkerIsUnhealthyWhateverTheServers) {
  LbStatus status = fixed_status();  // a server is up
  status.workers = 2;
  status.workers_stalled = {1};
  status.worker_stall_ms = 2300;
  const HealthVerdict one = health_verdict(status);
  EXPECT_FALSE(one.healthy);
  EXPECT_EQ(one.reason, "worker 1 stalled (no batch for 2300 ms)");
  status.workers_stalled = {0, 1};
  EXPECT_EQ(health_verdict(status).reason, "workers 0, 1 stalled (no batch for 2300 ms)");
  EXPECT_NE(to_prometheus(status).find("shortline_workers_stalled 2"), std::string::npos);
  EXPECT_NE(to_json(status).find("\"workers_stalled\":[0,1]"), std::string::npos);
}

TEST_F(AdminHttpTest, HealthzIs200WhileAServerIsUpElse503WithTheReason) {
  start();
  const auto up = get("/healthz");
  ASSERT_TRUE(up);
  EXPECT_EQ(up->status, 200);
  EXPECT_EQ(up->body, "ok\n");
  EXPECT_EQ(up->get_header_value("Cache-Control"), "no-store");
  servers_down_ = true;
  const auto down = get("/healthz");
  ASSERT_TRUE(down);
  EXPECT_EQ(down->status, 503);
  EXPECT_EQ(down->body, "no server up (2 servers: 2 down)\n");
  fail_ = true;  // no status at all is not healthy either
  const auto failed = get("/healthz");
  ASSERT_TRUE(failed);
  EXPECT_EQ(failed->status, 500);
}

TEST_F(AdminHttpTest, ProviderFailureIs500) {
  start();
  fail_ = true;
  const auto result = get("/api/status");
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 500);
  EXPECT_NE(result->body.find("control thread gone"), std::string::npos);
}

TEST_F(AdminHttpTest, PortInUseIsAnError) {
  start();
  AdminServer second;
  const std::string error = second.start(server_.bound_address(), [] { return LbStatus{}; });
  EXPECT_NE(error.find("cannot bind"), std::string::npos) << error;
  EXPECT_NE(error.find(server_.bound_address().to_string()), std::string::npos) << error;
}

TEST_F(AdminHttpTest, ServesOverIpv6) {
  AdminServer probe;
  if (!probe.start(*NetAddress::parse("[::1]:0"), [] { return LbStatus{}; }).empty())
    GTEST_SKIP() << "no IPv6 loopback on this host";
  probe.stop();
  start("[::1]:0");
  EXPECT_EQ(server_.bound_address().family(), AF_INET6);
  const auto result = get("/api/status");
  ASSERT_TRUE(result) << httplib::to_string(result.error());
  EXPECT_EQ(result->status, 200);
}

TEST_F(AdminHttpTest, StopClosesThePortAndIsIdempotent) {
  start();
  ASSERT_TRUE(get("/"));
  const NetAddress bound = server_.bound_address();
  server_.stop();
  server_.stop();
  httplib::Client client("127.0.0.1", bound.port());
  client.set_connection_timeout(kClientTimeoutS);
  EXPECT_FALSE(client.Get("/"));
}

}  // namespace
}  // namespace shortline

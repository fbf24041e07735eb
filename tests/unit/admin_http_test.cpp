// Tests of the admin HTTP endpoint over a real loopback socket (label: integration): the
// three routes with a fixed status, 404, a provider that throws, port 0, a port in use,
// IPv6 and stop.
#include "control/admin_http.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <string>
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
  void start(const char* address_text = "127.0.0.1:0") {
    const auto address = NetAddress::parse(address_text);
    ASSERT_TRUE(address.has_value());
    const std::string error = server_.start(*address, [this] {
      ++calls_;
      if (fail_) throw std::runtime_error("control thread gone");
      return fixed_status();
    });
    ASSERT_EQ(error, "");
    ASSERT_NE(server_.bound_address().port(), 0);
  }

  httplib::Result get(const std::string& path) {
    httplib::Client client(host_of(server_.bound_address()), server_.bound_address().port());
    client.set_connection_timeout(kClientTimeoutS);
    client.set_read_timeout(kClientTimeoutS);
    return client.Get(path);
  }

  static std::string host_of(const NetAddress& address) {
    return address.family() == AF_INET6 ? "::1" : "127.0.0.1";
  }

  AdminServer server_;
  std::atomic<int> calls_{0};
  std::atomic<bool> fail_{false};
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
  EXPECT_NE(body.find("<svg"), std::string::npos);
  EXPECT_EQ(body.find("src=\"http"), std::string::npos) << "no external assets";
  EXPECT_EQ(body.find("href=\"http"), std::string::npos) << "no external assets";
  EXPECT_EQ(calls_.load(), 0) << "the page itself needs no status";
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

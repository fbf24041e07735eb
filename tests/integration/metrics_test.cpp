// /metrics as a Prometheus user reads it: the real shortline-lb with three static echo
// backends and two workers takes a known number of requests, and its exposition is parsed
// by the official client's parser (Debian's python3-prometheus-client, run by
// tests/integration/prometheus_parse.py). The counters must add up to the traffic sent,
// the histograms to the replies, and the state and build families must be there.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <variant>

#include "dataplane/kernel_probe.h"
#include "dataplane/worker_stats.h"
#include "speed_health_test_support.h"

namespace shortline {
namespace {

using namespace std::chrono_literals;
using Json = nlohmann::json;

// Runs the parser on `text`; its JSON, or a string (what failed) when it could not.
std::variant<Json, std::string> parse_exposition(const std::string& text) {
  const std::string path = ::testing::TempDir() + "/shortline_metrics_" +
                           std::to_string(getpid()) + ".txt";
  std::ofstream(path) << text;
  const std::string command = "/usr/bin/python3 " + std::string(SHORTLINE_SOURCE_DIR) +
                              "/tests/integration/prometheus_parse.py " + path + " 2>&1";
  std::string output;
  if (FILE* pipe = popen(command.c_str(), "r")) {
    char buffer[65536];
    for (size_t n; (n = fread(buffer, 1, sizeof(buffer), pipe)) > 0;) output.append(buffer, n);
    const int status = pclose(pipe);
    std::remove(path.c_str());
    if (status != 0) return "prometheus_parse.py failed: " + output;
  }
  Json parsed = Json::parse(output, nullptr, false);
  if (parsed.is_discarded()) return "not JSON: " + output;
  return parsed;
}

// Samples by name, from the parser's JSON.
struct Samples {
  explicit Samples(const Json& parsed) {
    for (const auto& family : parsed["families"]) {
      types[family["name"]] = family["type"];
      for (const auto& s : family["samples"]) by_name[s["name"]].push_back(s);
    }
  }
  [[nodiscard]] double sum(const std::string& name, const Json& labels = Json::object()) const {
    double total = 0;
    for (const auto& s : all(name)) {
      bool match = true;
      for (const auto& [key, value] : labels.items()) match = match && s["labels"][key] == value;
      if (match && s["value"].is_number()) total += s["value"].get<double>();
    }
    return total;
  }
  [[nodiscard]] const std::vector<Json>& all(const std::string& name) const {
    static const std::vector<Json> kNone;
    const auto at = by_name.find(name);
    return at == by_name.end() ? kNone : at->second;
  }
  std::map<std::string, std::string> types;
  std::map<std::string, std::vector<Json>> by_name;
};

class MetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const auto missing = probe_kernel_features(); !missing.empty())
      GTEST_SKIP() << "kernel lacks io_uring features: " << missing;
  }
};

TEST_F(MetricsTest, CountersAddUpToTheTrafficAndTheParserAcceptsIt) {
  testing::EchoServer a("127.0.0.1"), b("127.0.0.1"), c("127.0.0.1");
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  testing::Balancer lb("metrics", "127.0.0.1", R"({"policy": "round-robin"})",
                       {"--workers", "2", "--backend",
                        backend_list({a.address(), b.address(), c.address()})});
  ASSERT_EQ(lb.wait_ready(), "");
  testing::LoadPlan plan;
  plan.requests_per_s = 400;
  plan.requests_max = 600;
  plan.run_max = 20s;
  plan.reply_wait = 5s;
  plan.sockets = 16;  // several client ports: both workers get flows
  testing::OpenLoad load("127.0.0.1", lb.listen(), plan);
  const testing::LoadTally tally = load.run();
  ASSERT_EQ(tally.sent, plan.requests_max);
  const double sent = tally.sent;

  // The workers publish their counts once per loop: wait (bounded) until every request
  // and every reply the client saw is counted, then parse that exposition.
  std::optional<Samples> samples;
  std::string last_text;
  const bool settled = testing::wait_until(
      [&] {
        last_text = lb.metrics();
        auto parsed = parse_exposition(last_text);
        if (std::holds_alternative<std::string>(parsed)) {
          ADD_FAILURE() << std::get<std::string>(parsed);
          return true;
        }
        samples.emplace(std::get<Json>(parsed));
        return samples->sum("shortline_server_requests_total") == sent &&
               samples->sum("shortline_server_replies_total") >= tally.answered;
      },
      10s);
  ASSERT_TRUE(settled && samples) << last_text;
  const Samples& m = *samples;

  // Requests: per server, per worker and in total, all equal to what was sent.
  EXPECT_EQ(m.sum("shortline_requests_received_total"), sent);
  EXPECT_EQ(m.sum("shortline_worker_requests_received_total"), sent);
  EXPECT_EQ(m.sum("shortline_drops_total"), 0) << last_text;
  std::size_t reasons = 0;
  for (const auto& info : kCounterInfo) reasons += info.is_drop ? 1 : 0;
  EXPECT_EQ(m.all("shortline_drops_total").size(), reasons);  // one series per named reason
  EXPECT_EQ(m.all("shortline_worker_requests_received_total").size(), 2u);
  EXPECT_GE(m.sum("shortline_worker_batches_total"), 1);
  EXPECT_GE(m.sum("shortline_worker_batch_datagrams_total"),
            m.sum("shortline_worker_batches_total"));
  EXPECT_EQ(m.sum("shortline_worker_batch_datagrams_total"),
            m.sum("shortline_requests_received_total") + m.sum("shortline_replies_received_total"));

  // Histograms: one count per reply, per server and in total; +Inf bucket = count.
  const double replies = m.sum("shortline_server_replies_total");
  EXPECT_GE(replies, tally.answered);
  EXPECT_EQ(m.types.at("shortline_server_reply_latency_seconds"), "histogram");
  EXPECT_EQ(m.types.at("shortline_reply_latency_seconds"), "histogram");
  EXPECT_EQ(m.sum("shortline_server_reply_latency_seconds_count"), replies);
  EXPECT_EQ(m.sum("shortline_reply_latency_seconds_count"), replies);
  EXPECT_EQ(m.sum("shortline_reply_latency_seconds_bucket", {{"le", "+Inf"}}), replies);
  EXPECT_GT(m.sum("shortline_reply_latency_seconds_sum"), 0);
  EXPECT_LT(m.sum("shortline_reply_latency_seconds_sum"), replies * 5.0);

  // Every server: its counter once, its state gauge once per state with exactly one 1,
  // and no state label anywhere else.
  std::set<std::string> servers;
  for (const auto& s : m.all("shortline_server_requests_total")) {
    EXPECT_FALSE(s["labels"].contains("state")) << s;
    servers.insert(s["labels"]["address"].get<std::string>());
    EXPECT_GT(s["value"].get<double>(), 0) << s;  // round robin reached each
  }
  EXPECT_EQ(servers, (std::set<std::string>{a.address().to_string(), b.address().to_string(),
                                            c.address().to_string()}));
  for (const auto& address : servers) {
    EXPECT_EQ(m.sum("shortline_server_state", {{"address", address}}), 1) << address;
    EXPECT_EQ(m.sum("shortline_server_state", {{"address", address}, {"state", "up"}}), 1);
  }
  EXPECT_EQ(m.all("shortline_server_state").size(), 3u * 4u);
  for (const auto& [name, list] : m.by_name) {
    if (name == "shortline_server_state") continue;
    for (const auto& s : list) EXPECT_FALSE(s["labels"].contains("state")) << name;
  }

  // Build info: one series, value 1, naming the version.
  ASSERT_EQ(m.all("shortline_build_info").size(), 1u);
  EXPECT_EQ(m.all("shortline_build_info")[0]["value"], 1.0);
  EXPECT_FALSE(m.all("shortline_build_info")[0]["labels"]["version"].get<std::string>().empty());
  EXPECT_EQ(lb.stop(), 0) << lb.child().output();
}

}  // namespace
}  // namespace shortline

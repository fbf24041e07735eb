// The status renderings: JSON fields as the admin page reads them, and Prometheus text with
// HELP/TYPE per family, escaped label values and one sample line per server.
#include "control/lb_status.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

namespace shortline {
namespace {

LbStatus sample_status() {
  LbStatus status;
  status.uptime_ms = 1500;
  status.listen_address = "127.0.0.1:54001";
  status.workers = 2;
  status.policy = "shortest-queue";
  status.affinity = "packet";
  ServerStatus fast;
  fast.id = 1;
  fast.address = "127.0.0.1:50001";
  fast.state = "up";
  fast.reported_queue = 3;
  fast.report_age_ms = 1.5;
  fast.in_flight = 2;
  fast.load = 3;
  fast.weight = 1000;
  fast.requests = 40;
  ServerStatus odd;
  odd.id = 2;
  odd.address = "a\"b\\c";  // never a real address; checks escaping
  odd.state = "down";
  odd.speed = 0.25;
  status.servers = {fast, odd};
  status.dataplane.values[static_cast<std::size_t>(Counter::requests_received)] = 77;
  status.dataplane.values[static_cast<std::size_t>(Counter::drop_no_server)] = 4;
  StatsTotals worker1;
  worker1.batches = 3;
  worker1.batch_datagrams = 12;
  worker1.sessions_open = 5;
  status.worker_stats = {StatsTotals{}, worker1};
  status.servers[0].reply_latency.counts[1] = 2;  // 2 replies in (50 us, 100 us]
  status.servers[0].reply_latency.counts[4] = 1;  // 1 in (0.5 ms, 1 ms]
  status.servers[0].reply_latency.count = 3;
  status.servers[0].reply_latency.sum_seconds = 0.001;
  status.reply_latency = status.servers[0].reply_latency;
  status.control = {{"reports_accepted", 5}, {"servers_down", 1}};
  status.scaling.last_action = "add";
  status.scaling.last_reason = "queue_high";
  status.scaling.last_action_age_ms = 12;
  return status;
}

TEST(LbStatus, JsonHoldsServersCountersControlAndScaling) {
  const auto json = nlohmann::json::parse(to_json(sample_status()));
  EXPECT_EQ(json["uptime_ms"], 1500);
  EXPECT_EQ(json["policy"], "shortest-queue");
  ASSERT_EQ(json["servers"].size(), 2u);
  EXPECT_EQ(json["servers"][0]["id"], 1);
  EXPECT_EQ(json["servers"][0]["reported_queue"], 3);
  EXPECT_EQ(json["servers"][0]["weight"], 1000);
  EXPECT_EQ(json["servers"][1]["state"], "down");
  EXPECT_EQ(json["servers"][1]["address"], "a\"b\\c");
  EXPECT_DOUBLE_EQ(json["servers"][1]["speed"].get<double>(), 0.25);
  EXPECT_EQ(json["counters"]["requests_received"], 77);
  EXPECT_EQ(json["counters"]["drops_total"], 4);
  EXPECT_EQ(json["control"]["servers_down"], 1);
  EXPECT_EQ(json["scaling"]["last_action"], "add");
  EXPECT_EQ(json["scaling"]["requests_unacknowledged"], 0);
}

TEST(LbStatus, PrometheusFamiliesSamplesAndEscaping) {
  const std::string text = to_prometheus(sample_status());
  EXPECT_NE(text.find("# TYPE shortline_requests_received_total counter\n"
                      "shortline_requests_received_total 77\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("shortline_control_reports_accepted_total 5\n"), std::string::npos);
  EXPECT_NE(text.find("# HELP shortline_control_reports_accepted_total ServerReports accepted\n"),
            std::string::npos);
  EXPECT_NE(text.find("shortline_server_reported_queue{id=\"1\",address=\"127.0.0.1:50001\"} 3\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("address=\"a\\\"b\\\\c\""), std::string::npos) << text;
  EXPECT_NE(text.find("shortline_server_speed{id=\"2\""), std::string::npos);
  EXPECT_NE(text.find("shortline_uptime_seconds 1.5\n"), std::string::npos) << text;
  // Every line is a comment or NAME[{labels}] VALUE, and each family is declared once.
  std::istringstream lines(text);
  std::string line;
  int types = 0;
  int servers_up_types = 0;
  while (std::getline(lines, line)) {
    ASSERT_FALSE(line.empty());
    if (line.starts_with("# TYPE ")) {
      ++types;
      if (line.starts_with("# TYPE shortline_server_up ")) ++servers_up_types;
      continue;
    }
    if (line.starts_with("# HELP ")) continue;
    EXPECT_TRUE(line.starts_with("shortline_")) << line;
    EXPECT_NE(line.rfind(' '), std::string::npos) << line;
  }
  EXPECT_GT(types, 20);
  EXPECT_EQ(servers_up_types, 1);
}

// Families declared in the text, each once, and every sample belonging to one declared
// before it (a histogram's _bucket/_sum/_count to the histogram).
std::vector<std::string> declared_families(const std::string& text) {
  std::vector<std::string> families;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (!line.starts_with("# TYPE ")) continue;
    std::istringstream fields(line.substr(7));
    std::string name;
    fields >> name;
    families.push_back(name);
  }
  return families;
}

TEST(LbStatus, PrometheusFamiliesAreDeclaredOnce) {
  auto families = declared_families(to_prometheus(sample_status()));
  const std::size_t count = families.size();
  std::sort(families.begin(), families.end());
  families.erase(std::unique(families.begin(), families.end()), families.end());
  EXPECT_EQ(families.size(), count);
}

TEST(LbStatus, StateIsAGaugeNeverALabelOnCounters) {
  const std::string text = to_prometheus(sample_status());
  EXPECT_NE(text.find("shortline_server_requests_total{id=\"1\",address=\"127.0.0.1:50001\"} 40\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("# TYPE shortline_server_state gauge\n"), std::string::npos);
  EXPECT_NE(text.find("shortline_server_state{id=\"1\",address=\"127.0.0.1:50001\",state=\"up\"} 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("shortline_server_state{id=\"1\",address=\"127.0.0.1:50001\",state=\"down\"} 0\n"),
            std::string::npos);
  EXPECT_NE(text.find("shortline_server_state{id=\"2\",address=\"a\\\"b\\\\c\",state=\"down\"} 1\n"),
            std::string::npos)
      << text;
  // state= appears only on the state gauge.
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.find("state=\"") == std::string::npos) continue;
    EXPECT_TRUE(line.starts_with("shortline_server_state{")) << line;
  }
}

TEST(LbStatus, BuildInfoDropsByReasonAndWorkers) {
  LbStatus status = sample_status();
  status.version = "1.2.3";
  const std::string text = to_prometheus(status);
  EXPECT_NE(text.find("shortline_build_info{version=\"1.2.3\",compiler=\""), std::string::npos)
      << text;
  EXPECT_FALSE(build_version().empty());
  EXPECT_NE(text.find("# TYPE shortline_drops_total counter\n"), std::string::npos);
  EXPECT_NE(text.find("shortline_drops_total{reason=\"no_server\"} 4\n"), std::string::npos);
  EXPECT_NE(text.find("shortline_drops_total{reason=\"kernel_receive_queue\"} 0\n"),
            std::string::npos);
  EXPECT_EQ(text.find("shortline_drop_no_server_total"), std::string::npos);  // one family
  EXPECT_NE(text.find("shortline_worker_batches_total{worker=\"1\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("shortline_worker_batch_datagrams_total{worker=\"1\"} 12\n"),
            std::string::npos);
  EXPECT_NE(text.find("shortline_worker_sessions_open{worker=\"1\"} 5\n"), std::string::npos);
  EXPECT_NE(text.find("shortline_worker_requests_received_total{worker=\"0\"} 0\n"),
            std::string::npos);
}

TEST(LbStatus, LatencyHistogramsAreCumulativeWithSumAndCount) {
  const std::string text = to_prometheus(sample_status());
  const std::string server = "shortline_server_reply_latency_seconds_bucket{id=\"1\","
                             "address=\"127.0.0.1:50001\",";
  EXPECT_NE(text.find("# TYPE shortline_server_reply_latency_seconds histogram\n"),
            std::string::npos);
  EXPECT_NE(text.find(server + "le=\"0.00005\"} 0\n"), std::string::npos) << text;
  EXPECT_NE(text.find(server + "le=\"0.0001\"} 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find(server + "le=\"0.001\"} 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find(server + "le=\"+Inf\"} 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("shortline_server_reply_latency_seconds_count{id=\"1\","
                      "address=\"127.0.0.1:50001\"} 3\n"),
            std::string::npos);
  EXPECT_NE(text.find("shortline_server_reply_latency_seconds_sum{id=\"1\","
                      "address=\"127.0.0.1:50001\"} 0.001\n"),
            std::string::npos);
  EXPECT_NE(text.find("shortline_reply_latency_seconds_bucket{le=\"+Inf\"} 3\n"),
            std::string::npos);
  EXPECT_NE(text.find("shortline_reply_latency_seconds_count 3\n"), std::string::npos);
  EXPECT_NE(text.find("shortline_server_reply_latency_seconds_count{id=\"2\""),
            std::string::npos);  // an empty one is still there
}

}  // namespace
}  // namespace shortline

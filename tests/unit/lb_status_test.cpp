// The status renderings: JSON fields as the admin page reads them, and Prometheus text with
// HELP/TYPE per family, escaped label values and one sample line per server.
#include "control/lb_status.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

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
  EXPECT_EQ(json["counters"]["drops_total"], 0);
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
  EXPECT_NE(text.find("shortline_server_reported_queue{id=\"1\",address=\"127.0.0.1:50001\","
                      "state=\"up\"} 3\n"),
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

}  // namespace
}  // namespace shortline

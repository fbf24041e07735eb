// What a reload applies and what waits for a restart.
#include "control/config_reload.h"

#include <gtest/gtest.h>

namespace shortline {
namespace {

LoadBalancerConfig parse_lb(std::string_view json) {
  auto result = parse_config(json);
  EXPECT_TRUE(result.config) << result.error;
  return result.config ? result.config->load_balancer : LoadBalancerConfig{};
}

TEST(ConfigReloadTest, EveryLoadBalancerKeyIsCompared) {
  for (const std::string_view key : load_balancer_keys())
    EXPECT_TRUE(reload_compares(key)) << "config_reload.cpp has no rendering of " << key;
}

TEST(ConfigReloadTest, SameConfigChangesNothing) {
  const auto a = parse_lb(R"({"load_balancer": {"backends": ["127.0.0.1:9000"]}})");
  EXPECT_TRUE(compare_for_reload(a, a).empty());
}

TEST(ConfigReloadTest, SplitsLiveKeysFromRestartKeys) {
  const auto before = parse_lb(R"({"load_balancer": {"backends": ["127.0.0.1:9000"]}})");
  const auto after = parse_lb(R"({"load_balancer": {
      "backends": [{"address": "127.0.0.1:9000", "weight": 3}], "policy": "round-robin",
      "request_timeout_ms": 200, "source_requests_per_s": 50, "timeouts_down": 2,
      "server_scaling_threshold": 7, "health_check": {"payload_hex": "00"},
      "workers": 3, "client_side_port": 6000, "max_sessions": 100, "affinity": "flow"}})");
  const ConfigChanges changes = compare_for_reload(before, after);
  const std::vector<std::string> live = {"server_scaling_threshold", "policy", "request_timeout_ms",
                                         "source_requests_per_s", "backends", "timeouts_down",
                                         "health_check"};
  const std::vector<std::string> restart = {"client_side_port", "affinity", "workers",
                                            "max_sessions"};
  EXPECT_EQ(changes.live, live);
  EXPECT_EQ(changes.restart, restart);
}

TEST(ConfigReloadTest, ClassifiesKeys) {
  EXPECT_TRUE(reloads_live("backends"));
  EXPECT_TRUE(reloads_live("session_idle_timeout_ms"));
  EXPECT_FALSE(reloads_live("listen_address"));
  EXPECT_FALSE(reloads_live("workers"));
  EXPECT_FALSE(reloads_live("no_such_key"));
}

TEST(ConfigReloadTest, JoinsKeysForTheLog) {
  EXPECT_EQ(join_keys({}), "");
  EXPECT_EQ(join_keys({"a"}), "a");
  EXPECT_EQ(join_keys({"a", "b"}), "a and b");
  EXPECT_EQ(join_keys({"a", "b", "c"}), "a, b and c");
}

}  // namespace
}  // namespace shortline

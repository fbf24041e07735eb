// Tests of the config loader: the seed's file, the repo's config.json, every new key, and
// one test per kind of bad value, each checking that the error names key path and value.
#include "control/config.h"

#include <gtest/gtest.h>
#include <netinet/in.h>

#include <initializer_list>
#include <string>
#include <string_view>

namespace shortline {
namespace {

constexpr std::string_view kSeedConfig = R"({
  "server": {"count": "1", "port_range_start": "50000", "port_range_end": "51000",
             "start_id": "0", "queue_update_interval": "10"},
  "client": {"count": "10", "port_range_start": "51000", "port_range_end": "52000",
             "start_id": "1000"},
  "load_balancer": {"server_side_port": "54000", "client_side_port": "54001",
                    "server_scaling_threshold": "5"},
  "controller": {"port": "55000"}})";

// Wraps one key and value in a load_balancer object.
std::string balancer(std::string_view key, std::string_view value_json) {
  std::string text(R"({"load_balancer": {")");
  return text.append(key).append(R"(": )").append(value_json).append("}}");
}

Config must_parse(std::string_view text) {
  ConfigResult result = parse_config(text);
  EXPECT_TRUE(result.config.has_value()) << result.error;
  EXPECT_TRUE(result.error.empty());
  return result.config.value_or(Config{});
}

// Asserts a failure whose one-line message starts with "config: " and holds every part.
void expect_error(std::string_view text, std::initializer_list<std::string_view> parts) {
  const ConfigResult result = parse_config(text);
  EXPECT_FALSE(result.config.has_value()) << text;
  EXPECT_TRUE(result.error.starts_with("config: ")) << result.error;
  EXPECT_EQ(result.error.find('\n'), std::string::npos) << result.error;
  for (const auto part : parts)
    EXPECT_NE(result.error.find(part), std::string::npos)
        << "missing '" << part << "' in: " << result.error;
}

TEST(ConfigTest, SeedFileLoadsWithItsValues) {
  const Config config = must_parse(kSeedConfig);
  EXPECT_EQ(config.server.count, 1u);
  EXPECT_EQ(config.server.port_range_start, 50000);
  EXPECT_EQ(config.server.port_range_end, 51000);
  EXPECT_EQ(config.server.start_id, 0u);
  EXPECT_DOUBLE_EQ(config.server.queue_update_interval_s, 10.0);
  EXPECT_EQ(config.client.count, 10u);
  EXPECT_EQ(config.client.port_range_start, 51000);
  EXPECT_EQ(config.client.port_range_end, 52000);
  EXPECT_EQ(config.client.start_id, 1000u);
  EXPECT_EQ(config.load_balancer.server_side_port, 54000);
  EXPECT_EQ(config.load_balancer.client_side_port, 54001);
  EXPECT_DOUBLE_EQ(config.load_balancer.server_scaling_threshold, 5.0);
  EXPECT_EQ(config.controller.port, 55000);
  EXPECT_EQ(config.load_balancer.dataplane.listen.to_string(), "127.0.0.1:54001");
}

TEST(ConfigTest, RepoConfigJsonLoadsWithDefaults) {
  const ConfigResult result = load_config_file(SHORTLINE_SOURCE_DIR "/config.json");
  ASSERT_TRUE(result.config.has_value()) << result.error;
  const DataplaneConfig& dataplane = result.config->load_balancer.dataplane;
  const DataplaneConfig defaults;
  EXPECT_EQ(dataplane.listen.to_string(), "127.0.0.1:54001");
  EXPECT_EQ(dataplane.workers, defaults.workers);
  EXPECT_EQ(dataplane.policy, defaults.policy);
  EXPECT_EQ(dataplane.max_sessions, defaults.max_sessions);
  EXPECT_EQ(dataplane.buffers_per_worker, defaults.buffers_per_worker);
  EXPECT_TRUE(dataplane.backends.empty());
  EXPECT_EQ(result.config->server.count, 1u);
  EXPECT_EQ(result.config->controller.port, 55000);
}

TEST(ConfigTest, EmptyObjectGivesDefaults) {
  const Config config = must_parse("{}");
  EXPECT_EQ(config.load_balancer.listen_address, "127.0.0.1");
  EXPECT_EQ(config.load_balancer.dataplane.listen.to_string(), "127.0.0.1:54001");
  EXPECT_EQ(config.load_balancer.dataplane.max_datagram_bytes, 4096u);
}

TEST(ConfigTest, EveryNewKeyIsRead) {
  const Config config = must_parse(R"({"load_balancer": {
    "client_side_port": 6000, "listen_address": "::1", "workers": "4", "pin_workers": "true", "udp_gso": false,
    "policy": "power-of-two", "affinity": "flow", "responses_per_request": 0,
    "request_timeout_ms": "250", "session_idle_timeout_ms": 60000, "max_sessions": 1024,
    "max_servers": 8, "max_datagram_bytes": 1500, "buffers_per_worker": "256",
    "batch_size_max": 32, "drain_timeout_ms": 0,
    "backends": ["127.0.0.1:5300", {"address": "[::1]:5301", "weight": "3"}]}})");
  const DataplaneConfig& dataplane = config.load_balancer.dataplane;
  EXPECT_EQ(dataplane.listen.to_string(), "[::1]:6000");
  EXPECT_EQ(dataplane.listen.family(), AF_INET6);
  EXPECT_EQ(dataplane.workers, 4u);
  EXPECT_TRUE(dataplane.pin_workers);
  EXPECT_FALSE(dataplane.udp_gso);
  EXPECT_EQ(dataplane.policy, Policy::power_of_two);
  EXPECT_EQ(dataplane.affinity, Affinity::flow);
  EXPECT_EQ(dataplane.responses_per_request, 0u);
  EXPECT_EQ(dataplane.request_timeout_ms, 250u);
  EXPECT_EQ(dataplane.session_idle_timeout_ms, 60000u);
  EXPECT_EQ(dataplane.max_sessions, 1024u);
  EXPECT_EQ(dataplane.max_servers, 8u);
  EXPECT_EQ(dataplane.max_datagram_bytes, 1500u);
  EXPECT_EQ(dataplane.buffers_per_worker, 256u);
  EXPECT_EQ(dataplane.batch_size_max, 32u);
  EXPECT_EQ(dataplane.drain_timeout_ms, 0u);
  ASSERT_EQ(dataplane.backends.size(), 2u);
  EXPECT_EQ(dataplane.backends[0].address.to_string(), "127.0.0.1:5300");
  EXPECT_EQ(dataplane.backends[0].weight, 1u);
  EXPECT_EQ(dataplane.backends[1].address.to_string(), "[::1]:5301");
  EXPECT_EQ(dataplane.backends[1].weight, 3u);
}

TEST(ConfigTest, EveryPoolAndAdmissionKeyIsRead) {
  const Config config = must_parse(R"({"load_balancer": {
    "session_unreplied_timeout_ms": 1500, "upstream_sockets": "4096",
    "late_reply_quarantine_ms": "0", "source_requests_per_s": 1000,
    "source_requests_burst": "50", "source_sessions_per_s": 20, "prefix_requests_per_s": "8000",
    "source_sessions_max": 64, "socket_buffer_bytes": "1048576", "timer_work_max": 128}})");
  const DataplaneConfig& dataplane = config.load_balancer.dataplane;
  EXPECT_EQ(dataplane.session_unreplied_timeout_ms, 1500u);
  EXPECT_EQ(dataplane.upstream_sockets, 4096u);
  EXPECT_EQ(dataplane.late_reply_quarantine_ms, 0u);
  EXPECT_EQ(dataplane.source_requests_per_s, 1000u);
  EXPECT_EQ(dataplane.source_requests_burst, 50u);
  EXPECT_EQ(dataplane.source_sessions_per_s, 20u);
  EXPECT_EQ(dataplane.prefix_requests_per_s, 8000u);
  EXPECT_EQ(dataplane.source_sessions_max, 64u);
  EXPECT_EQ(dataplane.socket_buffer_bytes, 1048576u);
  EXPECT_EQ(dataplane.timer_work_max, 128u);
}

TEST(ConfigTest, PoolAndAdmissionKeysDefault) {
  const DataplaneConfig dataplane = must_parse("{}").load_balancer.dataplane;
  EXPECT_EQ(dataplane.session_unreplied_timeout_ms, 3000u);
  EXPECT_EQ(dataplane.upstream_sockets, 0u);  // derived from RLIMIT_NOFILE at start
  EXPECT_EQ(dataplane.late_reply_quarantine_ms, 2000u);
  EXPECT_EQ(dataplane.source_requests_per_s, 0u);
  EXPECT_EQ(dataplane.source_requests_burst, 0u);
  EXPECT_EQ(dataplane.source_sessions_per_s, 0u);
  EXPECT_EQ(dataplane.prefix_requests_per_s, 0u);
  EXPECT_EQ(dataplane.source_sessions_max, 0u);
  EXPECT_EQ(dataplane.socket_buffer_bytes, 4u << 20);
  EXPECT_EQ(dataplane.timer_work_max, 256u);
}

TEST(ConfigTest, PoolAndAdmissionBoundsAreAccepted) {
  const auto read = [](std::string_view key, std::string_view value) {
    return must_parse(balancer(key, value)).load_balancer.dataplane;
  };
  EXPECT_EQ(read("upstream_sockets", R"("16777216")").upstream_sockets, 16777216u);
  EXPECT_EQ(read("socket_buffer_bytes", "4096").socket_buffer_bytes, 4096u);
  EXPECT_EQ(read("socket_buffer_bytes", R"("1073741824")").socket_buffer_bytes, 1u << 30);
  EXPECT_EQ(read("timer_work_max", "1048576").timer_work_max, 1u << 20);
  EXPECT_EQ(read("source_requests_per_s", "100000000").source_requests_per_s, 100000000u);
  EXPECT_EQ(read("late_reply_quarantine_ms", "600000").late_reply_quarantine_ms, 600000u);
  EXPECT_EQ(read("session_unreplied_timeout_ms", "86400000").session_unreplied_timeout_ms,
            86400000u);
  // Not tied to the idle timeout or to max_sessions: the data plane asks neither.
  EXPECT_EQ(read("session_unreplied_timeout_ms", "60000").session_unreplied_timeout_ms, 60000u);
}

TEST(ConfigTest, PoolAndAdmissionKeysOutOfRange) {
  expect_error(balancer("session_unreplied_timeout_ms", "0"),
               {"load_balancer.session_unreplied_timeout_ms: 0", "an integer from 1 to 86400000"});
  expect_error(balancer("upstream_sockets", R"("16777217")"),
               {"load_balancer.upstream_sockets: \"16777217\"", "from 0 to 16777216"});
  expect_error(balancer("late_reply_quarantine_ms", "600001"),
               {"load_balancer.late_reply_quarantine_ms: 600001", "from 0 to 600000"});
  expect_error(balancer("source_requests_per_s", "100000001"),
               {"load_balancer.source_requests_per_s: 100000001", "from 0 to 100000000"});
  expect_error(balancer("source_requests_burst", "-1"),
               {"load_balancer.source_requests_burst: -1", "from 0 to 100000000"});
  expect_error(balancer("source_sessions_per_s", R"("lots")"),
               {"load_balancer.source_sessions_per_s: \"lots\"", "an integer"});
  expect_error(balancer("prefix_requests_per_s", "1.5"),
               {"load_balancer.prefix_requests_per_s: 1.5", "an integer"});
  expect_error(balancer("source_sessions_max", "16777217"),
               {"load_balancer.source_sessions_max: 16777217", "from 0 to 16777216"});
  expect_error(balancer("socket_buffer_bytes", "4095"),
               {"load_balancer.socket_buffer_bytes: 4095", "from 4096 to 1073741824"});
  expect_error(balancer("socket_buffer_bytes", R"("1073741825")"),
               {"load_balancer.socket_buffer_bytes: \"1073741825\""});
  expect_error(balancer("timer_work_max", "0"),
               {"load_balancer.timer_work_max: 0", "from 1 to 1048576"});
  expect_error(balancer("timer_work_max", "true"), {"load_balancer.timer_work_max: true"});
}

TEST(ConfigTest, UnknownKeyListsThePoolAndAdmissionKeys) {
  expect_error(balancer("upstream_socket", "1"),
               {"load_balancer.upstream_socket: unknown key", "upstream_sockets",
                "session_unreplied_timeout_ms", "socket_buffer_bytes", "source_sessions_max"});
}

TEST(ConfigTest, ListenAddressForms) {
  EXPECT_EQ(must_parse(balancer("listen_address", R"("localhost")"))
                .load_balancer.dataplane.listen.to_string(),
            "127.0.0.1:54001");
  EXPECT_EQ(must_parse(balancer("listen_address", R"("[::]")"))
                .load_balancer.dataplane.listen.to_string(),
            "[::]:54001");
  EXPECT_EQ(must_parse(balancer("listen_address", R"("0.0.0.0")"))
                .load_balancer.dataplane.listen.to_string(),
            "0.0.0.0:54001");
}

TEST(ConfigTest, FractionalQueueUpdateInterval) {
  EXPECT_DOUBLE_EQ(
      must_parse(R"({"server": {"queue_update_interval": "0.5"}})").server.queue_update_interval_s,
      0.5);
  EXPECT_DOUBLE_EQ(
      must_parse(R"({"server": {"queue_update_interval": 0.25}})").server.queue_update_interval_s,
      0.25);
}

TEST(ConfigTest, BoundaryValuesAreAccepted) {
  EXPECT_EQ(must_parse(balancer("workers", "256")).load_balancer.dataplane.workers, 256u);
  EXPECT_EQ(
      must_parse(balancer("buffers_per_worker", "64")).load_balancer.dataplane.buffers_per_worker,
      64u);
  EXPECT_EQ(must_parse(balancer("buffers_per_worker", "32768"))
                .load_balancer.dataplane.buffers_per_worker,
            32768u);
  EXPECT_EQ(must_parse(balancer("max_datagram_bytes", "65507"))
                .load_balancer.dataplane.max_datagram_bytes,
            65507u);
  EXPECT_EQ(must_parse(R"({"controller": {"port": 65535}})").controller.port, 65535);
  EXPECT_EQ(must_parse(R"({"server": {"count": 0}})").server.count, 0u);
}

TEST(ConfigTest, ErrorMessageHasTheDocumentedShape) {
  const ConfigResult result = parse_config(balancer("workers", R"("abc")"));
  EXPECT_EQ(
      result.error,
      R"(config: load_balancer.workers: "abc" is not allowed: expected an integer from 0 to 256)");
}

TEST(ConfigTest, UnknownTopLevelKey) {
  expect_error(R"({"servers": {}})", {"servers: unknown key", "allowed: server, client"});
}

TEST(ConfigTest, UnknownKeyInEachSection) {
  expect_error(R"({"server": {"cnt": 1}})", {"server.cnt: unknown key", "queue_update_interval"});
  expect_error(R"({"client": {"cnt": 1}})", {"client.cnt: unknown key", "start_id"});
  expect_error(R"({"controller": {"prt": 1}})", {"controller.prt: unknown key", "(allowed: address, port, server_host, server_command,"});
  expect_error(balancer("polcy", R"("random")"),
               {"load_balancer.polcy: unknown key (allowed: server_side_port, client_side_port",
                "backends, admin_enabled, admin_address, admin_port"});
  expect_error(balancer("backends", R"([{"address": "1.2.3.4:5", "wieght": 2}])"),
               {"load_balancer.backends[0].wieght: unknown key", "allowed: address, weight"});
}

TEST(ConfigTest, UnknownKeyWithControlCharactersStaysOneLine) {
  expect_error("{\"a\\nb\": 1}", {"a\\x0ab: unknown key"});
}

TEST(ConfigTest, WrongType) {
  expect_error(balancer("workers", "true"), {"load_balancer.workers: true", "an integer"});
  expect_error(balancer("workers", "1.5"), {"load_balancer.workers: 1.5", "an integer"});
  expect_error(balancer("pin_workers", R"("yes")"),
               {"load_balancer.pin_workers: \"yes\"", "true or false"});
  expect_error(balancer("listen_address", "5"), {"load_balancer.listen_address: 5"});
  expect_error(balancer("policy", "[1]"), {"load_balancer.policy: an array"});
  expect_error(R"({"server": "x"})", {"server: \"x\" is not allowed: expected an object"});
  expect_error(R"({"load_balancer": null})", {"load_balancer: null", "an object"});
  expect_error(R"({"controller": {"port": {"a": 1}}})", {"controller.port: an object"});
}

TEST(ConfigTest, OutOfRange) {
  expect_error(balancer("workers", "257"), {"load_balancer.workers: 257", "from 0 to 256"});
  expect_error(balancer("workers", "-1"), {"load_balancer.workers: -1", "from 0 to 256"});
  expect_error(balancer("workers", R"("-1")"), {"load_balancer.workers: \"-1\""});
  expect_error(balancer("server_side_port", "0"),
               {"load_balancer.server_side_port: 0", "from 1 to 65535"});
  expect_error(balancer("client_side_port", R"("65536")"), {"client_side_port: \"65536\""});
  expect_error(R"({"server": {"count": 1025}})", {"server.count: 1025", "from 0 to 1024"});
  expect_error(R"({"client": {"count": "10001"}})", {"client.count: \"10001\"", "to 10000"});
  expect_error(balancer("request_timeout_ms", "0"), {"request_timeout_ms: 0", "1 to 3600000"});
  expect_error(balancer("session_idle_timeout_ms", "86400001"), {"86400001", "1 to 86400000"});
  expect_error(balancer("max_sessions", "16777217"), {"max_sessions: 16777217"});
  expect_error(balancer("max_datagram_bytes", "65508"), {"max_datagram_bytes: 65508"});
  expect_error(balancer("batch_size_max", "0"), {"batch_size_max: 0", "1 to 1024"});
  expect_error(balancer("drain_timeout_ms", "600001"), {"drain_timeout_ms: 600001"});
  expect_error(balancer("responses_per_request", "1025"), {"responses_per_request: 1025"});
  expect_error(balancer("max_servers", "0"), {"max_servers: 0", "1 to 65536"});
  expect_error(balancer("workers", "99999999999999999999999"), {"load_balancer.workers"});
}

TEST(ConfigTest, BuffersPerWorkerMustBeAPowerOfTwo) {
  expect_error(balancer("buffers_per_worker", "100"),
               {"buffers_per_worker: 100", "a power of two from 64 to 32768"});
  expect_error(balancer("buffers_per_worker", "32"), {"buffers_per_worker: 32"});
  expect_error(balancer("buffers_per_worker", "65536"),
               {"buffers_per_worker: 65536", "a power of two from 64 to 32768"});
  expect_error(balancer("buffers_per_worker", R"("0")"),
               {"load_balancer.buffers_per_worker: \"0\"", "a power of two"});
}

TEST(ConfigTest, BadRealNumbers) {
  expect_error(R"({"server": {"queue_update_interval": 0}})",
               {"server.queue_update_interval: 0", "above 0"});
  expect_error(R"({"server": {"queue_update_interval": "abc"}})", {"\"abc\""});
  expect_error(R"({"server": {"queue_update_interval": "inf"}})", {"\"inf\""});
  expect_error(R"({"server": {"queue_update_interval": "nan"}})", {"\"nan\""});
  expect_error(balancer("server_scaling_threshold", "-5"), {"server_scaling_threshold: -5"});
}

TEST(ConfigTest, BadPolicy) {
  expect_error(balancer("policy", R"("fastest")"),
               {"load_balancer.policy: \"fastest\"", "\"shortest-queue\"", "\"random\""});
}

TEST(ConfigTest, BadAffinity) {
  expect_error(balancer("affinity", R"("sticky")"),
               {"load_balancer.affinity: \"sticky\"", "\"packet\", \"flow\""});
}

TEST(ConfigTest, BadListenAddress) {
  expect_error(balancer("listen_address", R"("1.2.3")"),
               {"listen_address: \"1.2.3\"", "IPv4 or IPv6 literal"});
  expect_error(balancer("listen_address", R"("example.com")"), {"\"example.com\""});
  expect_error(balancer("listen_address", R"("")"), {"listen_address: \"\""});
}

TEST(ConfigTest, PortRangeReversed) {
  expect_error(R"({"server": {"port_range_start": 50000, "port_range_end": "40000"}})",
               {"server.port_range_end: 40000", "server.port_range_start (50000)"});
  expect_error(R"({"client": {"port_range_start": 60000}})",
               {"client.port_range_end: 52000", "client.port_range_start (60000)"});
}

TEST(ConfigTest, BackendsBadEntry) {
  expect_error(balancer("backends", R"("1.2.3.4:53")"),
               {"load_balancer.backends: \"1.2.3.4:53\"", "an array"});
  expect_error(balancer("backends", R"(["1.2.3.4:53", "1.2.3.4"])"),
               {"load_balancer.backends[1]: \"1.2.3.4\"", "HOST:PORT"});
  expect_error(balancer("backends", R"(["1.2.3.4:0"])"), {"backends[0]: \"1.2.3.4:0\""});
  expect_error(balancer("backends", R"(["::1:53"])"), {"backends[0]: \"::1:53\""});
  expect_error(balancer("backends", "[5]"), {"load_balancer.backends[0]: 5"});
  expect_error(balancer("backends", R"([{"address": "1.2.3.4:5", "weight": 0}])"),
               {"load_balancer.backends[0].weight: 0", "from 1 to 1000"});
  expect_error(balancer("backends", R"([{"address": "1.2.3.4:5", "weight": "1001"}])"),
               {"backends[0].weight: \"1001\""});
  expect_error(balancer("backends", R"([{"weight": 2}])"),
               {"load_balancer.backends[0]: an object without \"address\""});
  expect_error(balancer("backends", R"([{"address": 7}])"), {"backends[0].address: 7"});
  expect_error(balancer("backends", R"(["1.2.3.4:5", "[::1]:6", "1.2.3.4:5"])"),
               {"load_balancer.backends[2]: \"1.2.3.4:5\"", "also load_balancer.backends[0]"});
}

TEST(ConfigTest, MaxServersBelowBackendCount) {
  expect_error(R"({"load_balancer": {"max_servers": 1, "backends": ["1.2.3.4:5", "1.2.3.4:6"]}})",
               {"load_balancer.max_servers: 1", "number of load_balancer.backends (2)"});
}

TEST(ConfigTest, InvalidJson) {
  expect_error(R"({"server": )", {"invalid JSON", "line 1, column 12"});
  expect_error("", {"invalid JSON"});
  expect_error("{\"a\": 1,\n \"b\" 2}", {"invalid JSON", "line 2"});
}

TEST(ConfigTest, NonObjectTopLevel) {
  expect_error("[1, 2]", {"top level: an array", "an object"});
  expect_error("42", {"top level: 42"});
  expect_error(R"("text")", {"top level: \"text\""});
}

TEST(ConfigTest, DeepNestingIsAnErrorNotACrash) {
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  expect_error(balancer("workers", deep), {"load_balancer.workers: an array"});
}

TEST(ConfigTest, MissingFile) {
  const ConfigResult result = load_config_file("/nonexistent/shortline.json");
  EXPECT_FALSE(result.config.has_value());
  EXPECT_EQ(result.error,
            "config: cannot read /nonexistent/shortline.json: No such file or directory");
}

TEST(ConfigTest, DirectoryIsUnreadable) {
  const ConfigResult result = load_config_file("/");
  EXPECT_FALSE(result.config.has_value());
  EXPECT_TRUE(result.error.starts_with("config: cannot read /: ")) << result.error;
}

TEST(ConfigTest, PolicyAndAffinityNamesRoundTrip) {
  for (const auto policy :
       {Policy::shortest_queue, Policy::power_of_two, Policy::round_robin, Policy::random,
        Policy::maglev}) {
    EXPECT_EQ(parse_policy(policy_name(policy)), policy);
  }
  EXPECT_EQ(parse_affinity("flow"), Affinity::flow);
  EXPECT_EQ(parse_affinity("packet"), Affinity::packet);
  EXPECT_EQ(parse_policy("Shortest-Queue"), std::nullopt);
  EXPECT_EQ(parse_affinity(""), std::nullopt);
}

TEST(ConfigTest, MaglevPolicyAndLoadBound) {
  EXPECT_DOUBLE_EQ(must_parse("{}").load_balancer.dataplane.maglev_load_bound, 2.0);
  const Config config = must_parse(
      R"({"load_balancer": {"policy": "maglev", "affinity": "flow", "maglev_load_bound": "1.5"}})");
  EXPECT_EQ(config.load_balancer.dataplane.policy, Policy::maglev);
  EXPECT_DOUBLE_EQ(config.load_balancer.dataplane.maglev_load_bound, 1.5);
  EXPECT_DOUBLE_EQ(must_parse(R"({"load_balancer": {"maglev_load_bound": 0}})")
                       .load_balancer.dataplane.maglev_load_bound, 0);
  for (const char* bad : {"0.5", "-1", "101", "\"high\""})
    expect_error(std::string(R"({"load_balancer": {"maglev_load_bound": )") + bad + "}}",
                 {"load_balancer.maglev_load_bound", "0 (off) or a number from 1 to 100"});
}

TEST(ConfigTest, AdminKeys) {
  const Config defaults = must_parse("{}");
  EXPECT_TRUE(defaults.load_balancer.admin_enabled);
  EXPECT_EQ(defaults.load_balancer.admin_listen.to_string(), "127.0.0.1:54080");
  const Config config = must_parse(R"({"load_balancer": {
    "admin_enabled": "false", "admin_address": "::1", "admin_port": "0"}})");
  EXPECT_FALSE(config.load_balancer.admin_enabled);
  EXPECT_EQ(config.load_balancer.admin_address, "::1");
  EXPECT_EQ(config.load_balancer.admin_port, 0);  // any free port
  EXPECT_EQ(config.load_balancer.admin_listen.to_string(), "[::1]:0");
  EXPECT_EQ(must_parse(balancer("admin_address", R"("localhost")"))
                .load_balancer.admin_listen.to_string(),
            "127.0.0.1:54080");
  expect_error(balancer("admin_port", "65536"), {"load_balancer.admin_port: 65536", "0 to 65535"});
  expect_error(balancer("admin_address", R"("example.com")"),
               {"load_balancer.admin_address: \"example.com\"", "IPv4 or IPv6 literal"});
  expect_error(balancer("admin_enabled", "1"), {"load_balancer.admin_enabled: 1", "true or false"});
}

// Several balancers share listen_address (the service address); each binds its control
// port to its own unicast address so that servers can reach every one of them.
TEST(ConfigTest, ControlAddress) {
  EXPECT_EQ(must_parse("{}").load_balancer.control_address, "");  // = listen_address's host
  const Config config = must_parse(R"({"load_balancer": {
    "listen_address": "10.0.0.100", "control_address": "192.168.1.11"}})");
  EXPECT_EQ(config.load_balancer.control_address, "192.168.1.11");
  EXPECT_EQ(config.load_balancer.dataplane.listen.to_string(), "10.0.0.100:54001");
  EXPECT_EQ(must_parse(balancer("control_address", R"("::1")")).load_balancer.control_address,
            "::1");
  expect_error(balancer("control_address", R"("example.com")"),
               {"load_balancer.control_address: \"example.com\"", "IPv4 or IPv6 literal"});
  expect_error(balancer("control_address", "7"), {"load_balancer.control_address: 7"});
}

TEST(ConfigTest, ControllerBalancers) {
  EXPECT_TRUE(must_parse("{}").controller.balancers.empty());
  const Config config = must_parse(
      R"({"controller": {"balancers": ["192.168.1.12:54000", "[fd00::13]:54000"]}})");
  ASSERT_EQ(config.controller.balancers.size(), 2u);
  EXPECT_EQ(config.controller.balancers[0].to_string(), "192.168.1.12:54000");
  EXPECT_EQ(config.controller.balancers[1].to_string(), "[fd00::13]:54000");
  expect_error(R"({"controller": {"balancers": "192.168.1.12:54000"}})",
               {"controller.balancers: ", "an array of at most 64"});
  expect_error(R"({"controller": {"balancers": ["192.168.1.12"]}})",
               {"controller.balancers[0]: \"192.168.1.12\"", "HOST:PORT"});
  expect_error(R"({"controller": {"balancers": ["192.168.1.12:0"]}})",
               {"controller.balancers[0]: \"192.168.1.12:0\"", "PORT 1 to 65535"});
}

// Where ScaleRequests go, and what the servers it starts bind; beyond loopback only with
// a key, since a ScaleRequest starts and stops servers.
TEST(ConfigTest, ControllerAddressAndServerHost) {
  const Config defaults = must_parse("{}");
  EXPECT_EQ(defaults.controller.address, "127.0.0.1");
  EXPECT_EQ(defaults.controller.server_host, "127.0.0.1");
  EXPECT_EQ(controller_endpoint(defaults.controller).to_string(), "127.0.0.1:55000");
  const Config across = must_parse(
      R"({"load_balancer": {"auth_key_file": "/k"}, "controller": {"address": "10.0.0.5",
          "port": 55001, "server_host": "10.0.0.5"}})");
  EXPECT_EQ(controller_endpoint(across.controller).to_string(), "10.0.0.5:55001");
  EXPECT_EQ(across.controller.server_host, "10.0.0.5");
  EXPECT_EQ(controller_endpoint(must_parse(R"({"controller": {"address": "::1"}})").controller)
                .to_string(),
            "[::1]:55000");
  expect_error(R"({"controller": {"address": "10.0.0.5"}})",
               {"controller.address \"10.0.0.5\" is beyond loopback",
                "load_balancer.auth_key_file is not set"});
  expect_error(R"({"controller": {"address": "example.com"}})",
               {"controller.address: \"example.com\"", "address literal"});
  expect_error(R"({"controller": {"server_host": 5}})", {"controller.server_host: 5"});
}

TEST(ConfigTest, ControllerKeys) {
  const Config defaults = must_parse("{}");
  EXPECT_EQ(defaults.controller.server_command, "");
  EXPECT_EQ(defaults.controller.server_service_distribution, "exponential");
  EXPECT_EQ(defaults.controller.stop_timeout_ms, 10000u);
  const Config config = must_parse(R"({"controller": {
    "server_command": "/bin/srv {port} {id}",
    "server_service_ms": "2.5", "server_service_distribution": "fixed", "server_workers": 3,
    "restart_backoff_ms": 100, "restart_backoff_max_ms": "400", "stop_timeout_ms": 1500}})");
  const auto& controller = config.controller;
  EXPECT_EQ(controller.server_command, "/bin/srv {port} {id}");
  EXPECT_DOUBLE_EQ(controller.server_service_ms, 2.5);
  EXPECT_EQ(controller.server_service_distribution, "fixed");
  EXPECT_EQ(controller.server_workers, 3u);
  EXPECT_EQ(controller.restart_backoff_ms, 100u);
  EXPECT_EQ(controller.restart_backoff_max_ms, 400u);
  EXPECT_EQ(controller.stop_timeout_ms, 1500u);
  expect_error(R"({"controller": {"min_servers": 1}})", {"controller.min_servers: unknown key"});
  expect_error(R"({"controller": {"server_service_distribution": "normal"}})",
               {"controller.server_service_distribution: \"normal\"", "\"exponential\""});
  expect_error(R"({"controller": {"server_service_ms": 0}})", {"controller.server_service_ms: 0"});
  expect_error(R"({"controller": {"server_command": 7}})", {"controller.server_command: 7"});
  expect_error(R"({"controller": {"restart_backoff_ms": 500, "restart_backoff_max_ms": 100}})",
               {"controller.restart_backoff_max_ms: 100", "restart_backoff_ms (500)"});
}

TEST(ConfigTest, ControlThreadKeys) {
  const Config defaults = must_parse("{}");
  const auto& d = defaults.load_balancer;
  EXPECT_EQ(d.report_interval_ms, 2u);
  EXPECT_EQ(d.missed_reports, 3u);
  EXPECT_EQ(d.control_allowed_sources, loopback_sources());
  EXPECT_EQ(d.auth_key_file, "");
  EXPECT_EQ(d.min_servers, 1u);
  EXPECT_EQ(d.max_servers_running, 8u);
  EXPECT_EQ(d.scale_up_hold_ms, 500u);
  EXPECT_EQ(d.scale_down_idle_ms, 5000u);
  EXPECT_EQ(d.scale_cooldown_ms, 2000u);
  const Config config = must_parse(R"({"load_balancer": {
    "report_interval_ms": "5", "missed_reports": 4,
    "control_allowed_sources": ["10.0.0.0/8", "127.0.0.1", "fd00::/8"],
    "auth_key_file": "/etc/shortline/key", "min_servers": "2", "max_servers_running": 6,
    "scale_up_hold_ms": 0, "scale_down_idle_ms": "100", "scale_cooldown_ms": 50}})");
  const auto& c = config.load_balancer;
  EXPECT_EQ(c.report_interval_ms, 5u);
  EXPECT_EQ(c.missed_reports, 4u);
  ASSERT_EQ(c.control_allowed_sources.size(), 3u);
  EXPECT_EQ(c.control_allowed_sources[1].to_string(), "127.0.0.1/32");
  EXPECT_EQ(c.control_allowed_sources[2].to_string(), "fd00::/8");
  EXPECT_EQ(c.auth_key_file, "/etc/shortline/key");
  EXPECT_EQ(c.min_servers, 2u);
  EXPECT_EQ(c.max_servers_running, 6u);
  EXPECT_EQ(c.scale_up_hold_ms, 0u);
  EXPECT_EQ(c.scale_down_idle_ms, 100u);
  EXPECT_EQ(c.scale_cooldown_ms, 50u);
  expect_error(balancer("report_interval_ms", "0"), {"load_balancer.report_interval_ms: 0"});
  expect_error(balancer("missed_reports", "\"x\""), {"load_balancer.missed_reports: \"x\""});
  expect_error(balancer("control_allowed_sources", "[]"),
               {"load_balancer.control_allowed_sources: an array", "CIDR"});
  expect_error(balancer("control_allowed_sources", R"(["127.0.0.1/33"])"),
               {"load_balancer.control_allowed_sources[0]: \"127.0.0.1/33\""});
  expect_error(balancer("control_allowed_sources", R"(["localhost"])"),
               {"load_balancer.control_allowed_sources[0]: \"localhost\""});
  expect_error(balancer("auth_key_file", "1"), {"load_balancer.auth_key_file: 1"});
  expect_error(R"({"load_balancer": {"min_servers": 5, "max_servers_running": 4}})",
               {"load_balancer.max_servers_running: 4", "min_servers (5)"});
  expect_error(balancer("min_servers", "0"), {"load_balancer.min_servers: 0", "1 to 1024"});
}

}  // namespace
}  // namespace shortline

namespace shortline {
namespace {

TEST(ConfigHealthTest, SpeedAndHealthKeysAreRead) {
  const Config c = must_parse(R"({"load_balancer": {"learn_speed": false, "slow_start_ms": 3000,
      "timeouts_down": 7, "health_probe_interval_ms": 250, "outlier_failure_ratio": 4.5,
      "outlier_interval_ms": 500, "outlier_ejection_ms": 9000,
      "outlier_max_ejected_percent": 30}})");
  const LoadBalancerConfig& lb = c.load_balancer;
  EXPECT_FALSE(lb.learn_speed);
  EXPECT_EQ(lb.slow_start_ms, 3000u);
  EXPECT_EQ(lb.timeouts_down, 7u);
  EXPECT_EQ(lb.health_probe_interval_ms, 250u);
  EXPECT_DOUBLE_EQ(lb.outlier_failure_ratio, 4.5);
  EXPECT_EQ(lb.outlier_interval_ms, 500u);
  EXPECT_EQ(lb.outlier_ejection_ms, 9000u);
  EXPECT_EQ(lb.outlier_max_ejected_percent, 30u);
  EXPECT_FALSE(lb.health_check.enabled());
}

TEST(ConfigHealthTest, HealthCheckObjectIsRead) {
  const Config c = must_parse(R"({"load_balancer": {"health_check": {"payload_hex": "dead beef",
      "interval_ms": 50, "timeout_ms": 20, "rise": 1, "fall": 4, "expect_hex": "ca fe",
      "expect_offset": 2, "expect_mask_hex": "ff0f"}}})");
  const HealthCheckConfig& h = c.load_balancer.health_check;
  EXPECT_EQ(h.payload, (std::vector<uint8_t>{0xde, 0xad, 0xbe, 0xef}));
  EXPECT_EQ(h.interval_ms, 50u);
  EXPECT_EQ(h.timeout_ms, 20u);
  EXPECT_EQ(h.rise, 1u);
  EXPECT_EQ(h.fall, 4u);
  EXPECT_EQ(h.expect, (std::vector<uint8_t>{0xca, 0xfe}));
  EXPECT_EQ(h.expect_offset, 2u);
  EXPECT_EQ(h.expect_mask, (std::vector<uint8_t>{0xff, 0x0f}));
}

TEST(ConfigHealthTest, BadHealthValuesNameTheKey) {
  expect_error(R"({"load_balancer": {"outlier_failure_ratio": 0.5}})",
               {"load_balancer.outlier_failure_ratio", "0 (off) or a number above 1"});
  expect_error(R"({"load_balancer": {"outlier_max_ejected_percent": 101}})",
               {"load_balancer.outlier_max_ejected_percent", "101"});
  expect_error(R"({"load_balancer": {"health_check": {"payload_hex": "xyz"}}})",
               {"load_balancer.health_check.payload_hex", "hex bytes"});
  expect_error(R"({"load_balancer": {"health_check": {"payload_hex": "00", "fall": 0}}})",
               {"load_balancer.health_check.fall", "1..100"});
  expect_error(R"({"load_balancer": {"health_check": {"interval_ms": 10}}})",
               {"load_balancer.health_check", "payload_hex or payload_file"});
  expect_error(R"({"load_balancer": {"health_check": {"payload_hex": "00", "nope": 1}}})",
               {"load_balancer.health_check.nope", "unknown key"});
  expect_error(R"({"load_balancer": {"health_check": {"payload_file": "/nonexistent/probe"}}})",
               {"load_balancer.health_check.payload_file", "a readable file"});
}

}  // namespace
}  // namespace shortline

// Tests of the shortline-lb command line: flags over the config file, both value forms,
// backend lists, and one-line errors that name the flag and the value.
#include "control/lb_cli.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <initializer_list>
#include <string>
#include <vector>

namespace shortline {
namespace {

LbCliResult parse(std::initializer_list<const char*> flags) {
  std::vector<const char*> argv{"shortline-lb"};
  argv.insert(argv.end(), flags.begin(), flags.end());
  return parse_lb_command_line(static_cast<int>(argv.size()), argv.data());
}

Config must_parse(std::initializer_list<const char*> flags) {
  LbCliResult result = parse(flags);
  EXPECT_TRUE(result.command_line.has_value()) << result.error;
  return result.command_line ? result.command_line->config : Config{};
}

void expect_error(std::initializer_list<const char*> flags,
                  std::initializer_list<std::string_view> parts) {
  const LbCliResult result = parse(flags);
  EXPECT_FALSE(result.command_line.has_value());
  EXPECT_FALSE(result.error.empty());
  EXPECT_EQ(result.error.find('\n'), std::string::npos) << result.error;
  for (const auto part : parts)
    EXPECT_NE(result.error.find(part), std::string::npos)
        << "missing '" << part << "' in: " << result.error;
}

// A config file in the test's temporary directory, removed at the end of the test.
class ConfigFile {
 public:
  explicit ConfigFile(std::string_view text)
      : path_(testing::TempDir() + "lb_cli_test_" + std::to_string(getpid()) + "_" +
              std::to_string(next_id_++) + ".json") {
    std::ofstream(path_) << text;
  }
  ~ConfigFile() { std::remove(path_.c_str()); }
  ConfigFile(const ConfigFile&) = delete;
  ConfigFile& operator=(const ConfigFile&) = delete;
  [[nodiscard]] const char* path() const { return path_.c_str(); }

 private:
  static inline int next_id_ = 0;
  std::string path_;
};

constexpr std::string_view kFileConfig = R"({"load_balancer": {
  "client_side_port": "6000", "workers": 3, "policy": "round-robin", "max_sessions": 500,
  "backends": ["127.0.0.1:7000", "127.0.0.1:7001"]}})";

TEST(LbCliTest, NoFlagsGivesDefaults) {
  const Config config = must_parse({});
  EXPECT_EQ(config.load_balancer.dataplane.listen.to_string(), "127.0.0.1:54001");
  EXPECT_EQ(config.load_balancer.dataplane.workers, 0u);
  EXPECT_TRUE(config.load_balancer.dataplane.backends.empty());
}

TEST(LbCliTest, FileIsLoaded) {
  const ConfigFile file(kFileConfig);
  const Config config = must_parse({"--config", file.path()});
  const DataplaneConfig& dataplane = config.load_balancer.dataplane;
  EXPECT_EQ(dataplane.listen.to_string(), "127.0.0.1:6000");
  EXPECT_EQ(dataplane.workers, 3u);
  EXPECT_EQ(dataplane.policy, Policy::round_robin);
  EXPECT_EQ(dataplane.backends.size(), 2u);
}

TEST(LbCliTest, FlagsOverrideTheFileWhateverTheOrder) {
  const ConfigFile file(kFileConfig);
  const Config config = must_parse({"--workers", "5", "--policy=random", "--listen", "[::1]:0",
                                    "--config", file.path(), "--max-sessions=77"});
  const DataplaneConfig& dataplane = config.load_balancer.dataplane;
  EXPECT_EQ(dataplane.workers, 5u);
  EXPECT_EQ(dataplane.policy, Policy::random);
  EXPECT_EQ(dataplane.max_sessions, 77u);
  EXPECT_EQ(dataplane.listen.to_string(), "[::1]:0");
  EXPECT_EQ(config.load_balancer.listen_address, "::1");
  EXPECT_EQ(config.load_balancer.client_side_port, 0);
  EXPECT_EQ(dataplane.backends.size(), 2u);  // no --backend: the file's list stands
}

TEST(LbCliTest, EveryValueFlagInBothForms) {
  const Config config = must_parse(
      {"--affinity=flow", "--responses", "0", "--request-timeout-ms=250", "--idle-timeout-ms",
       "9000", "--max-datagram-bytes", "1500", "--pin-workers", "--udp-gso=false", "--workers=2"});
  const DataplaneConfig& dataplane = config.load_balancer.dataplane;
  EXPECT_EQ(dataplane.affinity, Affinity::flow);
  EXPECT_EQ(dataplane.responses_per_request, 0u);
  EXPECT_EQ(dataplane.request_timeout_ms, 250u);
  EXPECT_EQ(dataplane.session_idle_timeout_ms, 9000u);
  EXPECT_EQ(dataplane.max_datagram_bytes, 1500u);
  EXPECT_TRUE(dataplane.pin_workers);
  EXPECT_FALSE(dataplane.udp_gso);
  EXPECT_EQ(dataplane.workers, 2u);
}

TEST(LbCliTest, UpstreamSocketsFlag) {
  EXPECT_EQ(must_parse({}).load_balancer.dataplane.upstream_sockets, 0u);
  EXPECT_EQ(must_parse({"--upstream-sockets", "2048"}).load_balancer.dataplane.upstream_sockets,
            2048u);
  const ConfigFile file(R"({"load_balancer": {"upstream_sockets": "100"}})");
  EXPECT_EQ(must_parse({"--upstream-sockets=300", "--config", file.path()})
                .load_balancer.dataplane.upstream_sockets,
            300u);
  EXPECT_EQ(must_parse({"--config", file.path()}).load_balancer.dataplane.upstream_sockets, 100u);
  expect_error({"--upstream-sockets", "16777217"},
               {"--upstream-sockets: \"16777217\"", "from 0 to 16777216"});
  expect_error({"--upstream-sockets=many"}, {"--upstream-sockets: \"many\""});
  expect_error({"--upstream-sockets"}, {"--upstream-sockets: missing value (expected N)"});
  EXPECT_NE(lb_help_text().find("--upstream-sockets N"), std::string::npos);
}

TEST(LbCliTest, MaglevLoadBoundFlag) {
  EXPECT_EQ(must_parse({}).load_balancer.dataplane.maglev_load_bound, 2.0);
  EXPECT_EQ(must_parse({"--maglev-load-bound", "0"}).load_balancer.dataplane.maglev_load_bound,
            0.0);
  EXPECT_EQ(must_parse({"--maglev-load-bound=1.25"}).load_balancer.dataplane.maglev_load_bound,
            1.25);
  expect_error({"--maglev-load-bound", "0.5"},
               {"--maglev-load-bound: \"0.5\"", "0 (off) or a number from 1 to 100"});
  expect_error({"--maglev-load-bound=lots"}, {"--maglev-load-bound: \"lots\""});
  EXPECT_NE(lb_help_text().find("--maglev-load-bound C"), std::string::npos);
  EXPECT_NE(lb_help_text().find("(default: 2)"), std::string::npos);
}

TEST(LbCliTest, SwitchCanBeTurnedOffExplicitly) {
  const ConfigFile file(R"({"load_balancer": {"pin_workers": true}})");
  EXPECT_FALSE(must_parse({"--config", file.path(), "--pin-workers=false"})
                   .load_balancer.dataplane.pin_workers);
}

TEST(LbCliTest, LaterFlagWins) {
  EXPECT_EQ(must_parse({"--workers", "1", "--workers", "4"}).load_balancer.dataplane.workers, 4u);
}

TEST(LbCliTest, BackendCommaListsAndRepeats) {
  const ConfigFile file(kFileConfig);
  const Config config = must_parse({"--config", file.path(), "--backend",
                                    "127.0.0.1:5300,[::1]:5301@7", "--backend=localhost:5302"});
  const auto& backends = config.load_balancer.dataplane.backends;
  ASSERT_EQ(backends.size(), 3u);  // replaces the file's two
  EXPECT_EQ(backends[0].address.to_string(), "127.0.0.1:5300");
  EXPECT_EQ(backends[0].weight, 1u);
  EXPECT_EQ(backends[1].address.to_string(), "[::1]:5301");
  EXPECT_EQ(backends[1].weight, 7u);
  EXPECT_EQ(backends[2].address.to_string(), "127.0.0.1:5302");
}

TEST(LbCliTest, HelpAndVersion) {
  const LbCliResult help = parse({"-h"});
  ASSERT_TRUE(help.command_line.has_value()) << help.error;
  EXPECT_TRUE(help.command_line->show_help);
  const LbCliResult version = parse({"--version"});
  ASSERT_TRUE(version.command_line.has_value()) << version.error;
  EXPECT_TRUE(version.command_line->show_version);
  EXPECT_FALSE(version.command_line->show_help);
}

TEST(LbCliTest, HelpTextMentionsEveryFlag) {
  const std::string text = lb_help_text();
  for (const char* flag :
       {"--config FILE", "--listen HOST:PORT", "--backend HOST:PORT[@W]", "--workers N",
        "--policy NAME", "--affinity NAME", "--pin-workers", "--responses N",
        "--request-timeout-ms N", "--idle-timeout-ms N", "--max-sessions N",
        "--max-datagram-bytes N", "--upstream-sockets N", "--udp-gso", "--help", "-h",
       "--version"}) {
    EXPECT_NE(text.find(flag), std::string::npos) << flag;
  }
  EXPECT_NE(text.find("(default: 127.0.0.1:54001)"), std::string::npos) << text;
  EXPECT_NE(text.find("(default: shortest-queue)"), std::string::npos) << text;
  EXPECT_NE(text.find("Exit status 2"), std::string::npos);
}

TEST(LbCliTest, UnknownFlag) {
  expect_error({"--wrokers", "4"}, {"--wrokers: unknown flag", "--workers"});
  expect_error({"-x"}, {"-x: unknown flag"});
  expect_error({"stray"}, {"stray: unexpected argument"});
}

TEST(LbCliTest, MissingValue) {
  expect_error({"--workers"}, {"--workers: missing value (expected N)"});
  expect_error({"--listen", "--workers", "2"}, {"--listen: missing value"});
}

TEST(LbCliTest, BadNumber) {
  expect_error({"--workers", "abc"},
               {"--workers: \"abc\" is not allowed: expected an integer from 0 to 256"});
  expect_error({"--workers=-2"}, {"--workers: \"-2\""});
  expect_error({"--max-sessions", "0"}, {"--max-sessions: \"0\"", "from 1 to 16777216"});
  expect_error({"--request-timeout-ms="}, {"--request-timeout-ms: \"\""});
  expect_error({"--pin-workers=maybe"}, {"--pin-workers: \"maybe\"", "true or false"});
}

TEST(LbCliTest, BadNames) {
  expect_error({"--policy", "best"}, {"--policy: \"best\"", "\"round-robin\""});
  expect_error({"--affinity=sticky"}, {"--affinity: \"sticky\"", "\"flow\""});
}

TEST(LbCliTest, BadAddresses) {
  expect_error({"--listen", "1.2.3.4"}, {"--listen: \"1.2.3.4\"", "HOST:PORT"});
  expect_error({"--backend", "1.2.3.4:5,bad"}, {"--backend: \"bad\"", "HOST:PORT"});
  expect_error({"--backend", "1.2.3.4:5@0"}, {"--backend: \"0\"", "from 1 to 1000"});
  expect_error({"--backend", "1.2.3.4:5,"}, {"--backend: \"\""});
}

TEST(LbCliTest, TooManyBackendsForMaxServers) {
  const ConfigFile file(R"({"load_balancer": {"max_servers": 1}})");
  expect_error({"--config", file.path(), "--backend", "1.2.3.4:5,1.2.3.4:6"},
               {"--backend: 2 backends", "load_balancer.max_servers (1)"});
}

TEST(LbCliTest, FlagTakesNoValue) { expect_error({"--help=yes"}, {"--help: takes no value"}); }

TEST(LbCliTest, ConfigFileErrorsPassThrough) {
  expect_error({"--config", "/nonexistent/lb.json"}, {"config: cannot read /nonexistent/lb.json"});
  const ConfigFile file(R"({"load_balancer": {"workers": "many"}})");
  expect_error({"--config", file.path(), "--workers", "2"},
               {"config: load_balancer.workers: \"many\""});
}

TEST(LbCliTest, AdminFlag) {
  EXPECT_EQ(must_parse({}).load_balancer.admin_listen.to_string(), "127.0.0.1:54080");
  const Config any_port = must_parse({"--admin", "127.0.0.1:0"});
  EXPECT_TRUE(any_port.load_balancer.admin_enabled);
  EXPECT_EQ(any_port.load_balancer.admin_port, 0);
  EXPECT_EQ(any_port.load_balancer.admin_listen.to_string(), "127.0.0.1:0");
  const Config v6 = must_parse({"--admin=[::1]:9100"});
  EXPECT_EQ(v6.load_balancer.admin_address, "::1");
  EXPECT_EQ(v6.load_balancer.admin_listen.to_string(), "[::1]:9100");
  const ConfigFile file(R"({"load_balancer": {"admin_enabled": false}})");
  EXPECT_TRUE(must_parse({"--config", file.path(), "--admin", "127.0.0.1:9100"})
                  .load_balancer.admin_enabled);
  EXPECT_FALSE(must_parse({"--admin", "off"}).load_balancer.admin_enabled);
  expect_error({"--admin", "9100"}, {"--admin: \"9100\"", "off or HOST:PORT"});
  expect_error({"--admin"}, {"--admin: missing value"});
  EXPECT_NE(lb_help_text().find("--admin HOST:PORT|off"), std::string::npos);
}

TEST(LbCliTest, ControlAddress) {
  const Config config = must_parse({"--listen", "10.0.0.100:53", "--control-address", "127.0.0.1"});
  EXPECT_EQ(config.load_balancer.control_address, "127.0.0.1");
  EXPECT_EQ(config.load_balancer.dataplane.listen.to_string(), "10.0.0.100:53");
  EXPECT_EQ(must_parse({"--control-address=::1"}).load_balancer.control_address, "::1");
  expect_error({"--control-address", "example.com"},
               {"--control-address: \"example.com\"", "IPv4 or IPv6 literal"});
  EXPECT_NE(lb_help_text().find("--control-address HOST"), std::string::npos);
  EXPECT_NE(lb_help_text().find("(default: 127.0.0.1:54080)"), std::string::npos);
}

TEST(LbCli, TakeoverSocketIsAKeyAndTakeOverAPath) {
  EXPECT_EQ(must_parse({}).load_balancer.takeover_socket, "");
  EXPECT_EQ(must_parse({"--takeover-socket", "/run/shortline/takeover.sock"})
                .load_balancer.takeover_socket,
            "/run/shortline/takeover.sock");
  expect_error({"--takeover-socket", "relative.sock"},
               {"--takeover-socket: \"relative.sock\"", "absolute path"});
  const LbCliResult result = parse({"--take-over", "/run/shortline/takeover.sock"});
  ASSERT_TRUE(result.command_line) << result.error;
  EXPECT_EQ(result.command_line->take_over_from, "/run/shortline/takeover.sock");
  EXPECT_TRUE(parse({}).command_line->take_over_from.empty());
  expect_error({"--take-over"}, {"--take-over: missing value (expected PATH)"});
  EXPECT_NE(lb_help_text().find("--take-over PATH"), std::string::npos);
}

}  // namespace
}  // namespace shortline

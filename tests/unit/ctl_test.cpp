// shortline-ctl's command line, the requests its commands become and the status table.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <initializer_list>
#include <string>
#include <vector>

#include "tools/ctl/ctl_options.h"
#include "tools/ctl/ctl_status_table.h"

namespace shortline::ctl {
namespace {

CtlParse parse(std::initializer_list<const char*> args) {
  std::vector<const char*> argv{"shortline-ctl"};
  argv.reserve(args.size() + 1);
  for (const char* arg : args) argv.push_back(arg);
  return parse_ctl_command_line(static_cast<int>(argv.size()), argv.data());
}

TEST(CtlTest, CommandsBecomeRequests) {
  const auto drain = parse({"--admin", "127.0.0.1:9", "drain", "[::1]:53"});
  ASSERT_TRUE(drain.options) << drain.error;
  EXPECT_EQ(drain.options->admin, "127.0.0.1:9");
  const CtlRequest r = request_for(*drain.options);
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.path, "/api/servers/drain?server=%5B%3A%3A1%5D%3A53");
  const auto add = parse({"--admin=127.0.0.1:9", "add", "127.0.0.1:53", "5"});
  ASSERT_TRUE(add.options) << add.error;
  EXPECT_EQ(request_for(*add.options).path, "/api/backends?address=127.0.0.1%3A53&weight=5");
  const auto status = parse({"--admin", "127.0.0.1:9", "status"});
  ASSERT_TRUE(status.options);
  EXPECT_EQ(request_for(*status.options).method, "GET");
  const auto health = parse({"--admin", "127.0.0.1:9", "health"});
  ASSERT_TRUE(health.options) << health.error;
  EXPECT_EQ(request_for(*health.options).method, "GET");
  EXPECT_EQ(request_for(*health.options).path, "/healthz");
  EXPECT_FALSE(parse({"--admin", "127.0.0.1:9", "health", "now"}).options);
  const auto reload = parse({"--admin", "127.0.0.1:9", "reload"});
  ASSERT_TRUE(reload.options);
  EXPECT_EQ(request_for(*reload.options).path, "/api/reload");
}

TEST(CtlTest, UsageErrorsSayWhat) {
  EXPECT_EQ(parse({}).error, "no command given");
  EXPECT_EQ(parse({"--admin", "127.0.0.1:9", "explode"}).error, "unknown command \"explode\"");
  EXPECT_NE(parse({"--admin", "127.0.0.1:9", "drain"}).error.find("usage: shortline-ctl drain"),
            std::string::npos);
  EXPECT_NE(parse({"--admin", "127.0.0.1:9", "status", "extra"}).error.find("usage"),
            std::string::npos);
  EXPECT_EQ(parse({"--colour", "x", "status"}).error, "unknown flag --colour");
  EXPECT_EQ(parse({"--admin"}).error, "--admin needs a value");
}

TEST(CtlTest, DefaultsComeFromTheConfigFile) {
  const std::string path = ::testing::TempDir() + "/ctl_test_config.json";
  std::ofstream(path) << R"({"load_balancer": {"admin_address": "127.0.0.2", "admin_port": 6100,
                              "admin_token_file": "/etc/token"}})";
  const auto parsed = parse({"--config", path.c_str(), "status"});
  ASSERT_TRUE(parsed.options) << parsed.error;
  EXPECT_EQ(parsed.options->admin, "127.0.0.2:6100");
  EXPECT_EQ(parsed.options->token_file, "/etc/token");
  const auto flags_win = parse({"--config", path.c_str(), "--admin", "127.0.0.1:7", "status"});
  ASSERT_TRUE(flags_win.options);
  EXPECT_EQ(flags_win.options->admin, "127.0.0.1:7");
  std::ofstream(path) << "{";
  EXPECT_FALSE(parse({"--config", path.c_str(), "status"}).options);
  std::remove(path.c_str());
}

TEST(CtlTest, StatusTableHasARowPerServer) {
  const std::string body = R"({"listen_address": "127.0.0.1:54001", "workers": 2,
      "policy": "shortest-queue", "affinity": "packet", "servers": [
      {"id": 3, "address": "127.0.0.1:50003", "state": "up", "reported_queue": 4,
       "in_flight": 1, "speed": 1.0, "requests": 1200, "health": "up"},
      {"id": 2147483648, "address": "127.0.0.1:9000", "state": "draining", "reported_queue": -1,
       "in_flight": 2, "speed": 0.25, "requests": 7, "health": "draining"}]})";
  std::string error;
  const std::string table = status_table(body, error);
  EXPECT_EQ(error, "");
  EXPECT_NE(table.find("id            queue  state"), std::string::npos) << table;
  EXPECT_NE(table.find("3                 4  up          1.00         1200"), std::string::npos)
      << table;
  EXPECT_NE(table.find("2147483648        2  draining    0.25            7"), std::string::npos)
      << "without reports the queue is the in-flight count\n" << table;
  EXPECT_EQ(status_table("not json", error), "");
  EXPECT_NE(error, "");
}

TEST(CtlTest, PercentEncodingKeepsOnlyUnreservedCharacters) {
  EXPECT_EQ(percent_encode("a-Z_9.~"), "a-Z_9.~");
  EXPECT_EQ(percent_encode("a b&c=d/"), "a%20b%26c%3Dd%2F");
}

}  // namespace
}  // namespace shortline::ctl

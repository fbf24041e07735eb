// shortline-server and shortline-client options with and without a config file: what the
// flags leave out comes from config.json and is described; flags win; a broken file and a
// missing one are clear errors.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <string>
#include <vector>

#include "tools/client/client_options.h"
#include "tools/server/server_options.h"

namespace shortline::tools {
namespace {

// Runs in a fresh folder so that ./config.json is the test's own; back to the old one after.
class PeerOptionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    old_dir_ = std::filesystem::current_path();
    dir_ = ::testing::TempDir() + "/shortline_peer_options_" + std::to_string(getpid());
    std::filesystem::create_directories(dir_);
    std::filesystem::current_path(dir_);
  }
  void TearDown() override {
    std::filesystem::current_path(old_dir_);
    std::filesystem::remove_all(dir_);
  }
  static void write_config(const std::string& text, const std::string& name = "config.json") {
    std::ofstream(name) << text;
  }
  // argv as the program gets it; the parsers only read it.
  static std::vector<char*> argv_of(std::initializer_list<const char*> args) {
    std::vector<char*> argv{const_cast<char*>("prog")};
    for (const char* arg : args) argv.push_back(const_cast<char*>(arg));
    return argv;
  }
  static bool server(std::initializer_list<const char*> args, ServerOptions& o,
                     std::string& error) {
    auto argv = argv_of(args);
    return parse_server_options(static_cast<int>(argv.size()), argv.data(), o, error);
  }
  static bool client(std::initializer_list<const char*> args, ClientOptions& o,
                     std::string& error) {
    auto argv = argv_of(args);
    return parse_client_options(static_cast<int>(argv.size()), argv.data(), o, error);
  }

  std::filesystem::path old_dir_;
  std::string dir_;
};

constexpr const char* kSeedConfig =
    R"({"server": {"start_id": "100", "port_range_start": "8000", "port_range_end": "8999"},
        "client": {"start_id": "1000"},
        "load_balancer": {"server_side_port": "54000", "client_side_port": "54001",
                          "listen_address": "0.0.0.0", "report_interval_ms": 5}})";

TEST_F(PeerOptionsTest, ServerWithoutConfigNamesBothWays) {
  ServerOptions o;
  std::string error;
  EXPECT_FALSE(server({"--port", "8081"}, o, error));
  EXPECT_NE(error.find("--id is required"), std::string::npos) << error;
  EXPECT_NE(error.find("config.json"), std::string::npos) << error;
  EXPECT_NE(error.find("--config FILE"), std::string::npos) << error;
}

TEST_F(PeerOptionsTest, ServerTakesWhatItLacksFromConfigAndSaysWhy) {
  write_config(kSeedConfig);
  ServerOptions o;
  std::string error;
  ASSERT_TRUE(server({"--port", "8081"}, o, error)) << error;
  EXPECT_EQ(o.server_id, 181u);
  ASSERT_EQ(o.balancers.size(), 1u);
  EXPECT_EQ(o.balancers[0].to_string(), "127.0.0.1:54000");  // 0.0.0.0 reached over loopback
  EXPECT_EQ(o.report_interval_ms, 5u);
  ASSERT_EQ(o.config_choices.size(), 3u);
  EXPECT_EQ(o.config_choices[0],
            "id 181 from config.json (server.start_id 100 + port 8081 - "
            "server.port_range_start 8000)");
  EXPECT_NE(o.config_choices[1].find("balancer 127.0.0.1:54000 from config.json"),
            std::string::npos);
}

TEST_F(PeerOptionsTest, ServerIdOutsideTheRangeNeverMeetsOneInside) {
  write_config(kSeedConfig);
  ServerOptions o;
  std::string error;
  ASSERT_TRUE(server({"--port", "9000"}, o, error)) << error;
  EXPECT_EQ(o.server_id, 100u + 1000u + 9000u);
  EXPECT_NE(o.config_choices[0].find("outside"), std::string::npos) << o.config_choices[0];
}

TEST_F(PeerOptionsTest, ServerFlagsWinOverTheFile) {
  write_config(kSeedConfig);
  ServerOptions o;
  std::string error;
  ASSERT_TRUE(server({"--port", "8081", "--id", "7", "--balancer", "127.0.0.1:6000",
                      "--report-interval-ms", "9"},
                     o, error))
      << error;
  EXPECT_EQ(o.server_id, 7u);
  EXPECT_EQ(o.balancers[0].to_string(), "127.0.0.1:6000");
  EXPECT_EQ(o.report_interval_ms, 9u);
  EXPECT_TRUE(o.config_choices.empty());  // nothing missing: ./config.json is not read
}

TEST_F(PeerOptionsTest, ServerBrokenConfigIsAClearError) {
  write_config("{\"server\": {\"start_id\": \"-1\"}}");
  ServerOptions o;
  std::string error;
  EXPECT_FALSE(server({"--port", "8081"}, o, error));
  EXPECT_EQ(error.rfind("config.json: config: server.start_id", 0), 0u) << error;
  ServerOptions named;
  EXPECT_FALSE(server({"--port", "8081", "--config", "missing.json"}, named, error));
  EXPECT_NE(error.find("missing.json"), std::string::npos) << error;
}

TEST_F(PeerOptionsTest, ServerNoConfigAndNoReports) {
  write_config(kSeedConfig);
  ServerOptions o;
  std::string error;
  ASSERT_TRUE(server({"--port", "8081", "--id", "3", "--balancer", "none"}, o, error)) << error;
  EXPECT_TRUE(o.balancers.empty());
  ServerOptions ignored;
  EXPECT_FALSE(server({"--port", "8081", "--no-config"}, ignored, error));
  EXPECT_NE(error.find("--id is required"), std::string::npos) << error;
}

TEST_F(PeerOptionsTest, ClientWithoutConfigNamesBothWays) {
  ClientOptions o;
  std::string error;
  EXPECT_FALSE(client({"--requests", "100"}, o, error));
  EXPECT_NE(error.find("--target is required"), std::string::npos) << error;
  EXPECT_NE(error.find("--config FILE"), std::string::npos) << error;
}

TEST_F(PeerOptionsTest, ClientTakesTargetAndIdFromConfig) {
  write_config(kSeedConfig);
  ClientOptions o;
  std::string error;
  ASSERT_TRUE(client({"--requests", "100"}, o, error)) << error;
  EXPECT_EQ(o.target.to_string(), "127.0.0.1:54001");
  EXPECT_EQ(o.client_id, 1000u);
  ASSERT_EQ(o.config_choices.size(), 2u);
  EXPECT_EQ(o.config_choices[0], "target 127.0.0.1:54001 from config.json "
                                 "(load_balancer.listen_address + client_side_port)");
  EXPECT_EQ(o.config_choices[1], "id 1000 from config.json (client.start_id)");
}

TEST_F(PeerOptionsTest, ClientFlagsWinAndConfigFlagNamesAFile) {
  write_config(R"({"load_balancer": {"client_side_port": "7000"}})", "other.json");
  ClientOptions o;
  std::string error;
  ASSERT_TRUE(client({"--requests", "1", "--config", "other.json", "--id", "5"}, o, error))
      << error;
  EXPECT_EQ(o.target.to_string(), "127.0.0.1:7000");
  EXPECT_EQ(o.client_id, 5u);
  ASSERT_EQ(o.config_choices.size(), 1u);
  EXPECT_NE(o.config_choices[0].find("from other.json"), std::string::npos);
  ClientOptions flagged;
  ASSERT_TRUE(client({"--requests", "1", "--target", "127.0.0.1:9", "--config", "other.json"},
                     flagged, error));
  EXPECT_EQ(flagged.target.to_string(), "127.0.0.1:9");
}

}  // namespace
}  // namespace shortline::tools

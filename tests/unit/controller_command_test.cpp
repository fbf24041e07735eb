// The server command template: splitting, substitution, and the errors a config can hold.
#include <gtest/gtest.h>

#include "control/controller/command_template.h"
#include "control/controller/controller.h"

namespace shortline::controller {
namespace {

TemplateValues all_values() {
  return {{"bin_dir", "/opt/sl/bin"},      {"port", "50003"},         {"id", "7"},
          {"balancer", "127.0.0.1:54000"}, {"host", "127.0.0.1"},     {"log_dir", "my logs"},
          {"service_ms", "2.5"},           {"service_dist", "fixed"}, {"workers", "2"}};
}

TEST(ControllerCommandTest, DefaultTemplateExpandsToTheServerCommand) {
  ASSERT_EQ(check_command_template(kDefaultServerCommand), "");
  const auto argv = expand_command(kDefaultServerCommand, all_values());
  ASSERT_TRUE(argv.has_value());
  const std::vector<std::string> expected = {"/opt/sl/bin/shortline-server",
                                             "--port",
                                             "50003",
                                             "--id",
                                             "7",
                                             "--balancer",
                                             "127.0.0.1:54000",
                                             "--listen-address",
                                             "127.0.0.1",
                                             "--service-ms",
                                             "2.5",
                                             "--service-dist",
                                             "fixed",
                                             "--workers",
                                             "2",
                                             "--log-dir",
                                             "my logs"};
  EXPECT_EQ(*argv, expected);  // "my logs" stays one argument: no shell splitting
}

TEST(ControllerCommandTest, PlaceholdersInsideWordsAndRepeated) {
  const auto argv =
      expand_command("  run\t--listen={host}:{port}  --name=srv-{id}-{id}\n", all_values());
  ASSERT_TRUE(argv.has_value());
  const std::vector<std::string> expected = {"run", "--listen=127.0.0.1:50003", "--name=srv-7-7"};
  EXPECT_EQ(*argv, expected);
}

TEST(ControllerCommandTest, TemplateWithoutPlaceholdersIsKept) {
  const auto argv = expand_command("/bin/true", {});
  ASSERT_TRUE(argv.has_value());
  EXPECT_EQ(*argv, std::vector<std::string>{"/bin/true"});
}

TEST(ControllerCommandTest, MalformedTemplatesAreNamed) {
  EXPECT_EQ(check_command_template(""), "an empty command");
  EXPECT_EQ(check_command_template("   \t"), "an empty command");
  EXPECT_EQ(check_command_template("srv --port {prot}"), "unknown placeholder {prot}");
  EXPECT_EQ(check_command_template("srv {}"), "unknown placeholder {}");
  EXPECT_NE(check_command_template("srv --port {port"), "");
  EXPECT_NE(check_command_template("srv --port port}"), "");
  EXPECT_NE(check_command_template("srv {{port}}"), "");
}

TEST(ControllerCommandTest, MissingValueOrBadTemplateGivesNothing) {
  EXPECT_EQ(expand_command("srv {port}", {{"id", "1"}}), std::nullopt);
  EXPECT_EQ(expand_command("srv {nope}", all_values()), std::nullopt);
  EXPECT_EQ(expand_command("", all_values()), std::nullopt);
}

// With several balancers in front of the pool, every server reports to each of them.
TEST(ControllerCommandTest, EveryBalancerIsPassedToTheServers) {
  auto parsed = parse_config(R"({"load_balancer": {"control_address": "192.168.1.11"},
    "controller": {"balancers": ["192.168.1.12:54000", "[fd00::13]:54010"]}})");
  ASSERT_TRUE(parsed.config) << parsed.error;
  ControllerOptions options;
  options.bin_dir = "/opt/sl/bin";
  PoolSettings settings;
  ASSERT_EQ(make_pool_settings(*parsed.config, options, settings), "");
  TemplateValues values = settings.values;
  values.emplace_back("port", "50000");
  values.emplace_back("id", "1");
  const auto argv = expand_command(settings.command, values);
  ASSERT_TRUE(argv.has_value());
  std::vector<std::string> balancers;
  for (std::size_t i = 0; i + 1 < argv->size(); ++i)
    if ((*argv)[i] == "--balancer") balancers.push_back((*argv)[i + 1]);
  const std::vector<std::string> expected = {"192.168.1.11:54000", "192.168.1.12:54000",
                                             "[fd00::13]:54010"};
  EXPECT_EQ(balancers, expected);
  EXPECT_EQ(settings.add_window_ms, parsed.config->load_balancer.scale_cooldown_ms);
}

}  // namespace
}  // namespace shortline::controller

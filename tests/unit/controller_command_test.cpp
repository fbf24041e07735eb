// The server command template: splitting, substitution, and the errors a config can hold.
#include <gtest/gtest.h>

#include "control/controller/command_template.h"

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

}  // namespace
}  // namespace shortline::controller

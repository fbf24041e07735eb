// Safe by default off loopback: a control port that admits sources beyond this host needs
// auth_key_file, or the operator's explicit allow_unauthenticated_reports.
#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "control/config.h"
#include "control/source_filter.h"

namespace shortline {
namespace {

std::string sources_config(std::string_view sources_json, std::string_view extra = "") {
  std::string text(R"({"load_balancer": {"control_allowed_sources": )");
  text.append(sources_json);
  if (!extra.empty()) text.append(", ").append(extra);
  return text.append("}}");
}

bool loopback_only(std::string_view prefix) {
  const auto parsed = SourcePrefix::parse(prefix);
  EXPECT_TRUE(parsed) << prefix;
  return parsed && within_loopback(*parsed);
}

TEST(ReportAuthentication, LoopbackPrefixesAreTold) {
  for (const char* inside : {"127.0.0.0/8", "127.0.0.1", "127.1.0.0/16", "::1", "::1/128"})
    EXPECT_TRUE(loopback_only(inside)) << inside;
  for (const char* beyond : {"0.0.0.0/0", "126.0.0.0/7", "10.0.0.0/8", "192.168.1.7", "::/0",
                             "::1/127", "::ffff:127.0.0.1", "fd00::/8"})
    EXPECT_FALSE(loopback_only(beyond)) << beyond;
}

TEST(ReportAuthentication, LoopbackSourcesNeedNoKey) {
  const auto result = parse_config(sources_config(R"(["127.0.0.0/8", "::1/128"])"));
  EXPECT_TRUE(result.config) << result.error;
  EXPECT_TRUE(parse_config("{}").config);
  EXPECT_FALSE(parse_config("{}").config->load_balancer.allow_unauthenticated_reports);
}

TEST(ReportAuthentication, SourcesBeyondLoopbackWithoutKeyAreRefusedNamingTheKeys) {
  const auto result = parse_config(sources_config(R"(["127.0.0.0/8", "10.0.0.0/8"])"));
  ASSERT_FALSE(result.config);
  EXPECT_EQ(result.error.rfind("config: load_balancer.control_allowed_sources", 0), 0u)
      << result.error;
  for (const char* part : {"10.0.0.0/8", "beyond loopback", "load_balancer.auth_key_file",
                           "load_balancer.allow_unauthenticated_reports: true"})
    EXPECT_NE(result.error.find(part), std::string::npos) << part << " in " << result.error;
  EXPECT_EQ(result.error.find('\n'), std::string::npos) << "one line";
  EXPECT_FALSE(parse_config(sources_config(R"(["fd00::/8"])")).config);
  EXPECT_FALSE(parse_config(sources_config(R"(["0.0.0.0/0"])",
                                           R"("allow_unauthenticated_reports": false)"))
                   .config);
}

TEST(ReportAuthentication, AKeyFileAdmitsSourcesBeyondLoopback) {
  const auto result =
      parse_config(sources_config(R"(["10.0.0.0/8"])", R"("auth_key_file": "/etc/key")"));
  ASSERT_TRUE(result.config) << result.error;
  EXPECT_EQ(result.config->load_balancer.auth_key_file, "/etc/key");
}

TEST(ReportAuthentication, AnExplicitAllowAdmitsThemUnauthenticated) {
  const auto result = parse_config(
      sources_config(R"(["0.0.0.0/0", "::/0"])", R"("allow_unauthenticated_reports": true)"));
  ASSERT_TRUE(result.config) << result.error;
  EXPECT_TRUE(result.config->load_balancer.allow_unauthenticated_reports);
  EXPECT_EQ(result.config->load_balancer.auth_key_file, "");
}

TEST(ReportAuthentication, TheAllowMustBeABoolean) {
  const auto result = parse_config(R"({"load_balancer": {"allow_unauthenticated_reports": 1}})");
  ASSERT_FALSE(result.config);
  EXPECT_NE(result.error.find("load_balancer.allow_unauthenticated_reports: 1"), std::string::npos)
      << result.error;
}

}  // namespace
}  // namespace shortline

// plan_capacity: what fits into an open-file limit, with and without upstream_sockets set,
// and the error that names both numbers when the config asks for more than fits.
#include "dataplane/file_budget.h"

#include <gtest/gtest.h>
#include <sys/resource.h>

namespace shortline {
namespace {

constexpr uint32_t kPorts = 28232;  // the kernel's default ephemeral range

TEST(FileBudgetTest, AutoFitsSystemdsDefaultLimit) {
  DataplaneConfig config;
  const CapacityPlan plan = plan_capacity(config, 1, 1024, kPorts);
  EXPECT_TRUE(plan.error.empty()) << plan.error;
  EXPECT_EQ(plan.files_reserved, DataplaneConfig::kFilesReservedBase +
                                     DataplaneConfig::kFilesReservedPerWorker);
  EXPECT_EQ(plan.sockets_room, 1024 - plan.files_reserved);
  EXPECT_EQ(plan.sockets_total, plan.sockets_room);
  EXPECT_EQ(plan.per_worker.sessions, plan.per_worker.sockets);  // capped by the sockets
  EXPECT_LE(plan.sockets_total + plan.files_reserved, 1024u);
}

TEST(FileBudgetTest, AutoIsCappedByMaxSessionsPortsAndTheAutoMaximum) {
  DataplaneConfig config;
  config.max_sessions = 300;
  EXPECT_EQ(plan_capacity(config, 1, 1'000'000, kPorts).sockets_total, 300u);
  config.max_sessions = 65536;
  EXPECT_EQ(plan_capacity(config, 1, 1'000'000, kPorts).sockets_total, kPorts / 8);
  EXPECT_EQ(plan_capacity(config, 1, 1'000'000, 60000).sockets_total, kAutoSocketsMax);
  EXPECT_EQ(plan_capacity(config, 1, 1'000'000, 8000).sockets_total, 1000u);
}

TEST(FileBudgetTest, SplitsEvenlyOverWorkers) {
  DataplaneConfig config;
  config.upstream_sockets = 1000;
  config.max_sessions = 600;
  const CapacityPlan plan = plan_capacity(config, 3, 100'000, kPorts);
  ASSERT_TRUE(plan.error.empty()) << plan.error;
  EXPECT_EQ(plan.per_worker.sockets, 333u);
  EXPECT_EQ(plan.per_worker.sessions, 200u);  // max_sessions / workers
  EXPECT_EQ(plan.sockets_total, 999u);
  EXPECT_EQ(plan.sessions_total, 600u);
}

TEST(FileBudgetTest, AskingForMoreThanFitsNamesBothNumbers) {
  DataplaneConfig config;
  config.upstream_sockets = 5000;
  const CapacityPlan plan = plan_capacity(config, 2, 1024, kPorts);
  EXPECT_NE(plan.error.find("upstream_sockets is 5000"), std::string::npos) << plan.error;
  EXPECT_NE(plan.error.find("RLIMIT_NOFILE 1024"), std::string::npos) << plan.error;
  EXPECT_NE(plan.error.find("room for " + std::to_string(plan.sockets_room)), std::string::npos)
      << plan.error;
}

TEST(FileBudgetTest, MoreSocketsThanEphemeralPortsIsAnError) {
  DataplaneConfig config;
  config.upstream_sockets = 30000;
  const CapacityPlan plan = plan_capacity(config, 1, 1'000'000, kPorts);
  EXPECT_NE(plan.error.find("ip_local_port_range"), std::string::npos) << plan.error;
}

TEST(FileBudgetTest, ALimitBelowOneSocketPerWorkerIsAnError) {
  DataplaneConfig config;
  const CapacityPlan plan = plan_capacity(config, 8, 64, kPorts);
  EXPECT_NE(plan.error.find("fewer than one per worker"), std::string::npos) << plan.error;
}

TEST(FileBudgetTest, RaisingTheLimitReachesTheHardLimit) {
  const FileLimit limit = raise_file_limit();
  if (limit.hard != RLIM_INFINITY) {
    EXPECT_EQ(limit.soft, limit.hard);
  }
  EXPECT_LE(limit.soft_before, limit.soft);
  EXPECT_GT(ephemeral_port_count(), 0u);
}

}  // namespace
}  // namespace shortline

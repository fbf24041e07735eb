// The controller's server pool: ports (next free one in the range, skipping ports in use
// and ports a member holds, wrapping, exhaustion), ids, and min/max enforcement.
#include <gtest/gtest.h>

#include <set>

#include "control/controller/server_pool.h"

namespace shortline::controller {
namespace {

PoolLimits limits(uint16_t first, uint16_t last, uint32_t min = 1, uint32_t max = 16) {
  PoolLimits l;
  l.start_id = 7;
  l.port_first = first;
  l.port_last = last;
  l.servers_min = min;
  l.servers_max = max;
  return l;
}

TEST(ControllerServerPoolTest, PortsAreHandedOutInOrderSkippingPortsInUse) {
  const std::set<uint16_t> in_use = {50001, 50003};
  ServerPool pool(limits(50000, 50005), [&in_use](uint16_t port) { return !in_use.count(port); });
  EXPECT_EQ(pool.allocate_port(), 50000);
  EXPECT_EQ(pool.allocate_port(), 50002);  // 50001 is in use
  EXPECT_EQ(pool.allocate_port(), 50004);  // 50003 too
  EXPECT_EQ(pool.allocate_port(), 50005);
}

TEST(ControllerServerPoolTest, PortsHeldByMembersAreSkippedAndTheCursorWraps) {
  ServerPool pool(limits(50000, 50002), [](uint16_t) { return true; });
  pool.add(pool.take_id(), *pool.allocate_port(), 100, 0);  // 50000
  pool.add(pool.take_id(), *pool.allocate_port(), 101, 0);  // 50001
  EXPECT_EQ(pool.allocate_port(), 50002);
  // Wrapping past the end finds no free port: 50000 and 50001 are held, 50002 was handed
  // out but not added, so it comes round again.
  EXPECT_EQ(pool.allocate_port(), 50002);
  pool.erase(7);  // the server on 50000 left
  EXPECT_EQ(pool.allocate_port(), 50000);
}

TEST(ControllerServerPoolTest, ExhaustedRangeGivesNothing) {
  ServerPool pool(limits(50000, 50001), [](uint16_t port) { return port != 50001; });
  pool.add(pool.take_id(), *pool.allocate_port(), 100, 0);
  EXPECT_EQ(pool.allocate_port(), std::nullopt);
}

TEST(ControllerServerPoolTest, SinglePortRangeAndTopOfThePortSpace) {
  ServerPool pool(limits(65535, 65535), [](uint16_t) { return true; });
  EXPECT_EQ(pool.allocate_port(), 65535);
  EXPECT_EQ(pool.allocate_port(), 65535);
}

TEST(ControllerServerPoolTest, IdsCountUpFromStartIdAndAreNotReused) {
  ServerPool pool(limits(50000, 50010), [](uint16_t) { return true; });
  EXPECT_EQ(pool.take_id(), 7u);
  pool.add(8, 50000, 100, 0);
  EXPECT_EQ(pool.take_id(), 8u);
  pool.erase(8);
  EXPECT_EQ(pool.take_id(), 9u);
}

TEST(ControllerServerPoolTest, MinAndMaxCountOnlyServersNotStopping) {
  ServerPool pool(limits(50000, 50010, 1, 2), [](uint16_t) { return true; });
  EXPECT_TRUE(pool.can_add());
  EXPECT_FALSE(pool.can_remove());  // 0 servers: below min already
  pool.add(1, 50000, 100, 0);
  EXPECT_TRUE(pool.can_add());
  EXPECT_FALSE(pool.can_remove());  // 1 = min
  pool.add(2, 50001, 101, 0);
  EXPECT_FALSE(pool.can_add());  // 2 = max
  EXPECT_TRUE(pool.can_remove());
  pool.find(2)->state = MemberState::stopping;  // draining: no longer counted
  EXPECT_EQ(pool.active(), 1u);
  EXPECT_TRUE(pool.can_add());
  EXPECT_FALSE(pool.can_remove());
  pool.find(1)->state = MemberState::restarting;  // crashed, coming back: still counted
  EXPECT_EQ(pool.active(), 1u);
}

TEST(ControllerServerPoolTest, FindByIdAndPid) {
  ServerPool pool(limits(50000, 50010), [](uint16_t) { return true; });
  pool.add(3, 50000, 1234, 5);
  ASSERT_NE(pool.find(3), nullptr);
  EXPECT_EQ(pool.find(3)->port, 50000);
  EXPECT_EQ(pool.find_pid(1234), pool.find(3));
  EXPECT_EQ(pool.find_pid(-1), nullptr);  // restarting members have pid -1: never matched
  EXPECT_EQ(pool.find(4), nullptr);
}

}  // namespace
}  // namespace shortline::controller

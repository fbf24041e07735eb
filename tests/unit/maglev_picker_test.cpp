// The maglev policy in ServerPicker and ServerTable: picks follow the published table,
// balancers with the same servers agree, a DOWN server moves only its own flows, the
// table is rebuilt on membership changes only, and the load bound diverts only flows
// whose server is over it.
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "dataplane/maglev_table.h"
#include "dataplane/server_picker.h"
#include "dataplane/server_table.h"

namespace shortline {
namespace {

constexpr uint32_t kMaxServers = 16;
constexpr uint32_t kFlows = 10'000;

NetAddress server(uint32_t n) {
  const auto parsed = NetAddress::parse("10.2.0." + std::to_string(n + 1) + ":5300");
  EXPECT_TRUE(parsed.has_value());
  return parsed.value_or(NetAddress{});
}

LiveSettings maglev_settings(double load_bound) {
  LiveSettings settings;
  settings.policy = Policy::maglev;
  settings.maglev_load_bound = load_bound;
  return settings;
}

uint64_t flow_hash(uint32_t n) {
  sockaddr_in v4{};
  v4.sin_family = AF_INET;
  v4.sin_addr.s_addr = htonl(0xCB007100 + (n % 250));  // 203.0.113.x
  v4.sin_port = htons(static_cast<uint16_t>(1024 + n / 250));
  const FlowKey key = FlowKey::from_name(reinterpret_cast<const sockaddr*>(&v4), sizeof(v4),
                                         FlowKey::kAnyServer);
  return maglev_flow_hash(key, LocalAddress{});
}

// The server address each of kFlows flows is placed on, one flow per batch (so that the
// batch's own placements do not load the pick).
std::vector<std::string> place_flows(ServerTable& table, double load_bound,
                                     uint32_t* bounded_moves = nullptr) {
  ServerPicker picker(Policy::maglev, kMaxServers, 1, false);
  picker.set_load_bound(load_bound);
  std::vector<std::string> placed;
  for (uint32_t f = 0; f < kFlows; ++f) {
    const PoolSnapshot* pool = table.enter_batch(0);
    picker.begin_batch(*pool, table);
    const int32_t member = picker.pick(flow_hash(f));
    if (bounded_moves != nullptr && picker.last_pick_bounded_move()) ++*bounded_moves;
    placed.push_back(member == kNoServer ? "none" : pool->members[static_cast<std::size_t>(member)].address.to_string());
    (void)picker.end_batch();
  }
  return placed;
}

void add_servers(ServerTable& table, const std::vector<uint32_t>& servers) {
  for (const uint32_t n : servers) ASSERT_TRUE(table.add_server(server(n), 1).has_value());
}

TEST(MaglevPicker, PicksTheTableEntryOfTheFlow) {
  ServerTable table(kMaxServers, 1);
  table.set_live_settings(maglev_settings(0));
  add_servers(table, {0, 1, 2, 3, 4});
  const PoolSnapshot* pool = table.enter_batch(0);
  ASSERT_NE(pool->maglev, nullptr);
  EXPECT_EQ(pool->maglev->size(), MaglevTable::size_for(kMaxServers));
  const std::vector<std::string> placed = place_flows(table, 0);
  for (uint32_t f = 0; f < kFlows; ++f) {
    const uint32_t slot = pool->maglev->lookup(flow_hash(f));
    const auto member = std::find_if(pool->members.begin(), pool->members.end(),
                                     [&](const PoolMember& m) { return m.slot == slot; });
    ASSERT_NE(member, pool->members.end());
    EXPECT_EQ(placed[f], member->address.to_string()) << "flow " << f;
  }
}

TEST(MaglevPicker, BalancersThatRegisteredTheServersInAnotherOrderAgree) {
  ServerTable first(kMaxServers, 1);
  ServerTable second(kMaxServers, 1);
  first.set_live_settings(maglev_settings(0));
  second.set_live_settings(maglev_settings(0));
  add_servers(first, {0, 1, 2, 3, 4, 5});
  ASSERT_TRUE(second.add_server(server(9), 1).has_value());  // a slot taken, then freed
  add_servers(second, {5, 3, 1, 4, 0, 2});
  second.remove_server(0);
  EXPECT_EQ(place_flows(first, 0), place_flows(second, 0));
}

TEST(MaglevPicker, ADownServerMovesOnlyItsOwnFlowsSpreadOverTheRest) {
  ServerTable table(kMaxServers, 1);
  table.set_live_settings(maglev_settings(0));
  add_servers(table, {0, 1, 2, 3, 4, 5, 6, 7});
  const auto maglev_before = table.enter_batch(0)->maglev;
  const std::vector<std::string> before = place_flows(table, 0);
  const std::string lost = server(3).to_string();
  table.set_state(*table.find_server(server(3)), ServerState::down);
  const std::vector<std::string> after = place_flows(table, 0);
  EXPECT_EQ(table.enter_batch(0)->maglev, maglev_before);  // no rebuild for a state change
  uint32_t moved_others = 0;
  uint32_t lost_flows = 0;
  std::vector<uint32_t> heirs(8, 0);
  for (uint32_t f = 0; f < kFlows; ++f) {
    ASSERT_NE(after[f], lost);
    if (before[f] != lost) {
      moved_others += before[f] != after[f] ? 1 : 0;
      continue;
    }
    ++lost_flows;
    for (uint32_t n = 0; n < 8; ++n) heirs[n] += after[f] == server(n).to_string() ? 1 : 0;
  }
  EXPECT_EQ(moved_others, 0u);
  EXPECT_GT(lost_flows, kFlows / 8 / 2);
  for (uint32_t n = 0; n < 8; ++n) {
    if (n == 3) continue;
    EXPECT_GT(heirs[n], lost_flows / 7 / 3) << "server " << n;
    EXPECT_LT(heirs[n], lost_flows / 7 * 3) << "server " << n;
  }
  table.set_state(*table.find_server(server(3)), ServerState::up);
  EXPECT_EQ(place_flows(table, 0), before);  // back: its flows come home
}

TEST(MaglevPicker, TheTableIsRebuiltOnMembershipAndWeightOnly) {
  ServerTable table(kMaxServers, 1);
  table.set_live_settings(maglev_settings(0));
  add_servers(table, {0, 1, 2});
  const auto three = table.enter_batch(0)->maglev;
  LiveSettings other = maglev_settings(2);
  table.set_live_settings(other);
  EXPECT_EQ(table.enter_batch(0)->maglev, three);
  add_servers(table, {3});
  const auto four = table.enter_batch(0)->maglev;
  EXPECT_NE(four, three);
  table.set_configured_weight(*table.find_server(server(3)), 3);
  EXPECT_NE(table.enter_batch(0)->maglev, four);
  table.remove_server(*table.find_server(server(3)));
  EXPECT_TRUE(table.enter_batch(0)->maglev->built_from(three->backends(), three->size()));
  other.policy = Policy::shortest_queue;
  table.set_live_settings(other);
  EXPECT_EQ(table.enter_batch(0)->maglev, nullptr);  // only the maglev policy pays for one
}

TEST(MaglevPicker, LoadBoundDivertsOnlyTheLoadedServersFlows) {
  ServerTable table(kMaxServers, 1);
  table.set_live_settings(maglev_settings(1.25));
  add_servers(table, {0, 1, 2, 3});
  for (uint32_t n = 0; n < 4; ++n) table.slot(*table.find_server(server(n))).other_load.store(10);
  uint32_t moves = 0;
  const std::vector<std::string> even = place_flows(table, 1.25, &moves);
  EXPECT_EQ(moves, 0u);  // every server at the mean: nobody over 1.25 x

  const uint32_t hot = *table.find_server(server(2));
  table.slot(hot).other_load.store(100);  // mean 32.5, bound 41: server 2 is over it
  const std::vector<std::string> loaded = place_flows(table, 1.25, &moves);
  const std::vector<std::string> again = place_flows(table, 1.25);
  uint32_t hot_flows = 0;
  for (uint32_t f = 0; f < kFlows; ++f) {
    if (even[f] != server(2).to_string()) {
      EXPECT_EQ(loaded[f], even[f]) << "flow " << f << " was not on the hot server";
      continue;
    }
    ++hot_flows;
    EXPECT_NE(loaded[f], even[f]) << "flow " << f;
    EXPECT_EQ(again[f], loaded[f]) << "flow " << f << ": the diversion is deterministic";
  }
  EXPECT_EQ(moves, hot_flows);
  EXPECT_GT(hot_flows, 0u);

  for (uint32_t n = 0; n < 4; ++n) table.slot(*table.find_server(server(n))).other_load.store(0);
  table.slot(hot).other_load.store(7);  // 7 of 7 in flight: over 1.25 x the mean, but few
  uint32_t light_moves = 0;
  EXPECT_EQ(place_flows(table, 1.25, &light_moves), even);
  EXPECT_EQ(light_moves, 0u);

  uint32_t unbounded_moves = 0;
  EXPECT_EQ(place_flows(table, 0, &unbounded_moves), even);  // 0 = off
  EXPECT_EQ(unbounded_moves, 0u);
}

TEST(MaglevPicker, WithoutATableItStillPlacesByFlowHash) {
  ServerTable table(kMaxServers, 1);  // policy shortest-queue: no table published
  add_servers(table, {0, 1, 2});
  const std::vector<std::string> placed = place_flows(table, 0);
  for (const std::string& s : placed) EXPECT_NE(s, "none");
  EXPECT_EQ(place_flows(table, 0), placed);
}

}  // namespace
}  // namespace shortline

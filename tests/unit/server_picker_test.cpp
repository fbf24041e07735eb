// ServerPicker: shortest-queue picks the least (load + 1) / weight and spreads ties, the
// other policies cover every UP server, and DOWN or DRAINING servers are never chosen.
#include "dataplane/server_picker.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace shortline {
namespace {

constexpr uint32_t kMaxServers = 16;

NetAddress address_of(uint32_t n) {
  const std::string text = "10.0.0." + std::to_string(n + 1) + ":5300";
  auto parsed = NetAddress::parse(text);
  EXPECT_TRUE(parsed.has_value()) << text;
  return parsed.value_or(NetAddress{});
}

// A table of `count` UP servers in slots 0..count-1 with the given weight.
void add_servers(ServerTable& table, uint32_t count, uint32_t weight = 1) {
  for (uint32_t n = 0; n < count; ++n) {
    const auto slot = table.add_server(address_of(n), weight);
    ASSERT_TRUE(slot.has_value());
    ASSERT_EQ(*slot, n);
  }
}

// Places `picks` requests in one batch; returns the chosen slots in order (kNoServer kept
// as UINT32_MAX).
std::vector<uint32_t> place_batch(ServerPicker& picker, ServerTable& table, uint32_t picks) {
  const PoolSnapshot* pool = table.enter_batch(0);
  picker.begin_batch(*pool, table);
  std::vector<uint32_t> slots;
  for (uint32_t p = 0; p < picks; ++p) {
    const int32_t member = picker.pick();
    if (member == kNoServer) {
      slots.push_back(UINT32_MAX);
      continue;
    }
    EXPECT_GE(member, 0);
    EXPECT_LT(static_cast<std::size_t>(member), pool->members.size());
    slots.push_back(pool->members[static_cast<std::size_t>(member)].slot);
  }
  const uint32_t placed = picker.end_batch();
  const auto expected = static_cast<uint32_t>(
      std::count_if(slots.begin(), slots.end(), [](uint32_t s) { return s != UINT32_MAX; }));
  EXPECT_EQ(placed, expected);
  return slots;
}

std::vector<uint32_t> counts_by_slot(const std::vector<uint32_t>& slots) {
  std::vector<uint32_t> counts(kMaxServers, 0);
  for (uint32_t s : slots) {
    if (s < kMaxServers) ++counts[s];
  }
  return counts;
}

constexpr Policy kAllPolicies[] = {Policy::shortest_queue, Policy::power_of_two,
                                   Policy::round_robin, Policy::random};

TEST(ServerPickerTest, ShortestQueuePicksTheLeastLoaded) {
  ServerTable table(kMaxServers, 1);
  add_servers(table, 5);
  const int64_t in_flight[] = {5, 3, 7, 1, 4};
  for (uint32_t s = 0; s < 5; ++s) table.slot(s).in_flight.store(in_flight[s]);
  ServerPicker picker(Policy::shortest_queue, kMaxServers, 1, false);
  EXPECT_EQ(place_batch(picker, table, 1), std::vector<uint32_t>{3});

  // other_load (a reported queue that is not ours) counts too.
  table.slot(3).other_load.store(10);
  EXPECT_EQ(place_batch(picker, table, 1), std::vector<uint32_t>{1});
}

TEST(ServerPickerTest, ShortestQueueBatchSeesItsOwnPlacements) {
  ServerTable table(kMaxServers, 1);
  add_servers(table, 5);
  std::vector<int64_t> load = {5, 3, 7, 1, 4};
  for (uint32_t s = 0; s < 5; ++s) table.slot(s).in_flight.store(load[s]);
  ServerPicker picker(Policy::shortest_queue, kMaxServers, 7, false);
  // Every pick of the batch goes to a server whose load (including this batch's earlier
  // placements) is the minimum at that moment.
  for (uint32_t s : place_batch(picker, table, 20)) {
    ASSERT_LT(s, 5u);
    EXPECT_EQ(load[s], *std::min_element(load.begin(), load.end()));
    ++load[s];
  }
  // 20 initial + 20 placed = 40 over 5 servers: every one levelled at 8.
  EXPECT_EQ(load, (std::vector<int64_t>{8, 8, 8, 8, 8}));
}

TEST(ServerPickerTest, ShortestQueueTiesRotateAcrossBatches) {
  ServerTable table(kMaxServers, 1);
  add_servers(table, 4);
  ServerPicker picker(Policy::shortest_queue, kMaxServers, 3, false);
  std::vector<uint32_t> first_picks;
  for (int batch = 0; batch < 400; ++batch) first_picks.push_back(place_batch(picker, table, 1)[0]);
  const auto counts = counts_by_slot(first_picks);
  for (uint32_t s = 0; s < 4; ++s) EXPECT_GT(counts[s], 0u) << "slot " << s;
  EXPECT_LT(counts[0], 400u) << "ties always went to the lowest id";
}

TEST(ServerPickerTest, ShortestQueueTiesSpreadWithinABatch) {
  ServerTable table(kMaxServers, 1);
  add_servers(table, 8);
  for (uint64_t seed = 0; seed < 20; ++seed) {
    ServerPicker picker(Policy::shortest_queue, kMaxServers, seed, false);
    std::vector<uint32_t> counts(8, 0);
    // No server gets a second request before every server has one (and so on).
    for (uint32_t s : place_batch(picker, table, 21)) {
      ASSERT_LT(s, 8u);
      EXPECT_EQ(counts[s], *std::min_element(counts.begin(), counts.end())) << "seed " << seed;
      ++counts[s];
    }
  }
}

TEST(ServerPickerTest, ShortestQueueHonoursWeights) {
  ServerTable table(kMaxServers, 1);
  ASSERT_EQ(table.add_server(address_of(0), 3), std::optional<uint32_t>{0});
  ASSERT_EQ(table.add_server(address_of(1), 1), std::optional<uint32_t>{1});
  // (load + 1) / weight: 8 picks at equal load split 6:2 whichever way ties break.
  for (uint64_t seed = 0; seed < 20; ++seed) {
    ServerPicker picker(Policy::shortest_queue, kMaxServers, seed, false);
    const auto counts = counts_by_slot(place_batch(picker, table, 8));
    EXPECT_EQ(counts[0], 6u) << "seed " << seed;
    EXPECT_EQ(counts[1], 2u) << "seed " << seed;
  }
}

TEST(ServerPickerTest, DownAndDrainingServersAreNeverPicked) {
  for (Policy policy : kAllPolicies) {
    ServerTable table(kMaxServers, 1);
    add_servers(table, 4);
    table.slot(0).in_flight.store(50);
    table.slot(3).in_flight.store(20);
    table.set_state(1, ServerState::down);      // idle, so the most attractive
    table.set_state(2, ServerState::draining);  // likewise
    ServerPicker picker(policy, kMaxServers, 11, false);
    std::vector<uint32_t> all;
    for (int batch = 0; batch < 100; ++batch) {
      const auto slots = place_batch(picker, table, 8);
      EXPECT_EQ(picker.candidates(), 2u);
      all.insert(all.end(), slots.begin(), slots.end());
    }
    const auto counts = counts_by_slot(all);
    EXPECT_EQ(counts[1], 0u) << policy_name(policy);
    EXPECT_EQ(counts[2], 0u) << policy_name(policy);
    EXPECT_EQ(counts[0] + counts[3], all.size()) << policy_name(policy);
  }
}

TEST(ServerPickerTest, NoServerWhenAllAreDownOrThePoolIsEmpty) {
  for (Policy policy : kAllPolicies) {
    ServerTable empty(kMaxServers, 1);
    ServerPicker picker(policy, kMaxServers, 5, false);
    EXPECT_EQ(place_batch(picker, empty, 3), std::vector<uint32_t>(3, UINT32_MAX))
        << policy_name(policy);
    EXPECT_EQ(picker.candidates(), 0u);

    ServerTable table(kMaxServers, 1);
    add_servers(table, 3);
    table.set_state(0, ServerState::down);
    table.set_state(1, ServerState::draining);
    table.set_state(2, ServerState::down);
    EXPECT_EQ(place_batch(picker, table, 3), std::vector<uint32_t>(3, UINT32_MAX))
        << policy_name(policy);

    table.remove_server(0);
    table.remove_server(1);
    table.remove_server(2);
    EXPECT_EQ(place_batch(picker, table, 2), std::vector<uint32_t>(2, UINT32_MAX))
        << policy_name(policy);
  }
}

// fail_open: a silent server (DOWN only because its reports stopped) is never picked while
// another is UP, but when none is, the batch places on the silent ones rather than drop;
// servers DOWN for other faults, and DRAINING ones, stay out even then.
TEST(ServerPickerTest, WithNoServerUpSilentServersTakeTheLoad) {
  for (Policy policy : kAllPolicies) {
    ServerTable table(kMaxServers, 1);
    add_servers(table, 4);
    table.set_state(0, ServerState::silent);
    table.set_state(1, ServerState::down);
    table.set_state(2, ServerState::silent);
    ServerPicker picker(policy, kMaxServers, 7, false);
    auto counts = counts_by_slot(place_batch(picker, table, 20));
    EXPECT_FALSE(picker.failing_open()) << policy_name(policy);
    EXPECT_EQ(counts[3], 20u) << policy_name(policy) << ": slot 3 is UP";

    table.set_state(3, ServerState::draining);
    counts = counts_by_slot(place_batch(picker, table, 20));
    EXPECT_TRUE(picker.failing_open()) << policy_name(policy);
    EXPECT_EQ(counts[0] + counts[2], 20u) << policy_name(policy);
    EXPECT_GT(counts[0], 0u) << policy_name(policy);
    EXPECT_GT(counts[2], 0u) << policy_name(policy);

    picker.set_fail_open(false);
    EXPECT_EQ(place_batch(picker, table, 3), std::vector<uint32_t>(3, UINT32_MAX))
        << policy_name(policy);
    EXPECT_FALSE(picker.failing_open()) << policy_name(policy);
  }
}

TEST(ServerPickerTest, PowerOfTwoPicksTheLessLoadedOfTwo) {
  ServerTable table(kMaxServers, 1);
  add_servers(table, 2);
  table.slot(0).in_flight.store(10);
  table.slot(1).in_flight.store(2);
  ServerPicker picker(Policy::power_of_two, kMaxServers, 9, false);
  // With two servers both are always sampled, so the lighter one always wins.
  for (int batch = 0; batch < 200; ++batch) {
    EXPECT_EQ(place_batch(picker, table, 1), std::vector<uint32_t>{1});
  }
}

TEST(ServerPickerTest, PowerOfTwoNeverPicksDown) {
  ServerTable table(kMaxServers, 1);
  add_servers(table, 3);
  table.slot(1).in_flight.store(100);
  table.slot(2).in_flight.store(100);
  table.set_state(0, ServerState::down);  // the idle one
  ServerPicker picker(Policy::power_of_two, kMaxServers, 13, false);
  std::vector<uint32_t> all;
  for (int batch = 0; batch < 200; ++batch) {
    const auto slots = place_batch(picker, table, 4);
    all.insert(all.end(), slots.begin(), slots.end());
  }
  const auto counts = counts_by_slot(all);
  EXPECT_EQ(counts[0], 0u);
  EXPECT_GT(counts[1], 0u);
  EXPECT_GT(counts[2], 0u);

  // A single UP server is the only choice.
  table.set_state(1, ServerState::down);
  EXPECT_EQ(place_batch(picker, table, 3), std::vector<uint32_t>(3, 2));
}

TEST(ServerPickerTest, RoundRobinCyclesThroughUpServersEvenly) {
  ServerTable table(kMaxServers, 1);
  add_servers(table, 5);
  table.set_state(2, ServerState::down);
  table.slot(0).in_flight.store(1000);  // ignored by round-robin
  table.slot(1).weight.store(10);       // likewise
  ServerPicker picker(Policy::round_robin, kMaxServers, 21, false);
  const auto slots = place_batch(picker, table, 400);
  // Every window of 4 consecutive picks covers the 4 UP servers once.
  for (std::size_t i = 0; i + 4 <= slots.size(); ++i) {
    std::vector<uint32_t> window(slots.begin() + static_cast<std::ptrdiff_t>(i),
                                 slots.begin() + static_cast<std::ptrdiff_t>(i + 4));
    std::sort(window.begin(), window.end());
    ASSERT_EQ(window, (std::vector<uint32_t>{0, 1, 3, 4})) << "at pick " << i;
  }
  const auto counts = counts_by_slot(slots);
  EXPECT_EQ(counts[0], 100u);
  EXPECT_EQ(counts[1], 100u);
  EXPECT_EQ(counts[2], 0u);
  EXPECT_EQ(counts[3], 100u);
  EXPECT_EQ(counts[4], 100u);
}

TEST(ServerPickerTest, RandomSpreadsOverAllServers) {
  ServerTable table(kMaxServers, 1);
  add_servers(table, 8);
  table.slot(5).in_flight.store(1000);  // ignored by random
  ServerPicker picker(Policy::random, kMaxServers, 17, false);
  std::vector<uint32_t> all;
  for (int batch = 0; batch < 10; ++batch) {
    const auto slots = place_batch(picker, table, 100);
    all.insert(all.end(), slots.begin(), slots.end());
  }
  const auto counts = counts_by_slot(all);
  for (uint32_t s = 0; s < 8; ++s) EXPECT_GT(counts[s], 0u) << "slot " << s;
}

TEST(ServerPickerTest, OneWayCountsDispatchesSinceTheLastReport) {
  ServerTable table(kMaxServers, 1);
  add_servers(table, 2);
  // Slot 0: 10 dispatched since its report, nothing in flight.
  table.slot(0).requests_total.store(100);
  table.slot(0).dispatched_at_report.store(90);
  // Slot 1: 2 dispatched since its report, but a large in-flight count that one-way
  // mode must ignore.
  table.slot(1).requests_total.store(50);
  table.slot(1).dispatched_at_report.store(48);
  table.slot(1).in_flight.store(1000);

  ServerPicker one_way(Policy::shortest_queue, kMaxServers, 1, true);
  EXPECT_EQ(place_batch(one_way, table, 1), std::vector<uint32_t>{1});
  ServerPicker two_way(Policy::shortest_queue, kMaxServers, 1, false);
  EXPECT_EQ(place_batch(two_way, table, 1), std::vector<uint32_t>{0});

  // In one-way mode other_load still adds: slot 1 becomes 2 + 20 = 22 > 10.
  table.slot(1).other_load.store(20);
  EXPECT_EQ(place_batch(one_way, table, 1), std::vector<uint32_t>{0});
}

// (load + 1) / weight ties exactly between a light server at load 1 (2/500) and a heavy one
// at load 3 (4/1000): the heavy one, which will serve the request sooner, wins every time,
// and ties between the equal heavy ones still rotate.
TEST(ServerPickerTest, ShortestQueueTieGoesToTheHeavierServer) {
  ServerTable table(kMaxServers, 1);
  const uint32_t weights[] = {500, 1000, 500, 1000};
  const int64_t loads[] = {1, 3, 1, 3};
  for (uint32_t s = 0; s < 4; ++s) {
    ASSERT_EQ(table.add_server(address_of(s), weights[s]), std::optional<uint32_t>{s});
    table.slot(s).in_flight.store(loads[s]);
  }
  ServerPicker picker(Policy::shortest_queue, kMaxServers, 5, false);
  std::vector<uint32_t> first_picks;
  for (int batch = 0; batch < 400; ++batch) {
    const auto slots = place_batch(picker, table, 4);
    ASSERT_EQ(slots.size(), 4u);
    // A heavy one; the other heavy one (still 4/1000, tying the lights, so it wins); then
    // the two lights (2/500 = 4/1000 against the heavies' 5/1000 now).
    EXPECT_EQ(weights[slots[0]], 1000u) << "batch " << batch;
    EXPECT_EQ(weights[slots[1]], 1000u) << "batch " << batch;
    EXPECT_NE(slots[0], slots[1]);
    EXPECT_EQ(weights[slots[2]], 500u) << "batch " << batch;
    EXPECT_EQ(weights[slots[3]], 500u) << "batch " << batch;
    EXPECT_NE(slots[2], slots[3]);
    first_picks.push_back(slots[0]);
  }
  const auto counts = counts_by_slot(first_picks);
  EXPECT_EQ(counts[0] + counts[2], 0u);  // never the lighter one
  EXPECT_GT(counts[1], 0u);              // and not always the lower id of the two heavy ones
  EXPECT_GT(counts[3], 0u);
}

// Weights 1000, 1000, 250, 250 from zero load: each pick is the least (load + 1) / weight at
// that moment (ties to the heavier), so the slow servers get their first request only once
// the fast ones hold 4 each (the fast ones' 4/1000 ties the slow ones' 1/250 at load 3), and
// over a long batch the fast ones take 4 requests for each one a slow one takes.
TEST(ServerPickerTest, ShortestQueueSharesFollowLoadPlusOneOverWeight) {
  ServerTable table(kMaxServers, 1);
  const uint32_t weights[] = {1000, 1000, 250, 250};
  for (uint32_t s = 0; s < 4; ++s)
    ASSERT_EQ(table.add_server(address_of(s), weights[s]), std::optional<uint32_t>{s});
  for (uint64_t seed = 0; seed < 10; ++seed) {
    ServerPicker picker(Policy::shortest_queue, kMaxServers, seed, false);
    std::vector<int64_t> load(4, 0);
    int first_slow_pick = -1;
    const auto slots = place_batch(picker, table, 200);
    for (std::size_t p = 0; p < slots.size(); ++p) {
      const uint32_t chosen = slots[p];
      ASSERT_LT(chosen, 4u);
      for (uint32_t other = 0; other < 4; ++other) {
        // (load_c + 1) x w_o <= (load_o + 1) x w_c, and on equality w_c >= w_o.
        const int64_t lhs = (load[chosen] + 1) * int64_t{weights[other]};
        const int64_t rhs = (load[other] + 1) * int64_t{weights[chosen]};
        ASSERT_LE(lhs, rhs) << "seed " << seed << " pick " << p << " other " << other;
        if (lhs == rhs) {
          ASSERT_GE(weights[chosen], weights[other]) << "seed " << seed;
        }
      }
      if (first_slow_pick < 0 && weights[chosen] == 250) {
        first_slow_pick = static_cast<int>(p);
        EXPECT_EQ(load[0], 4) << "seed " << seed;
        EXPECT_EQ(load[1], 4) << "seed " << seed;
      }
      ++load[chosen];
    }
    EXPECT_EQ(first_slow_pick, 8) << "seed " << seed;
    EXPECT_EQ(load[0] + load[1] + load[2] + load[3], 200);
    EXPECT_LE(std::max(load[0], load[1]) - std::min(load[0], load[1]), 1);
    EXPECT_LE(std::max(load[2], load[3]) - std::min(load[2], load[3]), 1);
    const double share =
        static_cast<double>(load[0] + load[1]) / static_cast<double>(load[2] + load[3]);
    EXPECT_NEAR(share, 4.0, 0.5) << "seed " << seed;
  }
}

// A half-open server (state probing, token 1) gets the first request of the batch whose
// worker took the token, and nothing else; a batch that picks nothing hands the token back.
TEST(ServerPickerTest, AProbingServerGetsExactlyOneProbe) {
  ServerTable table(kMaxServers, 2);
  add_servers(table, 3);
  table.slot(0).in_flight.store(2);
  table.slot(2).in_flight.store(7);  // stale requests from before it went DOWN
  table.set_state(2, ServerState::probing);
  table.slot(2).probe_token.store(1);

  ServerPicker picker(Policy::shortest_queue, kMaxServers, 3, false);
  const PoolSnapshot* pool = table.enter_batch(0);
  auto slot_of = [&](int32_t member) {
    EXPECT_GE(member, 0);
    return pool->members[static_cast<std::size_t>(member)].slot;
  };
  picker.begin_batch(*pool, table);
  EXPECT_EQ(table.slot(2).probe_token.load(), 0u);  // taken at begin_batch
  EXPECT_EQ(picker.candidates(), 2u);               // the probing one is not a candidate
  EXPECT_EQ(picker.load_seen_at(2), 0u);

  // Another worker's batch meanwhile finds no token: it never sends there.
  ServerPicker other(Policy::shortest_queue, kMaxServers, 4, false);
  other.begin_batch(*table.enter_batch(1), table);
  for (int p = 0; p < 5; ++p) EXPECT_NE(slot_of(other.pick()), 2u);
  EXPECT_EQ(other.end_batch(), 5u);

  EXPECT_EQ(slot_of(picker.pick()), 2u);  // the probe: the batch's first request
  EXPECT_EQ(picker.last_queue_ahead(), 0u);
  // The rest go by load; last_queue_ahead is the load before each pick.
  EXPECT_EQ(slot_of(picker.pick()), 1u);
  EXPECT_EQ(picker.last_queue_ahead(), 0u);
  EXPECT_EQ(slot_of(picker.pick()), 1u);
  EXPECT_EQ(picker.last_queue_ahead(), 1u);
  const uint32_t fourth = slot_of(picker.pick());  // 2 against 2
  EXPECT_TRUE(fourth == 0 || fourth == 1);
  EXPECT_EQ(picker.last_queue_ahead(), 2u);
  EXPECT_EQ(picker.load_seen_at(fourth), 3u);
  EXPECT_EQ(picker.end_batch(), 4u);
  EXPECT_EQ(table.slot(2).probe_token.load(), 0u);  // spent

  // Token 0: later batches send it nothing.
  for (int batch = 0; batch < 20; ++batch) {
    const auto slots = place_batch(picker, table, 6);
    EXPECT_EQ(counts_by_slot(slots)[2], 0u) << "batch " << batch;
  }

  // A batch with no request hands the token back for the next one.
  table.slot(2).probe_token.store(1);
  picker.begin_batch(*table.enter_batch(0), table);
  EXPECT_EQ(table.slot(2).probe_token.load(), 0u);
  EXPECT_EQ(picker.end_batch(), 0u);
  EXPECT_EQ(table.slot(2).probe_token.load(), 1u);
  EXPECT_EQ(place_batch(picker, table, 1), std::vector<uint32_t>{2});
  EXPECT_EQ(table.slot(2).probe_token.load(), 0u);

  // With nothing else UP the probe is still sent, then there is no server.
  table.set_state(0, ServerState::down);
  table.set_state(1, ServerState::down);
  table.slot(2).probe_token.store(1);
  EXPECT_EQ(place_batch(picker, table, 3), (std::vector<uint32_t>{2, UINT32_MAX, UINT32_MAX}));
  EXPECT_EQ(table.slot(2).probe_token.load(), 0u);
}

// Three picks on one server at load 7 (5 in flight, 2 reported that are not ours).
void expect_queue_ahead_counts_the_batch(Policy policy, ServerTable& table, uint32_t slot) {
  ServerPicker picker(policy, kMaxServers, 9, false);
  const PoolSnapshot* pool = table.enter_batch(0);
  picker.begin_batch(*pool, table);
  EXPECT_EQ(picker.load_seen_at(slot), 7u) << policy_name(policy);
  for (uint32_t p = 0; p < 3; ++p) {
    const int32_t member = picker.pick();
    ASSERT_GE(member, 0) << policy_name(policy);
    EXPECT_EQ(pool->members[static_cast<std::size_t>(member)].slot, slot);
    EXPECT_EQ(picker.last_queue_ahead(), 7u + p) << policy_name(policy) << " pick " << p;
  }
  EXPECT_EQ(picker.load_seen_at(slot), 10u) << policy_name(policy);
  EXPECT_EQ(picker.end_batch(), 3u);
}

TEST(ServerPickerTest, LastQueueAheadIsTheLoadBeforeThePick) {
  ServerTable table(kMaxServers, 1);
  add_servers(table, 1);
  table.slot(0).in_flight.store(5);
  table.slot(0).other_load.store(2);
  for (Policy policy : {Policy::shortest_queue, Policy::round_robin, Policy::random})
    expect_queue_ahead_counts_the_batch(policy, table, 0);

  // Power-of-two between two servers always takes the lighter one.
  ServerTable two(kMaxServers, 1);
  add_servers(two, 2);
  two.slot(0).in_flight.store(5);
  two.slot(0).other_load.store(2);
  two.slot(1).in_flight.store(100);
  expect_queue_ahead_counts_the_batch(Policy::power_of_two, two, 0);
}

TEST(ServerPickerTest, PowerOfTwoWithOneServerCountsItsPicks) {
  ServerTable table(kMaxServers, 1);
  add_servers(table, 1);
  table.slot(0).in_flight.store(5);
  table.slot(0).other_load.store(2);
  expect_queue_ahead_counts_the_batch(Policy::power_of_two, table, 0);
}

// peer_balancers: the change in our in-flight count at a server since its last report
// counts once more per peer, in this batch and in the counts the workers published since;
// never for servers that have not reported (they have no "since").
TEST(ServerPickerTest, PeerBalancersCountOurPlacementsSinceTheReportForThemToo) {
  ServerTable table(kMaxServers, 1);
  add_servers(table, 2);
  for (uint32_t s = 0; s < 2; ++s) table.slot(s).load_reported.store(true);
  table.slot(1).in_flight.store(2);  // ours, on the wire when the report came
  table.slot(1).in_flight_at_report.store(2);
  ServerPicker alone(Policy::shortest_queue, kMaxServers, 3, false);
  EXPECT_EQ(place_batch(alone, table, 2), (std::vector<uint32_t>{0, 0}));
  ServerPicker with_peers(Policy::shortest_queue, kMaxServers, 3, false);
  with_peers.set_peer_balancers(2);
  // Slot 0 takes the first and then weighs 0 + 3 against slot 1's 2.
  EXPECT_EQ(place_batch(with_peers, table, 2), (std::vector<uint32_t>{0, 1}));
  // Published since the report: one more of ours in flight at slot 0 counts 3.
  table.slot(0).in_flight.store(1);
  EXPECT_EQ(place_batch(with_peers, table, 1), (std::vector<uint32_t>{1}));
  // A server that never reported is judged by our own counts only.
  table.slot(0).load_reported.store(false);
  EXPECT_EQ(place_batch(with_peers, table, 1), (std::vector<uint32_t>{0}));
}

// Replies since the report count as well: a server whose queue drains for us likely
// drained for the peers, down to none of their reported share and never below.
TEST(ServerPickerTest, PeerBalancersCountRepliesSinceTheReportForThemToo) {
  ServerTable table(kMaxServers, 1);
  add_servers(table, 2);
  for (uint32_t s = 0; s < 2; ++s) table.slot(s).load_reported.store(true);
  table.slot(0).in_flight.store(1);  // slot 0: 1 of ours, 0 of theirs
  table.slot(0).in_flight_at_report.store(1);
  table.slot(1).other_load.store(4);  // slot 1: 4 of theirs; 2 of ours answered since
  table.slot(1).in_flight_at_report.store(2);
  ServerPicker alone(Policy::shortest_queue, kMaxServers, 3, false);
  EXPECT_EQ(place_batch(alone, table, 1), (std::vector<uint32_t>{0}));
  ServerPicker with_peers(Policy::shortest_queue, kMaxServers, 3, false);
  with_peers.set_peer_balancers(2);
  EXPECT_EQ(place_batch(with_peers, table, 1), (std::vector<uint32_t>{1}));  // 4 - 2 x 2 = 0
  // Their share falls to none at most: 1 theirs + 3 ours (5 at the report) is 3, not 0.
  table.slot(0).in_flight.store(2);
  table.slot(0).in_flight_at_report.store(2);
  table.slot(1).other_load.store(1);
  table.slot(1).in_flight.store(3);
  table.slot(1).in_flight_at_report.store(5);
  EXPECT_EQ(place_batch(with_peers, table, 1), (std::vector<uint32_t>{0}));
}

}  // namespace
}  // namespace shortline

// ServerTable: slot allocation, snapshot publication and epoch reclamation, and exact
// counts when several workers publish SlotDeltas at once. The two concurrent tests are
// the ones the TSan and ASan builds are there for: threads start together on a latch.
#include "dataplane/server_table.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <deque>
#include <latch>
#include <string>
#include <thread>
#include <vector>

#include "dataplane/slot_deltas.h"

namespace shortline {
namespace {

NetAddress address_with_port(uint32_t port) {
  const std::string text = "127.0.0.1:" + std::to_string(port);
  auto parsed = NetAddress::parse(text);
  EXPECT_TRUE(parsed.has_value()) << text;
  return parsed.value_or(NetAddress{});
}

TEST(ServerTableTest, AddServerFillsSlotsAndPublishesNewerSnapshots) {
  ServerTable table(4, 1);
  EXPECT_EQ(table.capacity(), 4u);
  const PoolSnapshot* empty = table.enter_batch(0);
  ASSERT_NE(empty, nullptr);
  EXPECT_TRUE(empty->members.empty());
  uint64_t version = empty->version;

  for (uint32_t n = 0; n < 3; ++n) {
    const uint32_t generation_before = table.slot(n).generation.load();
    const auto slot = table.add_server(address_with_port(7000 + n), n + 1);
    ASSERT_EQ(slot, std::optional<uint32_t>{n});
    EXPECT_EQ(table.slot(n).state.load(), ServerState::up);
    EXPECT_EQ(table.slot(n).weight.load(), n + 1);
    EXPECT_EQ(table.slot(n).generation.load(), generation_before + 1);

    const PoolSnapshot* pool = table.enter_batch(0);
    EXPECT_GT(pool->version, version);
    version = pool->version;
    ASSERT_EQ(pool->members.size(), n + 1);
    EXPECT_EQ(pool->members.back().slot, n);
    EXPECT_EQ(pool->members.back().address, address_with_port(7000 + n));
  }
  EXPECT_EQ(table.members().size(), 3u);
  table.go_offline(0);
}

TEST(ServerTableTest, WeightZeroBecomesOne) {
  ServerTable table(2, 1);
  const auto slot = table.add_server(address_with_port(7000), 0);
  ASSERT_TRUE(slot.has_value());
  EXPECT_EQ(table.slot(*slot).weight.load(), 1u);
}

TEST(ServerTableTest, FindServerByAddress) {
  ServerTable table(4, 1);
  ASSERT_TRUE(table.add_server(address_with_port(7000), 1).has_value());
  ASSERT_TRUE(table.add_server(address_with_port(7001), 1).has_value());
  EXPECT_EQ(table.find_server(address_with_port(7001)), std::optional<uint32_t>{1});
  EXPECT_EQ(table.find_server(address_with_port(7000)), std::optional<uint32_t>{0});
  EXPECT_EQ(table.find_server(address_with_port(7002)), std::nullopt);
}

TEST(ServerTableTest, RemoveServerDropsItFromTheSnapshot) {
  ServerTable table(4, 1);
  for (uint32_t n = 0; n < 3; ++n) ASSERT_TRUE(table.add_server(address_with_port(7000 + n), 1));
  const uint64_t version = table.enter_batch(0)->version;
  table.remove_server(1);

  const PoolSnapshot* pool = table.enter_batch(0);
  EXPECT_GT(pool->version, version);
  ASSERT_EQ(pool->members.size(), 2u);
  for (const PoolMember& m : pool->members) EXPECT_NE(m.slot, 1u);
  EXPECT_EQ(table.slot(1).state.load(), ServerState::down);
  EXPECT_EQ(table.find_server(address_with_port(7001)), std::nullopt);
  EXPECT_EQ(table.members().size(), 2u);

  // Once no worker can hold the old snapshot, the freed slot is the next one handed out,
  // with a new generation.
  table.reclaim();
  const uint32_t generation = table.slot(1).generation.load();
  EXPECT_EQ(table.add_server(address_with_port(7009), 1), std::optional<uint32_t>{1});
  EXPECT_EQ(table.slot(1).generation.load(), generation + 1);
  table.go_offline(0);
}

TEST(ServerTableTest, RemovedSlotWithRequestsInFlightIsNotReused) {
  ServerTable table(2, 1);
  ASSERT_EQ(table.add_server(address_with_port(7000), 1), std::optional<uint32_t>{0});
  ASSERT_EQ(table.add_server(address_with_port(7001), 1), std::optional<uint32_t>{1});
  table.slot(0).in_flight.store(3);
  table.remove_server(0);
  table.reclaim();
  EXPECT_EQ(table.add_server(address_with_port(7002), 1), std::nullopt);
  table.slot(0).in_flight.store(0);
  EXPECT_EQ(table.add_server(address_with_port(7002), 1), std::optional<uint32_t>{0});
}

TEST(ServerTableTest, RemovedSlotIsNotReusedWhileAWorkerMayHoldASnapshotNamingIt) {
  ServerTable table(2, 1);
  ASSERT_EQ(table.add_server(address_with_port(7000), 1), std::optional<uint32_t>{0});
  ASSERT_EQ(table.add_server(address_with_port(7001), 1), std::optional<uint32_t>{1});
  const PoolSnapshot* held = table.enter_batch(0);  // still names slot 0 as port 7000
  table.remove_server(0);
  table.reclaim();
  EXPECT_EQ(table.add_server(address_with_port(7002), 1), std::nullopt);
  EXPECT_EQ(held->members[0].address.port(), 7000);
  (void)table.enter_batch(0);  // the worker passed a batch boundary
  table.reclaim();
  EXPECT_EQ(table.add_server(address_with_port(7002), 1), std::optional<uint32_t>{0});
  table.go_offline(0);
}

TEST(ServerTableTest, CapacityExhaustionReturnsNullopt) {
  ServerTable table(3, 1);
  for (uint32_t n = 0; n < 3; ++n) {
    EXPECT_EQ(table.add_server(address_with_port(7000 + n), 1), std::optional<uint32_t>{n});
  }
  EXPECT_EQ(table.add_server(address_with_port(7003), 1), std::nullopt);
  EXPECT_EQ(table.members().size(), 3u);
}

TEST(ServerTableTest, ReclaimWaitsForEveryOnlineWorker) {
  ServerTable table(4, 2);
  const PoolSnapshot* held = table.enter_batch(0);  // worker 1 stays offline
  ASSERT_TRUE(table.add_server(address_with_port(7000), 1));
  ASSERT_TRUE(table.add_server(address_with_port(7001), 1));
  // Worker 0 may still read the empty snapshot it entered with.
  EXPECT_EQ(table.reclaim(), 2u);
  EXPECT_TRUE(held->members.empty());

  const PoolSnapshot* now = table.enter_batch(0);
  EXPECT_EQ(now->members.size(), 2u);
  EXPECT_EQ(table.reclaim(), 0u);

  // Worker 1 comes online and holds the current snapshot; the next one waits for it.
  (void)table.enter_batch(1);
  table.remove_server(0);
  (void)table.enter_batch(0);
  EXPECT_EQ(table.reclaim(), 1u);
  table.go_offline(1);
  EXPECT_EQ(table.reclaim(), 0u);
  table.go_offline(0);
}

// Four workers dispatch and answer through their own SlotDeltas; the shared counters must
// come out exact, and in_flight can never be seen below zero (each worker publishes its
// requests before their replies).
TEST(ServerTableTest, CountsAreExactUnderConcurrentDispatch) {
  constexpr uint32_t kSlots = 8;
  constexpr uint32_t kThreads = 4;
  constexpr uint32_t kOperations = 200'000;
  constexpr uint32_t kPublishEvery = 64;
  ServerTable table(kSlots, kThreads);
  for (uint32_t n = 0; n < kSlots; ++n) ASSERT_TRUE(table.add_server(address_with_port(7000 + n), 1));

  std::array<std::array<uint64_t, kSlots>, kThreads> sent{};
  std::atomic<uint32_t> running{kThreads};
  std::atomic<uint64_t> bad_observations{0};
  std::latch start(kThreads + 1);

  auto worker = [&](uint32_t t) {
    SlotDeltas deltas(kSlots);
    std::array<uint32_t, kPublishEvery> outstanding{};
    uint64_t random = 0x9e3779b97f4a7c15ULL * (t + 1);
    start.arrive_and_wait();
    for (uint32_t done = 0; done < kOperations;) {
      const uint32_t n = std::min(kPublishEvery, kOperations - done);
      for (uint32_t i = 0; i < n; ++i) {
        random = random * 6364136223846793005ULL + 1442695040888963407ULL;
        const auto slot = static_cast<uint32_t>(random >> 61);  // 0..7, uneven per thread
        outstanding[i] = slot;
        deltas.add_in_flight(slot, 1);
        deltas.add_request(slot);
        ++sent[t][slot];
      }
      deltas.publish(table);
      for (uint32_t i = 0; i < n; ++i) {
        deltas.add_in_flight(outstanding[i], -1);
        deltas.add_reply(outstanding[i]);
      }
      deltas.publish(table);
      done += n;
    }
    running.fetch_sub(1);
  };
  auto observer = [&] {
    start.arrive_and_wait();
    while (running.load() != 0) {
      for (uint32_t s = 0; s < kSlots; ++s) {
        const int64_t in_flight = table.slot(s).in_flight.load(std::memory_order_relaxed);
        if (in_flight < 0 || in_flight > int64_t{kThreads} * kPublishEvery) {
          bad_observations.fetch_add(1);
        }
      }
    }
  };

  std::vector<std::thread> threads;
  for (uint32_t t = 0; t < kThreads; ++t) threads.emplace_back(worker, t);
  threads.emplace_back(observer);
  for (auto& thread : threads) thread.join();

  EXPECT_EQ(bad_observations.load(), 0u);
  uint64_t total = 0;
  for (uint32_t s = 0; s < kSlots; ++s) {
    uint64_t expected = 0;
    for (uint32_t t = 0; t < kThreads; ++t) expected += sent[t][s];
    total += expected;
    const ServerSlot& slot = table.slot(s);
    EXPECT_EQ(slot.in_flight.load(), 0) << "slot " << s;
    EXPECT_EQ(slot.requests_total.load(), expected) << "slot " << s;
    EXPECT_EQ(slot.replies_total.load(), expected) << "slot " << s;
  }
  EXPECT_EQ(total, uint64_t{kThreads} * kOperations);
}

// Workers read every member of the snapshot they entered with while the control thread
// adds, removes and reclaims. A snapshot freed too early is a use-after-free (ASan) or a
// race between the reader and the delete (TSan).
TEST(ServerTableTest, SnapshotsAreReclaimedSafelyUnderConcurrency) {
  constexpr uint32_t kWorkers = 3;
  constexpr uint32_t kBatches = 20'000;
  constexpr uint32_t kPortBase = 6000;
  constexpr uint32_t kPorts = 1000;
  constexpr std::size_t kMembersMax = 8;
  constexpr uint32_t kControlRoundsMin = 2'000;  // workers keep going until this many
  constexpr uint32_t kPassesPerBatch = 4;
  ServerTable table(16, kWorkers);
  std::deque<uint32_t> slots;
  for (uint32_t n = 0; n < 4; ++n) {
    const auto slot = table.add_server(address_with_port(kPortBase + kPorts - 1 - n), 1);
    ASSERT_TRUE(slot.has_value());
    slots.push_back(*slot);
  }
  std::latch start(kWorkers + 1);
  std::atomic<uint32_t> running{kWorkers};
  std::atomic<uint32_t> control_rounds{0};
  std::atomic<uint64_t> bad_reads{0};
  std::atomic<uint64_t> members_read{0};

  auto worker = [&](uint32_t w) {
    uint64_t last_version = 0;
    uint64_t bad = 0;
    uint64_t read = 0;
    start.arrive_and_wait();
    for (uint32_t b = 0; b < kBatches || control_rounds.load() < kControlRoundsMin; ++b) {
      const PoolSnapshot* pool = table.enter_batch(w);
      if (pool->version < last_version) ++bad;
      last_version = pool->version;
      if (pool->members.size() > kMembersMax) ++bad;
      // A few passes, as a worker's batch reads the snapshot more than once; a longer
      // hold widens the window in which an early free would be caught.
      for (uint32_t pass = 0; pass < kPassesPerBatch; ++pass) {
        for (const PoolMember& m : pool->members) {
          const uint16_t port = m.address.port();
          if (port < kPortBase || port >= kPortBase + kPorts || m.slot >= table.capacity()) ++bad;
          ++read;
        }
      }
    }
    table.go_offline(w);
    bad_reads.fetch_add(bad);
    members_read.fetch_add(read);
    running.fetch_sub(1);
  };
  auto control = [&] {
    start.arrive_and_wait();
    for (uint32_t i = 0; running.load() != 0; ++i) {
      if (slots.size() < kMembersMax && (i % 3 != 0 || slots.empty())) {
        const auto slot = table.add_server(address_with_port(kPortBase + i % kPorts), 1);
        if (slot) slots.push_back(*slot);
      } else {
        table.remove_server(slots.front());
        slots.pop_front();
      }
      (void)table.reclaim();
      control_rounds.fetch_add(1);
    }
  };

  std::vector<std::thread> threads;
  for (uint32_t w = 0; w < kWorkers; ++w) threads.emplace_back(worker, w);
  threads.emplace_back(control);
  for (auto& thread : threads) thread.join();

  EXPECT_EQ(bad_reads.load(), 0u);
  EXPECT_GT(members_read.load(), 0u);
  for (uint32_t w = 0; w < kWorkers; ++w) table.go_offline(w);
  EXPECT_EQ(table.reclaim(), 0u);
}

}  // namespace
}  // namespace shortline

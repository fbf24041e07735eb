// SessionTable and FlowKey: index basics, capacity, generations, the LRU and pending lists,
// and backward-shift deletion checked against std::unordered_map on a small, crowded table.
#include "dataplane/session_table.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <bit>
#include <cstring>
#include <random>
#include <unordered_map>
#include <vector>

namespace shortline {
namespace {

FlowKey v4_key(uint32_t address, uint16_t port, uint32_t slot = FlowKey::kAnyServer) {
  sockaddr_in name{};
  name.sin_family = AF_INET;
  name.sin_addr.s_addr = htonl(address);
  name.sin_port = htons(port);
  return FlowKey::from_name(reinterpret_cast<const sockaddr*>(&name), sizeof(name), slot);
}

FlowKey v6_key(const char* address, uint16_t port, uint32_t slot = FlowKey::kAnyServer) {
  sockaddr_in6 name{};
  name.sin6_family = AF_INET6;
  EXPECT_EQ(inet_pton(AF_INET6, address, &name.sin6_addr), 1) << address;
  name.sin6_port = htons(port);
  return FlowKey::from_name(reinterpret_cast<const sockaddr*>(&name), sizeof(name), slot);
}

// Key number n of a test universe: distinct for distinct n.
FlowKey numbered_key(uint32_t n) {
  return v4_key(0x0a000000u + n, static_cast<uint16_t>(1000 + n % 7));
}

// ---- FlowKey ----

TEST(FlowKeyTest, Ipv4FromSockaddr) {
  const FlowKey key = v4_key(0xc0000201u, 5353, 4);  // 192.0.2.1
  EXPECT_EQ(key.family, AF_INET);
  EXPECT_EQ(key.port, htons(5353));
  EXPECT_EQ(key.address_high, 0u);
  EXPECT_EQ(key.address_low, uint64_t{htonl(0xc0000201u)});
  EXPECT_EQ(key.server_slot, 4u);
}

TEST(FlowKeyTest, Ipv6FromSockaddr) {
  const FlowKey key = v6_key("2001:db8::1:2", 53);
  EXPECT_EQ(key.family, AF_INET6);
  EXPECT_EQ(key.port, htons(53));
  EXPECT_EQ(key.server_slot, FlowKey::kAnyServer);
  in6_addr expected{};
  ASSERT_EQ(inet_pton(AF_INET6, "2001:db8::1:2", &expected), 1);
  uint64_t words[2];
  std::memcpy(words, &expected, sizeof(words));
  EXPECT_EQ(key.address_high, words[0]);
  EXPECT_EQ(key.address_low, words[1]);
}

TEST(FlowKeyTest, DifferentPortsSlotsAndAddressesDiffer) {
  const FlowKey base = v4_key(0x0a000001u, 4000, 1);
  const FlowKey other_port = v4_key(0x0a000001u, 4001, 1);
  const FlowKey other_slot = v4_key(0x0a000001u, 4000, 2);
  const FlowKey any_slot = v4_key(0x0a000001u, 4000);
  const FlowKey other_address = v4_key(0x0a000002u, 4000, 1);
  for (const FlowKey* key : {&other_port, &other_slot, &any_slot, &other_address}) {
    EXPECT_NE(*key, base);
    EXPECT_NE(key->hash(), base.hash());
  }
  const FlowKey v6 = v6_key("2001:db8::1", 4000, 1);
  const FlowKey v6_other_port = v6_key("2001:db8::1", 4001, 1);
  const FlowKey v6_other_slot = v6_key("2001:db8::1", 4000, 3);
  EXPECT_NE(v6, v6_other_port);
  EXPECT_NE(v6, v6_other_slot);
  EXPECT_NE(v6.hash(), v6_other_port.hash());
  EXPECT_NE(v6.hash(), v6_other_slot.hash());
  // An IPv4 address and its IPv4-mapped IPv6 form are different clients.
  EXPECT_NE(v4_key(0x0a000001u, 4000, 1), v6_key("::ffff:10.0.0.1", 4000, 1));
}

TEST(FlowKeyTest, EqualKeysHashEqually) {
  EXPECT_EQ(v4_key(0x0a000001u, 4000, 1), v4_key(0x0a000001u, 4000, 1));
  EXPECT_EQ(v4_key(0x0a000001u, 4000, 1).hash(), v4_key(0x0a000001u, 4000, 1).hash());
  EXPECT_EQ(v6_key("fe80::1", 9, 2), v6_key("fe80::1", 9, 2));
  EXPECT_EQ(v6_key("fe80::1", 9, 2).hash(), v6_key("fe80::1", 9, 2).hash());
}

TEST(FlowKeyTest, UnknownOrShortNamesGiveFamilyZero) {
  EXPECT_EQ(FlowKey::from_name(nullptr, 0, 7).family, 0);
  EXPECT_EQ(FlowKey::from_name(nullptr, 0, 7).server_slot, 7u);
  sockaddr_in v4{};
  v4.sin_family = AF_INET;
  EXPECT_EQ(FlowKey::from_name(reinterpret_cast<const sockaddr*>(&v4), sizeof(v4) - 1, 0).family,
            0);
  sockaddr_in6 v6{};
  v6.sin6_family = AF_INET6;
  EXPECT_EQ(FlowKey::from_name(reinterpret_cast<const sockaddr*>(&v6), sizeof(sockaddr_in), 0)
                .family,
            0);
  sockaddr_storage unix_name{};
  unix_name.ss_family = AF_UNIX;
  EXPECT_EQ(
      FlowKey::from_name(reinterpret_cast<const sockaddr*>(&unix_name), sizeof(unix_name), 0)
          .family,
      0);
}

// ---- SessionTable ----

TEST(SessionTableTest, InsertFindErase) {
  SessionTable table(16);
  EXPECT_EQ(table.capacity(), 16u);
  EXPECT_EQ(table.size(), 0u);
  const FlowKey a = v4_key(0x0a000001u, 1000);
  const FlowKey b = v6_key("2001:db8::5", 1000);
  EXPECT_EQ(table.find(a), kNoSession);

  const uint32_t ia = table.insert(a, 10);
  const uint32_t ib = table.insert(b, 20);
  ASSERT_NE(ia, kNoSession);
  ASSERT_NE(ib, kNoSession);
  EXPECT_NE(ia, ib);
  EXPECT_EQ(table.size(), 2u);
  EXPECT_EQ(table.find(a), ia);
  EXPECT_EQ(table.find(b, b.hash()), ib);
  EXPECT_TRUE(table.at(ia).open);
  EXPECT_EQ(table.at(ia).key, a);
  EXPECT_EQ(table.at(ia).last_request_ns, 10u);
  EXPECT_EQ(table.at(ib).last_request_ns, 20u);
  EXPECT_EQ(table.find(v4_key(0x0a000001u, 1001)), kNoSession);

  table.erase(ia);
  EXPECT_EQ(table.find(a), kNoSession);
  EXPECT_EQ(table.find(b), ib);
  EXPECT_EQ(table.size(), 1u);
  EXPECT_FALSE(table.at(ia).open);
}

TEST(SessionTableTest, InsertBeyondCapacityFails) {
  SessionTable table(8);
  for (uint32_t n = 0; n < 8; ++n) {
    EXPECT_FALSE(table.full());
    ASSERT_NE(table.insert(numbered_key(n), n), kNoSession);
  }
  EXPECT_TRUE(table.full());
  EXPECT_EQ(table.insert(numbered_key(8), 8), kNoSession);
  EXPECT_EQ(table.size(), 8u);
  EXPECT_EQ(table.find(numbered_key(8)), kNoSession);
  for (uint32_t n = 0; n < 8; ++n) EXPECT_NE(table.find(numbered_key(n)), kNoSession);
}

TEST(SessionTableTest, EraseFreesTheSlotAndBumpsItsGeneration) {
  SessionTable table(1);
  const uint32_t first = table.insert(numbered_key(1), 1);
  ASSERT_NE(first, kNoSession);
  const uint32_t generation = table.at(first).generation;
  EXPECT_TRUE(table.full());

  table.erase(first);
  EXPECT_FALSE(table.full());
  EXPECT_EQ(table.at(first).generation, generation + 1);

  // The reused slot keeps the bumped generation, so stale completions stay detectable.
  const uint32_t second = table.insert(numbered_key(2), 2);
  EXPECT_EQ(second, first);
  EXPECT_EQ(table.at(second).generation, generation + 1);
  EXPECT_EQ(table.at(second).key, numbered_key(2));
  EXPECT_FALSE(table.at(second).in_pending);
  EXPECT_EQ(table.find(numbered_key(1)), kNoSession);
}

TEST(SessionTableTest, TouchMovesASessionToTheNewestEnd) {
  SessionTable table(8);
  EXPECT_EQ(table.oldest(), kNoSession);
  const uint32_t a = table.insert(numbered_key(1), 1);
  const uint32_t b = table.insert(numbered_key(2), 2);
  const uint32_t c = table.insert(numbered_key(3), 3);
  EXPECT_EQ(table.oldest(), a);

  table.touch(a, 4);
  EXPECT_EQ(table.at(a).last_request_ns, 4u);
  EXPECT_EQ(table.oldest(), b);
  table.touch(b, 5);
  EXPECT_EQ(table.oldest(), c);
  table.touch(b, 6);  // already the newest
  EXPECT_EQ(table.oldest(), c);

  table.erase(c);
  EXPECT_EQ(table.oldest(), a);
  table.erase(a);
  EXPECT_EQ(table.oldest(), b);
  table.erase(b);
  EXPECT_EQ(table.oldest(), kNoSession);
}

TEST(SessionTableTest, PendingListKeepsRequestOrder) {
  SessionTable table(8);
  const uint32_t a = table.insert(numbered_key(1), 1);
  const uint32_t b = table.insert(numbered_key(2), 2);
  const uint32_t c = table.insert(numbered_key(3), 3);
  EXPECT_EQ(table.oldest_pending(), kNoSession);
  EXPECT_EQ(table.pending_count(), 0u);

  table.mark_pending(a);
  table.mark_pending(b);
  table.mark_pending(c);
  EXPECT_EQ(table.pending_count(), 3u);
  EXPECT_EQ(table.oldest_pending(), a);
  EXPECT_TRUE(table.at(a).in_pending);

  table.mark_pending(a);  // a new request: a moves to the newest end
  EXPECT_EQ(table.pending_count(), 3u);
  EXPECT_EQ(table.oldest_pending(), b);

  table.clear_pending(b);
  EXPECT_FALSE(table.at(b).in_pending);
  EXPECT_EQ(table.pending_count(), 2u);
  EXPECT_EQ(table.oldest_pending(), c);
  table.clear_pending(b);  // not pending: no change
  EXPECT_EQ(table.pending_count(), 2u);

  table.erase(c);  // erasing a pending session takes it off the list
  EXPECT_EQ(table.pending_count(), 1u);
  EXPECT_EQ(table.oldest_pending(), a);
  table.clear_pending(a);
  EXPECT_EQ(table.pending_count(), 0u);
  EXPECT_EQ(table.oldest_pending(), kNoSession);
  EXPECT_EQ(table.oldest(), a);  // the LRU list is separate: pending moves never touch it
}

// Keys whose home bucket is `home`, assuming the index has bit_ceil(2 * capacity) buckets
// indexed by the low bits of the hash (as today). If that changes the test still checks
// correctness, just with less crowding.
std::vector<FlowKey> keys_with_home(uint32_t capacity, uint32_t home, std::size_t count,
                                    uint32_t first_n) {
  const uint32_t mask = std::bit_ceil(2 * capacity) - 1;
  std::vector<FlowKey> keys;
  for (uint32_t n = first_n; keys.size() < count; ++n) {
    const FlowKey key = numbered_key(n);
    if ((static_cast<uint32_t>(key.hash()) & mask) == home) keys.push_back(key);
  }
  return keys;
}

TEST(SessionTableTest, DeletionInsideAChainThatWrapsAround) {
  constexpr uint32_t kCapacity = 64;
  const uint32_t last_bucket = std::bit_ceil(2 * kCapacity) - 1;
  // Three keys homed at the last bucket (they wrap to buckets 0 and 1), then two homed at
  // bucket 0 and one at bucket 1, all in one probe run.
  std::vector<FlowKey> keys = keys_with_home(kCapacity, last_bucket, 3, 0);
  for (const FlowKey& k : keys_with_home(kCapacity, 0, 2, 0)) keys.push_back(k);
  for (const FlowKey& k : keys_with_home(kCapacity, 1, 1, 0)) keys.push_back(k);

  for (std::size_t victim = 0; victim < keys.size(); ++victim) {
    SessionTable table(kCapacity);
    std::vector<uint32_t> index;
    for (const FlowKey& k : keys) {
      index.push_back(table.insert(k, 1));
      ASSERT_NE(index.back(), kNoSession);
    }
    table.erase(index[victim]);
    for (std::size_t k = 0; k < keys.size(); ++k) {
      EXPECT_EQ(table.find(keys[k]), k == victim ? kNoSession : index[k])
          << "victim " << victim << " key " << k;
    }
    // Erase the rest from the back of the run, checking after each.
    for (std::size_t k = keys.size(); k-- > 0;) {
      if (k == victim) continue;
      table.erase(index[k]);
      for (std::size_t j = 0; j < k; ++j) {
        if (j != victim) {
          EXPECT_EQ(table.find(keys[j]), index[j]) << "victim " << victim;
        }
      }
    }
    EXPECT_EQ(table.size(), 0u);
  }
}

// 100k random inserts, finds and erases over a universe of 160 keys on a 64-session table,
// against std::unordered_map. The table is often full, so probe runs are long and wrap.
TEST(SessionTableTest, RandomOperationsMatchAModel) {
  constexpr uint32_t kCapacity = 64;
  constexpr uint32_t kKeys = 160;
  constexpr uint32_t kOperations = 100'000;
  SessionTable table(kCapacity);
  std::unordered_map<uint32_t, uint32_t> model;  // key number -> session index
  std::mt19937_64 random(0x5e55'10aa'2024ULL);
  uint32_t inserts = 0;
  uint32_t erases = 0;
  uint32_t rejected = 0;

  auto check_key = [&](uint32_t n) {
    const auto it = model.find(n);
    const uint32_t found = table.find(numbered_key(n));
    if (it == model.end()) return found == kNoSession;
    return found == it->second && table.at(found).open && table.at(found).key == numbered_key(n);
  };

  for (uint32_t op = 0; op < kOperations; ++op) {
    bool sweep = op % 1000 == 999;
    const auto n = static_cast<uint32_t>(random() % kKeys);
    const auto kind = static_cast<uint32_t>(random() % 10);
    const bool present = model.contains(n);
    if (kind < 5 && !present) {  // insert (only absent keys may be inserted)
      const uint32_t index = table.insert(numbered_key(n), op);
      if (model.size() == kCapacity) {
        ASSERT_EQ(index, kNoSession) << "op " << op;
        ASSERT_TRUE(table.full());
        ++rejected;
      } else {
        ASSERT_NE(index, kNoSession) << "op " << op;
        model.emplace(n, index);
        ++inserts;
      }
    } else if (kind >= 5 && kind < 8 && present) {  // erase
      table.erase(model.at(n));
      model.erase(n);
      ++erases;
      sweep = true;  // a backward shift may have moved any other key
    }  // otherwise only the find below
    ASSERT_TRUE(check_key(n)) << "op " << op << " key " << n;
    ASSERT_EQ(table.size(), model.size()) << "op " << op;
    if (sweep) {
      for (uint32_t k = 0; k < kKeys; ++k) ASSERT_TRUE(check_key(k)) << "op " << op << " key " << k;
    }
  }
  // The run really exercised every path.
  EXPECT_GT(inserts, 10'000u);
  EXPECT_GT(erases, 10'000u);
  EXPECT_GT(rejected, 0u);
}

}  // namespace
}  // namespace shortline

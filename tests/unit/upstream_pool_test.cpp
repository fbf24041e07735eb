// UpstreamPool: FIFO reuse, exhaustion, quarantine against one server, the bounded scan
// and expiry pass, always-on asserts, and a long random run against a deque-based model.
#include "dataplane/upstream_pool.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <deque>
#include <random>
#include <set>
#include <vector>

namespace shortline {
namespace {

constexpr uint64_t kServerA = 0xa;
constexpr uint64_t kServerB = 0xb;
constexpr uint64_t kQuarantineNs = 2'000'000'000;

// Takes every ready socket towards kServerA, in the order the pool gives them.
std::vector<uint32_t> take_all(UpstreamPool& pool, uint64_t now_ns) {
  std::vector<uint32_t> taken;
  for (uint32_t socket; (socket = pool.acquire(kServerA, now_ns)) != kNoSocket;) {
    taken.push_back(socket);
  }
  return taken;
}

void expect_counts(const UpstreamPool& pool, uint32_t busy, uint32_t ready,
                   uint32_t quarantined) {
  EXPECT_EQ(pool.busy_count(), busy);
  EXPECT_EQ(pool.ready_count(), ready);
  EXPECT_EQ(pool.quarantined_count(), quarantined);
}

TEST(UpstreamPoolTest, StartsReadyAndLendsInIndexOrder) {
  UpstreamPool pool(4, kQuarantineNs);
  EXPECT_EQ(pool.capacity(), 4u);
  expect_counts(pool, 0, 4, 0);
  for (uint32_t socket = 0; socket < 4; ++socket) EXPECT_FALSE(pool.busy(socket));
  EXPECT_EQ(pool.acquire(kServerA, 0), 0u);
  EXPECT_EQ(pool.acquire(kServerB, 0), 1u);
  EXPECT_TRUE(pool.busy(0));
  EXPECT_TRUE(pool.busy(1));
  EXPECT_FALSE(pool.busy(2));
  expect_counts(pool, 2, 2, 0);
}

TEST(UpstreamPoolTest, ExhaustionGivesNoSocket) {
  UpstreamPool pool(3, kQuarantineNs);
  EXPECT_EQ(take_all(pool, 0), (std::vector<uint32_t>{0, 1, 2}));
  expect_counts(pool, 3, 0, 0);
  EXPECT_EQ(pool.acquire(kServerA, 0), kNoSocket);
  EXPECT_EQ(pool.acquire(kServerB, 1'000'000'000'000), kNoSocket);
  expect_counts(pool, 3, 0, 0);
}

TEST(UpstreamPoolTest, EmptyPoolGivesNoSocket) {
  UpstreamPool pool(0, kQuarantineNs);
  EXPECT_EQ(pool.acquire(kServerA, 0), kNoSocket);
  EXPECT_EQ(pool.expire(0, 8), 0u);
  expect_counts(pool, 0, 0, 0);
}

TEST(UpstreamPoolTest, CleanReleaseIsReusedLastInReleaseOrder) {
  UpstreamPool pool(4, kQuarantineNs);
  ASSERT_EQ(take_all(pool, 0).size(), 4u);
  pool.release_clean(2);
  pool.release_clean(0);
  pool.release_clean(3);
  expect_counts(pool, 1, 3, 0);
  EXPECT_FALSE(pool.busy(2));
  // FIFO: the oldest released comes first, so each port rests as long as possible.
  EXPECT_EQ(pool.acquire(kServerA, 1), 2u);
  pool.release_clean(2);  // goes behind 0 and 3
  EXPECT_EQ(pool.acquire(kServerA, 2), 0u);
  EXPECT_EQ(pool.acquire(kServerA, 3), 3u);
  EXPECT_EQ(pool.acquire(kServerA, 4), 2u);
  EXPECT_EQ(pool.acquire(kServerA, 5), kNoSocket);
}

TEST(UpstreamPoolTest, ReadySocketsComeBeforeQuarantinedOnes) {
  UpstreamPool pool(2, 0);
  ASSERT_EQ(take_all(pool, 0).size(), 2u);
  pool.release_late(0, kServerA, 10);  // quarantine 0: usable at once
  pool.release_clean(1);
  EXPECT_EQ(pool.acquire(kServerA, 10), 1u);
  EXPECT_EQ(pool.acquire(kServerA, 10), 0u);
}

TEST(UpstreamPoolTest, LateSocketWaitsOutQuarantineTowardsTheSameServer) {
  UpstreamPool pool(1, kQuarantineNs);
  ASSERT_EQ(pool.acquire(kServerA, 0), 0u);
  pool.release_late(0, kServerA, 1000);
  expect_counts(pool, 0, 0, 1);
  EXPECT_TRUE(pool.quarantined(0));
  EXPECT_FALSE(pool.busy(0));
  EXPECT_EQ(pool.acquire(kServerA, 1000), kNoSocket);
  EXPECT_EQ(pool.acquire(kServerA, 1000 + kQuarantineNs - 1), kNoSocket);
  expect_counts(pool, 0, 0, 1);
  EXPECT_EQ(pool.acquire(kServerA, 1000 + kQuarantineNs), 0u);  // the quarantine's end
  expect_counts(pool, 1, 0, 0);
}

TEST(UpstreamPoolTest, LateSocketGoesAtOnceTowardsAnotherServer) {
  UpstreamPool pool(1, kQuarantineNs);
  ASSERT_EQ(pool.acquire(kServerA, 0), 0u);
  pool.release_late(0, kServerA, 1000);
  EXPECT_EQ(pool.acquire(kServerB, 1000), 0u);
  EXPECT_TRUE(pool.busy(0));
  // Released late again, now against B: A may have it, B may not.
  pool.release_late(0, kServerB, 2000);
  EXPECT_EQ(pool.acquire(kServerB, 2000), kNoSocket);
  EXPECT_EQ(pool.acquire(kServerA, 2000), 0u);
}

TEST(UpstreamPoolTest, ZeroQuarantineMakesLateSocketsUsableAtOnce) {
  UpstreamPool pool(1, 0);
  ASSERT_EQ(pool.acquire(kServerA, 0), 0u);
  pool.release_late(0, kServerA, 500);
  EXPECT_EQ(pool.acquire(kServerA, 500), 0u);
  pool.release_late(0, kServerA, 600);
  EXPECT_EQ(pool.expire(600, 8), 1u);
  expect_counts(pool, 0, 1, 0);
}

TEST(UpstreamPoolTest, QuarantineNearTheClocksEndSaturates) {
  UpstreamPool pool(1, kQuarantineNs);
  ASSERT_EQ(pool.acquire(kServerA, 0), 0u);
  pool.release_late(0, kServerA, UINT64_MAX - 5);
  EXPECT_EQ(pool.acquire(kServerA, UINT64_MAX - 1), kNoSocket);
  EXPECT_EQ(pool.expire(UINT64_MAX - 1, 8), 0u);
  EXPECT_EQ(pool.acquire(kServerA, UINT64_MAX), 0u);
}

TEST(UpstreamPoolTest, AcquireTakesFromTheMiddleOfTheQuarantineList) {
  UpstreamPool pool(3, kQuarantineNs);
  ASSERT_EQ(take_all(pool, 0).size(), 3u);
  pool.release_late(0, kServerA, 10);
  pool.release_late(1, kServerB, 20);
  pool.release_late(2, kServerA, 30);
  EXPECT_EQ(pool.acquire(kServerA, 40), 1u);  // the first not against A
  expect_counts(pool, 1, 0, 2);
  // The list stays linked around the hole: B gets 0 then 2, in release order.
  EXPECT_EQ(pool.acquire(kServerB, 40), 0u);
  EXPECT_EQ(pool.acquire(kServerB, 40), 2u);
  EXPECT_EQ(pool.acquire(kServerB, 40), kNoSocket);
  pool.release_late(1, kServerA, 50);
  pool.release_late(2, kServerA, 60);
  EXPECT_EQ(pool.expire(60 + kQuarantineNs, 8), 2u);
  EXPECT_EQ(pool.acquire(kServerA, 60 + kQuarantineNs), 1u);
  EXPECT_EQ(pool.acquire(kServerA, 60 + kQuarantineNs), 2u);
}

TEST(UpstreamPoolTest, ScanStopsAfterScanMaxQuarantinedSockets) {
  constexpr uint32_t kCount = UpstreamPool::kScanMax + 1;
  UpstreamPool pool(kCount, kQuarantineNs);
  ASSERT_EQ(take_all(pool, 0).size(), kCount);
  for (uint32_t socket = 0; socket < UpstreamPool::kScanMax; ++socket) {
    pool.release_late(socket, kServerA, 100 + socket);
  }
  pool.release_late(UpstreamPool::kScanMax, kServerB, 200);  // the 9th qualifies for A
  EXPECT_EQ(pool.acquire(kServerA, 300), kNoSocket);
  expect_counts(pool, 0, 0, kCount);
  EXPECT_EQ(pool.acquire(kServerB, 300), 0u);  // B takes the oldest, against A
  // With one fewer in front, the socket against B is now within reach for A.
  EXPECT_EQ(pool.acquire(kServerA, 300), UpstreamPool::kScanMax);
}

TEST(UpstreamPoolTest, ScanFindsAnExpiredSocketBehindUnexpiredOnes) {
  UpstreamPool pool(3, 0);
  ASSERT_EQ(take_all(pool, 0).size(), 3u);
  // Released with a clock that stepped back, so the third expired before the first two.
  pool.release_late(0, kServerA, 1000);
  pool.release_late(1, kServerA, 1000);
  pool.release_late(2, kServerA, 10);
  EXPECT_EQ(pool.acquire(kServerA, 500), 2u);
}

TEST(UpstreamPoolTest, ExpireMovesOnlyEndedQuarantinesOldestFirst) {
  UpstreamPool pool(4, 100);
  ASSERT_EQ(take_all(pool, 0).size(), 4u);
  pool.release_late(3, kServerA, 10);  // until 110
  pool.release_late(1, kServerA, 20);  // until 120
  pool.release_late(0, kServerB, 30);  // until 130
  pool.release_clean(2);
  EXPECT_EQ(pool.expire(109, 8), 0u);
  EXPECT_EQ(pool.expire(120, 8), 2u);
  expect_counts(pool, 0, 3, 1);
  EXPECT_TRUE(pool.quarantined(0));
  // Moved to the ready tail in quarantine order, behind the clean one.
  EXPECT_EQ(pool.acquire(kServerB, 121), 2u);
  EXPECT_EQ(pool.acquire(kServerB, 121), 3u);
  EXPECT_EQ(pool.acquire(kServerB, 121), 1u);
  EXPECT_EQ(pool.acquire(kServerB, 121), kNoSocket);  // 0 is still against B
}

TEST(UpstreamPoolTest, ExpireHonoursMaxMoves) {
  constexpr uint32_t kCount = 10;
  UpstreamPool pool(kCount, 100);
  ASSERT_EQ(take_all(pool, 0).size(), kCount);
  for (uint32_t socket = 0; socket < kCount; ++socket) pool.release_late(socket, kServerA, 0);
  EXPECT_EQ(pool.expire(1000, 0), 0u);
  EXPECT_EQ(pool.expire(1000, 3), 3u);
  expect_counts(pool, 0, 3, 7);
  EXPECT_EQ(pool.expire(1000, 3), 3u);
  EXPECT_EQ(pool.expire(1000, 3), 3u);
  EXPECT_EQ(pool.expire(1000, 3), 1u);
  EXPECT_EQ(pool.expire(1000, 3), 0u);
  expect_counts(pool, 0, kCount, 0);
  EXPECT_EQ(take_all(pool, 1000), (std::vector<uint32_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
}

TEST(UpstreamPoolDeathTest, ReleasingANonBusySocketAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  UpstreamPool pool(2, kQuarantineNs);
  EXPECT_DEATH(pool.release_clean(0), "invariant failed");
  EXPECT_DEATH(pool.release_late(1, kServerA, 0), "invariant failed");
  ASSERT_EQ(pool.acquire(kServerA, 0), 0u);
  pool.release_late(0, kServerA, 0);
  EXPECT_DEATH(pool.release_clean(0), "invariant failed");  // quarantined
}

TEST(UpstreamPoolDeathTest, OutOfRangeIndicesAbort) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  UpstreamPool pool(2, kQuarantineNs);
  EXPECT_DEATH(pool.release_clean(2), "invariant failed");
  EXPECT_DEATH(pool.release_late(kNoSocket, kServerA, 0), "invariant failed");
  EXPECT_DEATH(static_cast<void>(pool.busy(2)), "invariant failed");
}

// The pool's contract, written plainly: a FIFO of ready sockets, a release-ordered list of
// quarantined ones, and the set of lent ones.
class PoolModel {
 public:
  struct Late {
    uint32_t socket;
    uint64_t server;
    uint64_t until_ns;
  };

  PoolModel(uint32_t capacity, uint64_t quarantine_ns) : quarantine_ns_(quarantine_ns) {
    for (uint32_t socket = 0; socket < capacity; ++socket) ready_.push_back(socket);
  }

  uint32_t acquire(uint64_t server, uint64_t now_ns) {
    if (!ready_.empty()) return lend(ready_.front(), [&] { ready_.pop_front(); });
    const std::size_t scan = std::min<std::size_t>(late_.size(), UpstreamPool::kScanMax);
    for (std::size_t i = 0; i < scan; ++i) {
      if (late_[i].server != server || now_ns >= late_[i].until_ns) {
        const auto position = late_.begin() + static_cast<std::ptrdiff_t>(i);
        return lend(late_[i].socket, [&] { late_.erase(position); });
      }
    }
    return kNoSocket;
  }
  void release_clean(uint32_t socket) {
    busy_.erase(socket);
    ready_.push_back(socket);
  }
  void release_late(uint32_t socket, uint64_t server, uint64_t now_ns) {
    busy_.erase(socket);
    late_.push_back({socket, server, now_ns + quarantine_ns_});
  }
  uint32_t expire(uint64_t now_ns, uint32_t max_moves) {
    uint32_t moved = 0;
    while (moved < max_moves && !late_.empty() && now_ns >= late_.front().until_ns) {
      ready_.push_back(late_.front().socket);
      late_.pop_front();
      ++moved;
    }
    return moved;
  }

  const std::set<uint32_t>& busy() const { return busy_; }
  std::size_t ready_count() const { return ready_.size(); }
  std::size_t quarantined_count() const { return late_.size(); }

 private:
  template <typename Remove>
  uint32_t lend(uint32_t socket, Remove remove) {
    remove();
    busy_.insert(socket);
    return socket;
  }

  uint64_t quarantine_ns_;
  std::deque<uint32_t> ready_;
  std::deque<Late> late_;
  std::set<uint32_t> busy_;
};

// 200k random operations on a 32-socket pool towards 3 servers, with a clock that moves in
// steps around the quarantine length so that sockets are often all busy or quarantined.
TEST(UpstreamPoolTest, RandomOperationsMatchAModel) {
  constexpr uint32_t kCapacity = 32;
  constexpr uint64_t kQuarantine = 1000;
  constexpr uint32_t kOperations = 200'000;
  UpstreamPool pool(kCapacity, kQuarantine);
  PoolModel model(kCapacity, kQuarantine);
  std::mt19937_64 random(0x9001'cafe'2026ULL);
  uint64_t now_ns = 0;
  uint32_t given = 0;
  uint32_t refused = 0;
  uint32_t moved = 0;
  std::vector<uint32_t> busy_list;

  for (uint32_t op = 0; op < kOperations; ++op) {
    now_ns += random() % 60;
    const auto kind = static_cast<uint32_t>(random() % 100);
    const uint64_t server = random() % 3;
    busy_list.assign(model.busy().begin(), model.busy().end());
    if (kind < 45) {
      const uint32_t socket = pool.acquire(server, now_ns);
      ASSERT_EQ(socket, model.acquire(server, now_ns)) << "op " << op;
      if (socket == kNoSocket) ++refused;
      else ++given;
    } else if (kind < 90 && !busy_list.empty()) {
      const uint32_t socket = busy_list[random() % busy_list.size()];
      if (kind < 65) {
        pool.release_clean(socket);
        model.release_clean(socket);
      } else {
        pool.release_late(socket, server, now_ns);
        model.release_late(socket, server, now_ns);
      }
    } else if (kind >= 90) {
      const auto max_moves = static_cast<uint32_t>(random() % 4);
      const uint32_t count = pool.expire(now_ns, max_moves);
      ASSERT_EQ(count, model.expire(now_ns, max_moves)) << "op " << op;
      moved += count;
    }
    ASSERT_EQ(pool.busy_count(), model.busy().size()) << "op " << op;
    ASSERT_EQ(pool.ready_count(), model.ready_count()) << "op " << op;
    ASSERT_EQ(pool.quarantined_count(), model.quarantined_count()) << "op " << op;
    ASSERT_EQ(pool.busy_count() + pool.ready_count() + pool.quarantined_count(), kCapacity);
    if (op % 1000 == 0) {
      for (uint32_t socket = 0; socket < kCapacity; ++socket) {
        ASSERT_EQ(pool.busy(socket), model.busy().contains(socket)) << "op " << op;
      }
    }
  }
  // The run really exercised every path.
  EXPECT_GT(given, 10'000u);
  EXPECT_GT(refused, 1'000u);
  EXPECT_GT(moved, 1'000u);
}

}  // namespace
}  // namespace shortline

// SourceLimiter: exact token-bucket counts per address, prefix (/24, /56) and new session,
// the open-session cap, answered marks, replacement and pinning in the set-associative
// table, the seeded placement, and the always-on asserts.
#include "dataplane/source_limiter.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <iterator>
#include <ostream>
#include <set>
#include <vector>

namespace shortline {

// Readable verdicts in failure messages (found by argument-dependent lookup).
void PrintTo(Admission verdict, std::ostream* out) {
  static constexpr const char* kNames[] = {"admitted", "source_rate", "prefix_rate",
                                           "source_sessions", "table_full"};
  const auto index = static_cast<std::size_t>(verdict);
  *out << (index < std::size(kNames) ? kNames[index] : "unknown");
}

namespace {

constexpr uint64_t kSeed = 0x51de'5eed'2026ULL;
constexpr uint64_t kMs = 1'000'000;
constexpr uint64_t kSecond = 1'000'000'000;

FlowKey v4(uint32_t address, uint16_t port = 4000, uint32_t slot = FlowKey::kAnyServer) {
  sockaddr_in name{};
  name.sin_family = AF_INET;
  name.sin_addr.s_addr = htonl(address);
  name.sin_port = htons(port);
  return FlowKey::from_name(reinterpret_cast<const sockaddr*>(&name), sizeof(name), slot);
}

FlowKey v6(const char* address, uint16_t port = 4000) {
  sockaddr_in6 name{};
  name.sin6_family = AF_INET6;
  EXPECT_EQ(inet_pton(AF_INET6, address, &name.sin6_addr), 1) << address;
  name.sin6_port = htons(port);
  return FlowKey::from_name(reinterpret_cast<const sockaddr*>(&name), sizeof(name),
                            FlowKey::kAnyServer);
}

// Address number n of a test universe, spread over many /24s.
FlowKey numbered(uint32_t n) { return v4(0x0a000000u + n * 7919u); }

// admit_request's verdict alone.
Admission request(SourceLimiter& limiter, const FlowKey& source, uint64_t now_ns) {
  uint32_t entry = 0;
  return limiter.admit_request(source, now_ns, &entry);
}

// admit_request's entry, which must be admitted.
uint32_t entry_of(SourceLimiter& limiter, const FlowKey& source, uint64_t now_ns) {
  uint32_t entry = kNoSource;
  EXPECT_EQ(limiter.admit_request(source, now_ns, &entry), Admission::admitted);
  EXPECT_NE(entry, kNoSource);
  return entry;
}

// How many requests in a row are admitted at now_ns (stopping at the first rejection).
uint32_t admitted_in_a_row(SourceLimiter& limiter, const FlowKey& source, uint64_t now_ns) {
  uint32_t count = 0;
  while (count < 1'000'000 && request(limiter, source, now_ns) == Admission::admitted) ++count;
  return count;
}

TEST(SourceLimiterTest, EntriesRoundUpToWholeSets) {
  EXPECT_EQ(SourceLimiter({}, 1, kSeed).entries(), 8u);
  EXPECT_EQ(SourceLimiter({}, 8, kSeed).entries(), 8u);
  EXPECT_EQ(SourceLimiter({}, 10, kSeed).entries(), 16u);
  EXPECT_EQ(SourceLimiter({}, 4096, kSeed).entries(), 4096u);
}

TEST(SourceLimiterTest, NoLimitsAdmitEverything) {
  SourceLimiter limiter({}, 64, kSeed);
  const uint32_t entry = entry_of(limiter, v4(0x0a000001u), 0);
  for (uint32_t i = 0; i < 10'000; ++i) {
    uint32_t again = kNoSource;
    ASSERT_EQ(limiter.admit_request(v4(0x0a000001u), 0, &again), Admission::admitted);
    ASSERT_EQ(again, entry);
  }
  for (uint32_t i = 0; i < 1000; ++i) {
    ASSERT_EQ(limiter.admit_session(entry, 0), Admission::admitted);
  }
  EXPECT_EQ(limiter.open_sessions(entry), 1000u);
  for (uint32_t n = 0; n < 1000; ++n) {
    ASSERT_EQ(request(limiter, numbered(n), n), Admission::admitted);
  }
  EXPECT_EQ(limiter.find(v4(0x0a000001u)), entry);  // pinned through the churn
}

TEST(SourceLimiterTest, RequestRateLimitsAndRecovers) {
  SourceLimiter limiter({.requests_per_s = 10, .requests_burst = 10}, 64, kSeed);
  const FlowKey source = v4(0xc0000201u);
  EXPECT_EQ(admitted_in_a_row(limiter, source, 0), 10u);
  uint32_t entry = 0;
  EXPECT_EQ(limiter.admit_request(source, 0, &entry), Admission::source_rate);
  EXPECT_EQ(entry, kNoSource);
  EXPECT_EQ(request(limiter, source, 100 * kMs - 1), Admission::source_rate);
  EXPECT_EQ(request(limiter, source, 100 * kMs), Admission::admitted);
  EXPECT_EQ(request(limiter, source, 100 * kMs), Admission::source_rate);
  EXPECT_EQ(admitted_in_a_row(limiter, source, 350 * kMs), 2u);  // 2.5 tokens since
  // A long rest refills to the depth and no further.
  EXPECT_EQ(admitted_in_a_row(limiter, source, 60 * kSecond), 10u);
  // Other addresses have their own buckets.
  EXPECT_EQ(admitted_in_a_row(limiter, v4(0xc0000202u), 60 * kSecond), 10u);
}

TEST(SourceLimiterTest, ZeroBurstMeansOneSecondsWorth) {
  SourceLimiter limiter({.requests_per_s = 25}, 64, kSeed);
  EXPECT_EQ(admitted_in_a_row(limiter, v4(0x0a000001u), 0), 25u);
  EXPECT_EQ(admitted_in_a_row(limiter, v4(0x0a000001u), kSecond), 25u);
}

TEST(SourceLimiterTest, BurstSetsTheDepthAndRateTheRefill) {
  SourceLimiter limiter({.requests_per_s = 10, .requests_burst = 50}, 64, kSeed);
  const FlowKey source = v4(0x0a000001u);
  EXPECT_EQ(admitted_in_a_row(limiter, source, 0), 50u);
  EXPECT_EQ(admitted_in_a_row(limiter, source, kSecond), 10u);
  EXPECT_EQ(admitted_in_a_row(limiter, source, 6 * kSecond), 50u);

  SourceLimiter shallow({.requests_per_s = 10, .requests_burst = 2}, 64, kSeed);
  EXPECT_EQ(admitted_in_a_row(shallow, source, 0), 2u);
  EXPECT_EQ(admitted_in_a_row(shallow, source, kSecond), 2u);
}

TEST(SourceLimiterTest, RatesThatDoNotDivideASecondStayExact) {
  SourceLimiter limiter({.requests_per_s = 3}, 64, kSeed);
  const FlowKey source = v4(0x0a000001u);
  EXPECT_EQ(admitted_in_a_row(limiter, source, 0), 3u);
  EXPECT_EQ(request(limiter, source, 333'333'333), Admission::source_rate);  // 0.999999999
  EXPECT_EQ(request(limiter, source, 333'333'334), Admission::admitted);
  // No drift: after 3 s from the start, exactly 9 more in all.
  EXPECT_EQ(admitted_in_a_row(limiter, source, 3 * kSecond), 3u);
}

TEST(SourceLimiterTest, HighRatesAndLongGapsNeitherOverflowNorOverfill) {
  SourceLimiter fast({.requests_per_s = 100'000'000, .requests_burst = 5}, 64, kSeed);
  const FlowKey source = v4(0x0a000001u);
  EXPECT_EQ(admitted_in_a_row(fast, source, 1000), 5u);
  EXPECT_EQ(admitted_in_a_row(fast, source, 1025), 2u);  // one token per 10 ns
  constexpr uint64_t kThirtyDays = 30ULL * 86'400 * kSecond;
  EXPECT_EQ(admitted_in_a_row(fast, source, kThirtyDays), 5u);

  SourceLimiter widest({.requests_per_s = UINT32_MAX, .requests_burst = UINT32_MAX}, 8, kSeed);
  EXPECT_EQ(request(widest, source, 0), Admission::admitted);
  EXPECT_EQ(request(widest, source, kThirtyDays), Admission::admitted);
  EXPECT_EQ(request(widest, source, UINT64_MAX), Admission::admitted);

  SourceLimiter slow({.requests_per_s = 1}, 64, kSeed);
  EXPECT_EQ(admitted_in_a_row(slow, source, 0), 1u);
  EXPECT_EQ(admitted_in_a_row(slow, source, kThirtyDays), 1u);
  EXPECT_EQ(admitted_in_a_row(slow, source, UINT64_MAX), 1u);
}

TEST(SourceLimiterTest, AClockStepBackAddsNoTokens) {
  SourceLimiter limiter({.requests_per_s = 10}, 64, kSeed);
  const FlowKey source = v4(0x0a000001u);
  EXPECT_EQ(admitted_in_a_row(limiter, source, 5 * kSecond), 10u);
  EXPECT_EQ(request(limiter, source, 1 * kSecond), Admission::source_rate);
  EXPECT_EQ(request(limiter, source, 5 * kSecond + 100 * kMs), Admission::admitted);
}

TEST(SourceLimiterTest, PrefixLimitSpansAnIpv4Slash24) {
  SourceLimiter limiter({.prefix_requests_per_s = 2}, 64, kSeed);
  EXPECT_EQ(request(limiter, v4(0x0a000101u), 0), Admission::admitted);     // 10.0.1.1
  EXPECT_EQ(request(limiter, v4(0x0a0001feu), 0), Admission::admitted);     // 10.0.1.254
  EXPECT_EQ(request(limiter, v4(0x0a000101u), 0), Admission::prefix_rate);
  EXPECT_EQ(request(limiter, v4(0x0a000177u), 0), Admission::prefix_rate);  // 10.0.1.119
  EXPECT_EQ(request(limiter, v4(0x0a000201u), 0), Admission::admitted);     // 10.0.2.1
  EXPECT_EQ(request(limiter, v4(0x0b000101u), 0), Admission::admitted);     // 11.0.1.1
  EXPECT_EQ(request(limiter, v4(0x0a000101u), 500 * kMs), Admission::admitted);
}

TEST(SourceLimiterTest, PrefixLimitSpansAnIpv6Slash56) {
  SourceLimiter limiter({.prefix_requests_per_s = 2}, 64, kSeed);
  EXPECT_EQ(request(limiter, v6("2001:db8:0:100::1"), 0), Admission::admitted);
  EXPECT_EQ(request(limiter, v6("2001:db8:0:1ff:ffff::9"), 0), Admission::admitted);
  EXPECT_EQ(request(limiter, v6("2001:db8:0:142::7"), 0), Admission::prefix_rate);
  EXPECT_EQ(request(limiter, v6("2001:db8:0:200::1"), 0), Admission::admitted);  // next /56
  EXPECT_EQ(request(limiter, v6("2001:db8:1:100::1"), 0), Admission::admitted);
  // An IPv4 /24 and an IPv6 /56 never share a bucket.
  EXPECT_EQ(request(limiter, v4(0x0a000001u), 0), Admission::admitted);
  EXPECT_EQ(request(limiter, v6("::a00:1"), 0), Admission::admitted);
}

TEST(SourceLimiterTest, ARejectedRequestChargesNoBucket) {
  SourceLimiter limiter({.requests_per_s = 1, .prefix_requests_per_s = 2}, 64, kSeed);
  const FlowKey a = v4(0x0a000001u);
  const FlowKey b = v4(0x0a000002u);
  const FlowKey c = v4(0x0a000003u);
  EXPECT_EQ(request(limiter, a, 0), Admission::admitted);     // prefix: 1 left
  EXPECT_EQ(request(limiter, a, 0), Admission::source_rate);  // the prefix keeps its 1
  EXPECT_EQ(request(limiter, b, 0), Admission::admitted);     // prefix: 0 left
  EXPECT_EQ(request(limiter, c, 0), Admission::prefix_rate);  // c keeps its token
  // Half a second on: the prefix has one token again, and c still has its own.
  EXPECT_EQ(request(limiter, c, 500 * kMs), Admission::admitted);
  // The check order: the address bucket first.
  EXPECT_EQ(request(limiter, c, 500 * kMs), Admission::source_rate);
}

TEST(SourceLimiterTest, PortAndServerSlotDoNotMatter) {
  SourceLimiter limiter({.requests_per_s = 2}, 64, kSeed);
  const uint32_t entry = entry_of(limiter, v4(0x0a000001u, 1000, 1), 0);
  uint32_t again = kNoSource;
  EXPECT_EQ(limiter.admit_request(v4(0x0a000001u, 2000, 7), 0, &again), Admission::admitted);
  EXPECT_EQ(again, entry);
  EXPECT_EQ(request(limiter, v4(0x0a000001u, 3000), 0), Admission::source_rate);
}

TEST(SourceLimiterTest, Ipv4AndIpv6SourcesAreDistinct) {
  SourceLimiter limiter({.requests_per_s = 1}, 64, kSeed);
  FlowKey four;
  four.family = AF_INET;
  four.address_low = 0x0100000a;
  FlowKey six = four;  // the same words, another family
  six.family = AF_INET6;
  const uint32_t four_entry = entry_of(limiter, four, 0);
  const uint32_t six_entry = entry_of(limiter, six, 0);
  EXPECT_NE(four_entry, six_entry);
  EXPECT_EQ(request(limiter, four, 0), Admission::source_rate);
  EXPECT_EQ(request(limiter, six, 0), Admission::source_rate);
  // An IPv4-mapped IPv6 address is an IPv6 source of its own.
  EXPECT_EQ(request(limiter, v4(0x0a000009u), 0), Admission::admitted);
  EXPECT_EQ(request(limiter, v6("::ffff:10.0.0.9"), 0), Admission::admitted);
  EXPECT_NE(limiter.find(v4(0x0a000009u)), limiter.find(v6("::ffff:10.0.0.9")));
}

TEST(SourceLimiterTest, SessionsMaxCapsOpenSessions) {
  SourceLimiter limiter({.sessions_max = 2}, 64, kSeed);
  const FlowKey source = v4(0x0a000001u);
  const uint32_t entry = entry_of(limiter, source, 0);
  EXPECT_EQ(limiter.open_sessions(entry), 0u);
  EXPECT_EQ(limiter.admit_session(entry, 0), Admission::admitted);
  EXPECT_EQ(limiter.admit_session(entry_of(limiter, source, 0), 0), Admission::admitted);
  EXPECT_EQ(limiter.open_sessions(entry), 2u);
  EXPECT_EQ(limiter.admit_session(entry_of(limiter, source, 0), 0), Admission::source_sessions);
  EXPECT_EQ(limiter.open_sessions(entry), 2u);
  // Another address is not affected.
  EXPECT_EQ(limiter.admit_session(entry_of(limiter, v4(0x0a000002u), 0), 0), Admission::admitted);
  limiter.session_closed(entry);
  EXPECT_EQ(limiter.open_sessions(entry), 1u);
  EXPECT_EQ(limiter.admit_session(entry, 0), Admission::admitted);
  limiter.session_closed(entry);
  limiter.session_closed(entry);
  EXPECT_EQ(limiter.open_sessions(entry), 0u);
}

TEST(SourceLimiterTest, SessionRateLimitsNewSessions) {
  SourceLimiter limiter({.sessions_per_s = 3, .sessions_max = 10}, 64, kSeed);
  const uint32_t entry = entry_of(limiter, v4(0x0a000001u), 0);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(limiter.admit_session(entry, 0), Admission::admitted);
  EXPECT_EQ(limiter.admit_session(entry, 0), Admission::source_sessions);
  EXPECT_EQ(limiter.admit_session(entry, 333'333'333), Admission::source_sessions);
  EXPECT_EQ(limiter.admit_session(entry, 333'333'334), Admission::admitted);
  EXPECT_EQ(limiter.open_sessions(entry), 4u);
  // Requests are not limited by the session bucket.
  EXPECT_EQ(request(limiter, v4(0x0a000001u), 333'333'334), Admission::admitted);
  // Closing sessions gives no new-session tokens back.
  for (int i = 0; i < 4; ++i) limiter.session_closed(entry);
  EXPECT_EQ(limiter.admit_session(entry, 333'333'334), Admission::source_sessions);
}

TEST(SourceLimiterTest, SessionsMaxRejectionSpendsNoSessionToken) {
  SourceLimiter limiter({.sessions_per_s = 2, .sessions_max = 1}, 64, kSeed);
  const uint32_t entry = entry_of(limiter, v4(0x0a000001u), 0);
  EXPECT_EQ(limiter.admit_session(entry, 0), Admission::admitted);      // rate: 1 left
  EXPECT_EQ(limiter.admit_session(entry, 0), Admission::source_sessions);  // at the cap
  EXPECT_EQ(limiter.admit_session(entry, 0), Admission::source_sessions);
  limiter.session_closed(entry);
  EXPECT_EQ(limiter.admit_session(entry, 0), Admission::admitted);      // the 1 left
  limiter.session_closed(entry);
  EXPECT_EQ(limiter.admit_session(entry, 0), Admission::source_sessions);  // rate now
}

TEST(SourceLimiterTest, AnsweredMarksPersist) {
  SourceLimiter limiter({}, 64, kSeed);
  const uint32_t a = entry_of(limiter, v4(0x0a000001u), 0);
  const uint32_t b = entry_of(limiter, v4(0x0a000002u), 0);
  EXPECT_FALSE(limiter.answered(a));
  EXPECT_FALSE(limiter.answered(b));
  limiter.mark_answered(a);
  limiter.mark_answered(a);
  EXPECT_TRUE(limiter.answered(a));
  EXPECT_FALSE(limiter.answered(b));
  EXPECT_EQ(entry_of(limiter, v4(0x0a000001u), 5 * kSecond), a);
  EXPECT_TRUE(limiter.answered(a));
}

// One set of 8 ways: every address lands in it.
TEST(SourceLimiterTest, AMissReplacesTheOldestUnansweredUnpinnedEntry) {
  SourceLimiter limiter({.requests_per_s = 1}, 8, kSeed);
  std::vector<uint32_t> entries;
  for (uint32_t n = 0; n < 8; ++n) entries.push_back(entry_of(limiter, numbered(n), 10 + n));
  EXPECT_EQ(std::set<uint32_t>(entries.begin(), entries.end()).size(), 8u);
  ASSERT_EQ(limiter.admit_session(entries[0], 20), Admission::admitted);  // pinned
  limiter.mark_answered(entries[1]);
  EXPECT_EQ(request(limiter, numbered(2), 20), Admission::source_rate);  // a use, rejected

  EXPECT_EQ(entry_of(limiter, numbered(8), 30), entries[3]);  // 0 pinned, 1 answered, 2 used
  EXPECT_EQ(limiter.find(numbered(3)), kNoSource);
  EXPECT_EQ(entry_of(limiter, numbered(9), 31), entries[4]);
  for (uint32_t n = 10; n < 13; ++n) static_cast<void>(entry_of(limiter, numbered(n), 30 + n));
  // Left: 0 (pinned), 1 (answered), 2 (its rejected request at 20), 8 .. 12.
  EXPECT_EQ(entry_of(limiter, numbered(13), 50), entries[2]);
  // The unanswered ones go first however recent, then the answered one.
  for (uint32_t n = 14; n < 20; ++n) static_cast<void>(entry_of(limiter, numbered(n), 50 + n));
  EXPECT_EQ(limiter.find(numbered(1)), entries[1]);
  EXPECT_EQ(limiter.find(numbered(0)), entries[0]);
  // With every unpinned entry answered, the oldest answered one goes.
  for (uint32_t n = 14; n < 20; ++n) limiter.mark_answered(limiter.find(numbered(n)));
  EXPECT_EQ(entry_of(limiter, numbered(20), 100), entries[1]);
  EXPECT_FALSE(limiter.answered(entries[1]));  // a new address starts unanswered
  EXPECT_EQ(limiter.find(numbered(0)), entries[0]);
  EXPECT_EQ(limiter.open_sessions(entries[0]), 1u);
}

TEST(SourceLimiterTest, AFullyPinnedSetIsFull) {
  SourceLimiter limiter({}, 8, kSeed);
  std::vector<uint32_t> entries;
  for (uint32_t n = 0; n < 8; ++n) {
    entries.push_back(entry_of(limiter, numbered(n), n));
    ASSERT_EQ(limiter.admit_session(entries.back(), n), Admission::admitted);
  }
  uint32_t entry = 0;
  EXPECT_EQ(limiter.admit_request(numbered(8), 10, &entry), Admission::table_full);
  EXPECT_EQ(entry, kNoSource);
  EXPECT_EQ(limiter.find(numbered(8)), kNoSource);
  EXPECT_EQ(entry_of(limiter, numbered(3), 11), entries[3]);  // known sources still pass
  limiter.session_closed(entries[5]);
  const uint32_t reused = entry_of(limiter, numbered(8), 12);
  EXPECT_EQ(reused, entries[5]);
  EXPECT_EQ(limiter.find(numbered(5)), kNoSource);
  EXPECT_EQ(limiter.open_sessions(reused), 0u);
  ASSERT_EQ(limiter.admit_session(reused, 12), Admission::admitted);
  EXPECT_EQ(request(limiter, numbered(9), 13), Admission::table_full);
}

TEST(SourceLimiterTest, TableFullComesBeforeRateReasons) {
  SourceLimiter limiter({.requests_per_s = 1, .prefix_requests_per_s = 1}, 8, kSeed);
  for (uint32_t n = 0; n < 8; ++n) {
    ASSERT_EQ(limiter.admit_session(entry_of(limiter, v4(0x0a000000u + n * 256), 0), 0),
              Admission::admitted);
  }
  EXPECT_EQ(request(limiter, v4(0x0a000001u), 0), Admission::table_full);  // prefix used up
}

// 64 entries in 8 sets; a flood of 20,000 addresses that never get answered.
TEST(SourceLimiterTest, PinnedAndAnsweredEntriesSurviveAFlood) {
  SourceLimiter limiter({.requests_per_s = 5}, 64, kSeed);
  std::vector<FlowKey> pinned, answered, idle;
  std::vector<uint32_t> pinned_entries, answered_entries;
  for (uint32_t n = 0; n < 8; ++n) {
    pinned.push_back(v6("2001:db8::1"));
    pinned.back().address_low += n;
    pinned_entries.push_back(entry_of(limiter, pinned.back(), 0));
    ASSERT_EQ(limiter.admit_session(pinned_entries.back(), 0), Admission::admitted);
    answered.push_back(v4(0xc0a80000u + n));
    answered_entries.push_back(entry_of(limiter, answered.back(), 0));
    limiter.mark_answered(answered_entries.back());
    idle.push_back(v4(0xac100000u + n));
    static_cast<void>(entry_of(limiter, idle.back(), 0));
  }
  uint32_t flood_admitted = 0;
  for (uint32_t n = 0; n < 20'000; ++n) {
    const Admission verdict = request(limiter, numbered(100 + n), 1 + n);
    ASSERT_NE(verdict, Admission::source_rate);  // each flooding address is new
    if (verdict == Admission::admitted) ++flood_admitted;
  }
  EXPECT_GT(flood_admitted, 19'000u);  // table_full only if one set got all 8 pinned
  for (uint32_t n = 0; n < 8; ++n) {
    EXPECT_EQ(limiter.find(pinned[n]), pinned_entries[n]) << n;
    EXPECT_EQ(limiter.open_sessions(pinned_entries[n]), 1u);
    EXPECT_EQ(limiter.find(idle[n]), kNoSource) << n;
  }
  // Answered entries too, where their set kept a way free for the flood.
  uint32_t answered_kept = 0;
  for (uint32_t n = 0; n < 8; ++n) {
    if (limiter.find(answered[n]) == answered_entries[n]) ++answered_kept;
  }
  EXPECT_EQ(answered_kept, 8u);
  // The pinned entries kept their buckets: 4 tokens left from the first request.
  EXPECT_EQ(admitted_in_a_row(limiter, pinned[0], 0), 4u);
}

TEST(SourceLimiterTest, PrefixTableReplacesItsOldestEntry) {
  SourceLimiter limiter({.prefix_requests_per_s = 1}, 8, kSeed);
  for (uint32_t net = 0; net < 8; ++net) {
    ASSERT_EQ(request(limiter, v4(0x0a000001u + net * 256), net), Admission::admitted);
  }
  EXPECT_EQ(request(limiter, v4(0x0a000002u), 10), Admission::prefix_rate);  // 10.0.0.0/24
  EXPECT_EQ(request(limiter, v4(0x0a000801u), 11), Admission::admitted);     // replaces /24 #1
  EXPECT_EQ(request(limiter, v4(0x0a000003u), 12), Admission::prefix_rate);  // #0 still there
  EXPECT_EQ(request(limiter, v4(0x0a000102u), 13), Admission::admitted);     // #1 afresh
}

TEST(SourceLimiterTest, TheSeedDecidesPlacement) {
  const SourceLimiter first({}, 64, 1);
  const SourceLimiter same({}, 64, 1);
  const SourceLimiter second({}, 64, 2);
  uint32_t moved = 0;
  std::set<uint32_t> used;
  for (uint32_t n = 0; n < 256; ++n) {
    const uint32_t set = first.set_of(numbered(n));
    ASSERT_LT(set, 8u);
    used.insert(set);
    EXPECT_EQ(same.set_of(numbered(n)), set);
    if (second.set_of(numbered(n)) != set) ++moved;
  }
  EXPECT_EQ(used.size(), 8u);
  // Independent placements agree on about 1 in 8.
  EXPECT_GT(moved, 160u);
  EXPECT_NE(first.set_of(v4(0x0a000001u)), kNoSource);
}

TEST(SourceLimiterDeathTest, BadEntriesAbort) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  SourceLimiter limiter({}, 8, kSeed);
  EXPECT_DEATH(static_cast<void>(limiter.admit_session(0, 0)), "invariant failed");
  EXPECT_DEATH(static_cast<void>(limiter.answered(8)), "invariant failed");
  EXPECT_DEATH(limiter.session_closed(kNoSource), "invariant failed");
  const uint32_t entry = entry_of(limiter, v4(0x0a000001u), 0);
  EXPECT_DEATH(limiter.session_closed(entry), "invariant failed");
  EXPECT_DEATH(static_cast<void>(limiter.admit_request(v4(1), 0, nullptr)),
               "invariant failed");
}

}  // namespace
}  // namespace shortline

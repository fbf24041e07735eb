// Matching replies to requests in shortline-replay: DNS query recognition, matching by DNS ID
// with several queries in flight per flow and out of order, matching by flow in send order,
// expiry, eviction when full, and the ramp's intervals and knee. Pure logic, no sockets.
#include <gtest/gtest.h>

#include <cstddef>
#include <initializer_list>
#include <vector>

#include "tools/replay/dns_query.h"
#include "tools/replay/outstanding_requests.h"
#include "tools/replay/ramp_intervals.h"

namespace shortline::replay {
namespace {

std::vector<std::byte> bytes(std::initializer_list<int> values) {
  std::vector<std::byte> out;
  for (int v : values) out.push_back(static_cast<std::byte>(v));
  return out;
}

// A query for "a.example." type A, class IN, with the given ID and additional count.
std::vector<std::byte> dns_query(uint16_t id, int additional = 0) {
  std::vector<std::byte> q = bytes({id >> 8, id & 0xFF, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0,
                                    additional, 1, 'a', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0,
                                    0, 1, 0, 1});
  return q;
}

TEST(DnsQuery, RecognisesQueriesAndNothingElse) {
  EXPECT_TRUE(is_dns_query(dns_query(0x1234)));
  EXPECT_TRUE(is_dns_query(dns_query(7, 1)));  // with an EDNS OPT record
  EXPECT_EQ(dns_message_id(dns_query(0xBEEF)), 0xBEEF);
  std::vector<std::byte> response = dns_query(1);
  response[2] = std::byte{0x81};  // QR set
  EXPECT_FALSE(is_dns_query(response));
  std::vector<std::byte> two_questions = dns_query(1);
  two_questions[5] = std::byte{2};
  EXPECT_FALSE(is_dns_query(two_questions));
  std::vector<std::byte> cut = dns_query(1);
  cut.resize(cut.size() - 2);  // no room for type and class
  EXPECT_FALSE(is_dns_query(cut));
  std::vector<std::byte> pointer = dns_query(1);
  pointer[12] = std::byte{0xC0};  // a compression pointer where the name starts
  EXPECT_FALSE(is_dns_query(pointer));
  EXPECT_FALSE(is_dns_query(bytes({1, 2, 3})));
  // A RADIUS Access-Request: code 1, id, length 20, then a 16-byte authenticator.
  EXPECT_FALSE(is_dns_query(bytes({1, 9, 0, 20, 0x5e, 0x11, 0x42, 0x07, 0x9a, 0x33, 0x10, 0x01,
                                   0x77, 0x64, 0x23, 0xfe, 0x08, 0x19, 0x2a, 0x3b})));
}

std::vector<std::byte> reply_with_id(uint16_t id) { return bytes({id >> 8, id & 0xFF, 0x81, 0}); }

TEST(OutstandingRequests, DnsRepliesMatchTheirQueryInAnyOrder) {
  const std::vector<uint64_t> sends{10, 10};
  OutstandingRequests table(MatchMode::kDns, 64, sends);
  // Four queries in flight on flow 0, one on flow 1; IDs are the flows' sequence numbers.
  std::vector<uint16_t> ids;
  for (uint64_t t = 100; t < 500; t += 100) {
    ids.push_back(table.next_id(0));
    table.on_sent(0, t, static_cast<uint32_t>(t / 100));
  }
  EXPECT_EQ(ids, (std::vector<uint16_t>{0, 1, 2, 3}));
  EXPECT_EQ(table.next_id(1), 0);
  table.on_sent(1, 450, 9);
  EXPECT_EQ(table.outstanding(), 5U);
  // Replies come back in reverse: each finds its own send time.
  for (int i = 3; i >= 0; --i) {
    const auto matched = table.on_reply(0, reply_with_id(ids[static_cast<size_t>(i)]));
    ASSERT_TRUE(matched.has_value()) << i;
    EXPECT_EQ(matched->sent_ns, 100U * static_cast<uint64_t>(i + 1));
    EXPECT_EQ(matched->interval, static_cast<uint32_t>(i + 1));
  }
  EXPECT_FALSE(table.on_reply(0, reply_with_id(2)).has_value());   // a duplicate
  EXPECT_FALSE(table.on_reply(0, reply_with_id(77)).has_value());  // never sent
  EXPECT_FALSE(table.on_reply(0, bytes({1})).has_value());         // too short for an ID
  const auto other_flow = table.on_reply(1, reply_with_id(0));
  ASSERT_TRUE(other_flow.has_value());
  EXPECT_EQ(other_flow->sent_ns, 450U);
  EXPECT_EQ(table.outstanding(), 0U);
  EXPECT_EQ(table.outstanding_max(), 5U);
}

TEST(OutstandingRequests, IdsWrapAndStayUniqueInAFlowWindow) {
  const std::vector<uint64_t> sends{1};
  OutstandingRequests table(MatchMode::kDns, 8, sends);
  for (uint64_t i = 0; i < 70'000; ++i) {  // past 2^16 sends, each answered at once
    const uint16_t id = table.next_id(0);
    EXPECT_EQ(id, static_cast<uint16_t>(i));
    table.on_sent(0, i, 0);
    ASSERT_TRUE(table.on_reply(0, reply_with_id(id)).has_value()) << i;
  }
  // Eight in flight across the wrap of the ID space, answered out of order.
  std::vector<uint16_t> ids;
  for (uint64_t i = 0; i < 8; ++i) {
    ids.push_back(table.next_id(0));
    table.on_sent(0, 1000 + i, 0);
  }
  for (size_t i : {5, 0, 7, 2, 1, 6, 3, 4}) {
    const auto matched = table.on_reply(0, reply_with_id(ids[i]));
    ASSERT_TRUE(matched.has_value());
    EXPECT_EQ(matched->sent_ns, 1000 + i);
  }
  EXPECT_EQ(table.evicted(), 0U);
}

TEST(OutstandingRequests, FlowMatchingAnswersTheOldestFirst) {
  const std::vector<uint64_t> sends{5, 5};
  OutstandingRequests table(MatchMode::kFlow, 16, sends);
  table.on_sent(0, 10, 0);
  table.on_sent(1, 15, 0);
  table.on_sent(0, 20, 1);
  const auto first = table.on_reply(0, bytes({0xAA}));  // any payload
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->sent_ns, 10U);
  EXPECT_EQ(table.on_reply(0, {})->sent_ns, 20U);
  EXPECT_FALSE(table.on_reply(0, {}).has_value());
  EXPECT_EQ(table.on_reply(1, {})->sent_ns, 15U);
}

TEST(OutstandingRequests, ExpiryAndEvictionCountAsLostAndLateRepliesDoNotMatch) {
  const std::vector<uint64_t> sends{1};
  OutstandingRequests table(MatchMode::kDns, 4, sends);
  for (uint64_t t = 1; t <= 4; ++t) table.on_sent(0, t * 10, 0);  // IDs 0..3, table full
  EXPECT_EQ(table.oldest_sent_ns(), 10U);
  table.on_sent(0, 50, 0);  // ID 4: the oldest (ID 0) is given up
  EXPECT_EQ(table.evicted(), 1U);
  EXPECT_FALSE(table.on_reply(0, reply_with_id(0)).has_value());
  EXPECT_EQ(table.expire_sent_before(35), 2U);  // IDs 1 and 2
  EXPECT_FALSE(table.on_reply(0, reply_with_id(1)).has_value());
  EXPECT_EQ(table.on_reply(0, reply_with_id(3))->sent_ns, 40U);
  EXPECT_EQ(table.oldest_sent_ns(), 50U);
  EXPECT_EQ(table.expire_sent_before(UINT64_MAX), 1U);
  EXPECT_FALSE(table.oldest_sent_ns().has_value());
  EXPECT_EQ(table.outstanding(), 0U);
  table.on_not_sent(0);  // ID 5 used up by a refused send
  EXPECT_EQ(table.next_id(0), 6);
  EXPECT_EQ(table.outstanding(), 0U);
}

TEST(OutstandingRequests, ABusyFlowGetsMoreRoomThanAQuietOne) {
  // 4096 flows over a 64 Ki table would need 2 GiB with full room each: shares apply.
  std::vector<uint64_t> sends(4096, 1);
  sends[0] = 100'000;
  OutstandingRequests table(MatchMode::kDns, 65536, sends);
  for (uint64_t i = 0; i < 20'000; ++i) table.on_sent(0, i, 0);
  EXPECT_EQ(table.evicted(), 0U);
  for (uint64_t i = 0; i < 100; ++i) table.on_sent(1, i, 0);
  EXPECT_EQ(table.evicted(), 36U);  // the quiet flow holds 64
}

IntervalRow row_with(uint64_t sent, uint64_t answered, uint64_t p99_ns, double start_s = 0) {
  IntervalCounts counts;
  counts.sent = sent;
  counts.answered = answered;
  for (uint64_t i = 0; i < answered; ++i) counts.latency_ns.record(p99_ns);
  return make_row(counts, start_s, 1.0, 0.0);
}

TEST(RampKnee, HighestOfferedRateWithinBothBounds) {
  std::vector<IntervalRow> rows = {
      row_with(1000, 1000, 1'000'000, 0), row_with(2000, 1995, 2'000'000, 1),
      row_with(3000, 2900, 2'000'000, 2),  // 3.3 % loss
      row_with(2500, 2500, 900'000'000, 3),  // p99 900 ms
      row_with(0, 0, 0, 4)};
  EXPECT_NEAR(rows[1].loss, 0.0025, 1e-9);
  EXPECT_DOUBLE_EQ(rows[2].offered_pps, 3000);
  EXPECT_DOUBLE_EQ(rows[2].answered_pps, 2900);
  const auto knee = find_knee(rows, KneeBounds{0.01, 100});
  ASSERT_TRUE(knee.has_value());
  EXPECT_EQ(*knee, 1U);
  EXPECT_EQ(*find_knee(rows, KneeBounds{0.05, 100}), 2U);
  EXPECT_EQ(*find_knee(rows, KneeBounds{0.05, 1000}), 2U);
  EXPECT_EQ(*find_knee(rows, KneeBounds{0.0, 1000}), 3U);
  EXPECT_FALSE(find_knee(std::vector<IntervalRow>{row_with(10, 0, 0)}, KneeBounds{}).has_value());
}

TEST(RampKnee, MaxThroughputStopsAtTheFirstRowOverABound) {
  std::vector<IntervalRow> rows = {
      row_with(0, 0, 0, 0),                   // nothing sent: no evidence either way
      row_with(1000, 1000, 1'000'000, 1),
      row_with(2000, 1990, 2'000'000, 2),     // the best before the break
      row_with(1500, 1500, 1'000'000, 3),
      row_with(3000, 2900, 2'000'000, 4),     // 3.3 % loss: the first break
      row_with(4000, 4000, 1'000'000, 5)};    // better, but after the break
  EXPECT_EQ(*find_knee(rows, KneeBounds{0.01, 100}), 5U);
  const auto best = find_best_before_first_break(rows, KneeBounds{0.01, 100});
  ASSERT_TRUE(best.has_value());
  EXPECT_EQ(*best, 2U);
  EXPECT_EQ(*find_best_before_first_break(rows, KneeBounds{0.05, 100}), 5U);
  EXPECT_EQ(*find_best_before_first_break(rows, KneeBounds{0.05, 1.5}), 1U);  // p99 breaks at 2
  // The first row with sends already breaks: no figure.
  EXPECT_FALSE(find_best_before_first_break(rows, KneeBounds{0.05, 0.5}).has_value());
}

TEST(RampKnee, RowsCoverTheSpanAndACutShortLastRowIsNotAKnee) {
  IntervalTable table(500'000'000, 3);  // 0.5 s rows
  EXPECT_EQ(table.index_at(0), 0U);
  EXPECT_EQ(table.index_at(499'999'999), 0U);
  EXPECT_EQ(table.index_at(500'000'000), 1U);
  EXPECT_EQ(table.index_at(10'000'000'000ULL), 2U);  // past the end: the last row
  for (uint32_t i = 0; i < 3; ++i) {
    table.at(i).sent = 100;
    table.at(i).answered = 100;
  }
  // A 1.1 s span: rows 0-0.5, 0.5-1.0 and a 0.1 s stub whose 100 sends look like 1000 pps.
  const auto rows = interval_rows(table, 1'100'000'000, [](double t) { return 100.0 * t; });
  ASSERT_EQ(rows.size(), 3U);
  EXPECT_DOUBLE_EQ(rows[1].start_s, 0.5);
  EXPECT_DOUBLE_EQ(rows[1].end_s, 1.0);
  EXPECT_DOUBLE_EQ(rows[1].intended_pps, 75.0);
  EXPECT_NEAR(rows[2].end_s, 1.1, 1e-9);
  EXPECT_NEAR(rows[2].offered_pps, 1000.0, 1e-6);
  EXPECT_EQ(*find_knee(rows, KneeBounds{}), 0U);  // rows 0 and 1 tie at 200 pps; the stub is out
}

}  // namespace
}  // namespace shortline::replay

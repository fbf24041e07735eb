// Tests of the history ring behind /api/history: rates from counter deltas, wrap-around, the
// per-sample server cap, the JSON shape and since filter, and the p99 of a histogram delta.
#include "control/status_history.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <vector>

namespace shortline {
namespace {

ServerStatus server(uint32_t id, const std::string& state, int64_t load, int64_t in_flight) {
  ServerStatus s;
  s.id = id;
  s.address = "127.0.0.1:" + std::to_string(50000 + id);
  s.state = state;
  s.load = load;
  s.in_flight = in_flight;
  return s;
}

LbStatus status_at(uint64_t uptime_ms, uint64_t requests, std::vector<ServerStatus> servers) {
  LbStatus status;
  status.uptime_ms = uptime_ms;
  status.dataplane.values[static_cast<size_t>(Counter::requests_received)] = requests;
  status.servers = std::move(servers);
  return status;
}

constexpr int64_t kT0 = 1'700'000'000'000;  // a wall-clock time in ms

TEST(StatusHistoryTest, RateComesFromTheRequestCounterDeltas) {
  StatusHistory history;
  history.record(status_at(1000, 1000, {}), kT0);
  history.record(status_at(2000, 1500, {}), kT0 + 1000);
  history.record(status_at(4000, 1900, {}), kT0 + 3000);  // a late sample: two seconds
  ASSERT_EQ(history.size(), 3u);
  EXPECT_FALSE(history.sample(0).requests_per_s.has_value()) << "nothing to compare with";
  ASSERT_TRUE(history.sample(1).requests_per_s.has_value());
  EXPECT_DOUBLE_EQ(*history.sample(1).requests_per_s, 500.0);
  EXPECT_DOUBLE_EQ(*history.sample(2).requests_per_s, 200.0);
}

TEST(StatusHistoryTest, CounterGoingBackwardsOrNoTimePassingGivesNoRate) {
  StatusHistory history;
  history.record(status_at(1000, 1000, {}), kT0);
  history.record(status_at(2000, 10, {}), kT0 + 1000);
  history.record(status_at(2000, 20, {}), kT0 + 1001);
  EXPECT_FALSE(history.sample(1).requests_per_s.has_value());
  EXPECT_FALSE(history.sample(2).requests_per_s.has_value());
}

TEST(StatusHistoryTest, FullRingDropsTheOldestSample) {
  StatusHistory history(HistoryLimits{3, 8, 1000});
  for (int i = 0; i < 5; ++i)
    history.record(status_at(1000 * static_cast<uint64_t>(i + 1), 0, {}), kT0 + 1000 * i);
  ASSERT_EQ(history.size(), 3u);
  EXPECT_EQ(history.sample(0).time_unix_ms, kT0 + 2000);
  EXPECT_EQ(history.sample(1).time_unix_ms, kT0 + 3000);
  EXPECT_EQ(history.sample(2).time_unix_ms, kT0 + 4000);
}

TEST(StatusHistoryTest, CountsCoverEveryServerButOnlyTheFirstOnesAreKept) {
  StatusHistory history(HistoryLimits{10, 2, 1000});
  history.record(status_at(1000, 0,
                           {server(1, "up", 3, 2), server(2, "draining", 4, 4),
                            server(3, "up", 5, 1), server(4, "down", -1, 0)}),
                 kT0);
  const HistorySample sample = history.sample(0);
  EXPECT_EQ(sample.servers_total, 4u);
  EXPECT_EQ(sample.servers_up, 2u);
  EXPECT_EQ(sample.load_total, 12) << "every server's load, a negative one as 0";
  ASSERT_EQ(sample.servers.size(), 2u);
  EXPECT_EQ(sample.servers[0].id, 1u);
  EXPECT_EQ(sample.servers[0].load, 3);
  EXPECT_EQ(sample.servers[0].in_flight, 2);
  EXPECT_EQ(sample.servers[1].id, 2u);
}

TEST(StatusHistoryTest, P99IsAbsentWithoutALatencyHistogram) {
  StatusHistory history;
  history.record(status_at(1000, 0, {}), kT0);
  history.record(status_at(2000, 100, {}), kT0 + 1000);
  EXPECT_FALSE(history.sample(1).reply_p99_ms.has_value());
}

TEST(StatusHistoryTest, JsonHasOneArrayPerSeriesAndNullsWhereAServerWasAbsent) {
  StatusHistory history;
  history.record(status_at(1000, 0, {server(1, "up", 2, 1)}), kT0);
  history.record(status_at(2000, 300, {server(1, "up", 4, 3), server(2, "up", 1, 1)}),
                 kT0 + 1000);
  const auto json = nlohmann::json::parse(history.to_json());
  EXPECT_EQ(json["interval_ms"], 1000);
  EXPECT_EQ(json["samples_max"], 900);
  EXPECT_EQ(json["servers_per_sample_max"], 64);
  EXPECT_EQ(json["time_unix_ms"], nlohmann::json({kT0, kT0 + 1000}));
  EXPECT_EQ(json["requests_per_s"], nlohmann::json({nullptr, 300.0}));
  EXPECT_EQ(json["reply_p99_ms"], nlohmann::json({nullptr, nullptr}));
  EXPECT_EQ(json["servers_up"], nlohmann::json({1, 2}));
  EXPECT_EQ(json["servers_total"], nlohmann::json({1, 2}));
  EXPECT_EQ(json["load_total"], nlohmann::json({2, 5}));
  ASSERT_EQ(json["servers"].size(), 2u);
  EXPECT_EQ(json["servers"][0]["id"], 1);
  EXPECT_EQ(json["servers"][0]["address"], "127.0.0.1:50001");
  EXPECT_EQ(json["servers"][0]["load"], nlohmann::json({2, 4}));
  EXPECT_EQ(json["servers"][0]["in_flight"], nlohmann::json({1, 3}));
  EXPECT_EQ(json["servers"][1]["id"], 2);
  EXPECT_EQ(json["servers"][1]["load"], nlohmann::json({nullptr, 1}));
}

TEST(StatusHistoryTest, JsonSinceSkipsTheSamplesAPageAlreadyHas) {
  StatusHistory history;
  for (int i = 0; i < 4; ++i)
    history.record(status_at(1000 * static_cast<uint64_t>(i + 1), 0, {server(1, "up", i, 0)}),
                   kT0 + 1000 * i);
  const auto json = nlohmann::json::parse(history.to_json(kT0 + 1000));
  EXPECT_EQ(json["time_unix_ms"], nlohmann::json({kT0 + 2000, kT0 + 3000}));
  EXPECT_EQ(json["servers"][0]["load"], nlohmann::json({2, 3}));
  const auto none = nlohmann::json::parse(history.to_json(kT0 + 3000));
  EXPECT_TRUE(none["time_unix_ms"].empty());
  EXPECT_TRUE(none["servers"].empty());
}

TEST(StatusHistoryTest, JsonListsAtMostTheCapOfServersSeenMostRecently) {
  StatusHistory history(HistoryLimits{10, 2, 1000});
  history.record(status_at(1000, 0, {server(1, "up", 1, 0), server(2, "up", 1, 0)}), kT0);
  history.record(status_at(2000, 0, {server(3, "up", 1, 0), server(4, "up", 1, 0)}),
                 kT0 + 1000);
  const auto json = nlohmann::json::parse(history.to_json());
  ASSERT_EQ(json["servers"].size(), 2u);
  EXPECT_EQ(json["servers"][0]["id"], 3);
  EXPECT_EQ(json["servers"][1]["id"], 4);
  EXPECT_EQ(json["servers"][1]["address"], "127.0.0.1:50004");
}

// ---- p99 of a histogram delta ----

const std::vector<double> kBoundsS = {0.001, 0.002, 0.005};

TEST(P99FromHistogramDeltaTest, InterpolatesInsideTheBucketOfThe99thReply) {
  const std::vector<uint64_t> now = {0, 100, 0};
  const auto p99 = p99_from_histogram_delta(kBoundsS, now, {});
  ASSERT_TRUE(p99.has_value());
  EXPECT_NEAR(*p99, 0.001 + 0.001 * 0.99, 1e-12);
}

TEST(P99FromHistogramDeltaTest, FirstBucketStartsAtZero) {
  const std::vector<uint64_t> now = {100, 0, 0};
  EXPECT_NEAR(*p99_from_histogram_delta(kBoundsS, now, {}), 0.00099, 1e-12);
}

TEST(P99FromHistogramDeltaTest, OnlyTheRepliesBetweenTheReadingsCount) {
  const std::vector<uint64_t> before = {50, 50, 10, 0};  // with the "above every bound" bucket
  const std::vector<uint64_t> now = {50, 150, 10, 0};
  EXPECT_NEAR(*p99_from_histogram_delta(kBoundsS, now, before), 0.00199, 1e-12);
}

TEST(P99FromHistogramDeltaTest, TheTailDecidesWhenOnePercentIsSlow) {
  const std::vector<uint64_t> now = {98, 0, 2};  // rank 99 falls in the last bucket
  EXPECT_NEAR(*p99_from_histogram_delta(kBoundsS, now, {}), 0.002 + 0.003 * 0.5, 1e-12);
}

TEST(P99FromHistogramDeltaTest, BeyondTheLastBoundIsThatBound) {
  const std::vector<uint64_t> now = {0, 0, 0, 100};
  EXPECT_DOUBLE_EQ(*p99_from_histogram_delta(kBoundsS, now, {}), 0.005);
}

TEST(P99FromHistogramDeltaTest, NoRepliesOrAResetOrAWrongShapeGiveNothing) {
  const std::vector<uint64_t> same = {5, 5, 5};
  EXPECT_FALSE(p99_from_histogram_delta(kBoundsS, same, same).has_value()) << "no replies";
  const std::vector<uint64_t> smaller = {1, 5, 5};
  EXPECT_FALSE(p99_from_histogram_delta(kBoundsS, smaller, same).has_value()) << "reset";
  const std::vector<uint64_t> two = {1, 2};
  EXPECT_FALSE(p99_from_histogram_delta(kBoundsS, two, {}).has_value()) << "too few buckets";
  const std::vector<uint64_t> five = {1, 2, 3, 4, 5};
  EXPECT_FALSE(p99_from_histogram_delta(kBoundsS, five, {}).has_value()) << "too many";
  EXPECT_FALSE(p99_from_histogram_delta(kBoundsS, same, two).has_value()) << "shapes differ";
  EXPECT_FALSE(p99_from_histogram_delta({}, std::vector<uint64_t>{}, {}).has_value());
}

}  // namespace
}  // namespace shortline

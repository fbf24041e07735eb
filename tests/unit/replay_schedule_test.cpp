// Replay pacing maths (offsets, loops, speed, cursor), the latency histogram, the flow map and
// the command-line parser of shortline-replay: pure logic, no sockets, no clocks.
#include <gtest/gtest.h>

#include <vector>

#include "tools/replay/flow_map.h"
#include "tools/replay/replay_options.h"
#include "tools/replay/replay_schedule.h"
#include "tools/replay/replay_stats.h"

namespace shortline::replay {
namespace {

TEST(BuildOffsets, MonotoneFromTheFirstTimestamp) {
  const std::vector<uint64_t> ts{1000, 1500, 1400, 3000, 3000};
  const Offsets o = build_offsets(ts, 0);
  EXPECT_EQ(o.offsets_ns, (std::vector<uint64_t>{0, 500, 500, 2100, 2100}));
  EXPECT_EQ(o.backwards, 1U);
  EXPECT_EQ(o.gaps_clamped, 0U);
  EXPECT_TRUE(build_offsets({}, 0).offsets_ns.empty());
}

TEST(BuildOffsets, LongGapsAreClamped) {
  const std::vector<uint64_t> ts{0, 10, 1'000'000'010, 1'000'000'020};
  const Offsets o = build_offsets(ts, 100);
  EXPECT_EQ(o.offsets_ns, (std::vector<uint64_t>{0, 10, 110, 120}));
  EXPECT_EQ(o.gaps_clamped, 1U);
}

TEST(ReplaySchedule, RecordedPaceLoopsAndSpeed) {
  // Four datagrams 10 ms apart: span 30 ms, mean gap 10 ms, period 40 ms.
  const std::vector<uint64_t> offsets{0, 10'000'000, 20'000'000, 30'000'000};
  const ReplaySchedule recorded(offsets, 1.0);
  EXPECT_EQ(recorded.period_ns(), 40'000'000U);
  EXPECT_EQ(recorded.due_ns(0, 3), 30'000'000U);
  EXPECT_EQ(recorded.due_ns(2, 1), 90'000'000U);
  EXPECT_DOUBLE_EQ(recorded.intended_rate_pps(), 100.0);
  const ReplaySchedule fast(offsets, 10.0);
  EXPECT_EQ(fast.due_ns(0, 3), 3'000'000U);
  EXPECT_EQ(fast.due_ns(1, 0), 4'000'000U);
  EXPECT_DOUBLE_EQ(fast.intended_rate_pps(), 1000.0);
  const ReplaySchedule slow(offsets, 0.5);
  EXPECT_EQ(slow.due_ns(0, 1), 20'000'000U);
  const ReplaySchedule max_rate(offsets, 0.0);
  EXPECT_TRUE(max_rate.max_rate());
  EXPECT_EQ(max_rate.due_ns(5, 3), 0U);
  EXPECT_EQ(max_rate.intended_rate_pps(), 0.0);
}

TEST(ReplaySchedule, HugeLoopCountsDoNotOverflow) {
  const ReplaySchedule s(std::vector<uint64_t>{0, 1'000'000'000'000ULL}, 1e-3);
  EXPECT_EQ(s.due_ns(4'000'000'000ULL, 1), UINT64_MAX / 2);  // clamped, never wrapped
  EXPECT_GT(s.due_ns(1000, 1), s.due_ns(999, 1));
  const ReplaySchedule single(std::vector<uint64_t>{0}, 1.0);
  EXPECT_EQ(single.period_ns(), 0U);
  EXPECT_EQ(single.due_ns(1000, 0), 0U);
}

TEST(ScheduleCursor, WalksLoopsInOrder) {
  const ReplaySchedule s(std::vector<uint64_t>{0, 5, 10}, 1.0);
  ScheduleCursor cursor(s, 2);
  std::vector<uint64_t> dues;
  for (int guard = 0; !cursor.done() && guard < 100; ++guard) {
    dues.push_back(cursor.due_ns());
    cursor.advance();
  }
  EXPECT_EQ(dues, (std::vector<uint64_t>{0, 5, 10, 15, 20, 25}));
  EXPECT_EQ(cursor.loop(), 2U);
  ScheduleCursor unbounded(s, 0);
  for (int i = 0; i < 30; ++i) unbounded.advance();
  EXPECT_FALSE(unbounded.done());
  const ReplaySchedule empty(std::vector<uint64_t>{}, 1.0);
  EXPECT_TRUE(ScheduleCursor(empty, 0).done());
}

TEST(ReplaySchedule, FixedRateSpacesSendsEvenlyOverLoops) {
  const ReplaySchedule s = ReplaySchedule::fixed_rate(3, 1000.0);  // 1 ms apart
  EXPECT_EQ(s.pace(), ReplaySchedule::Pace::kFixedRate);
  EXPECT_EQ(s.due_ns(0, 0), 0U);
  EXPECT_EQ(s.due_ns(0, 2), 2'000'000U);
  EXPECT_EQ(s.due_ns(1, 0), 3'000'000U);  // the next loop goes on at the same rate
  EXPECT_EQ(s.due_ns(1000, 1), 3'001'000'000U);
  EXPECT_DOUBLE_EQ(s.intended_rate_pps(), 1000.0);
  EXPECT_DOUBLE_EQ(s.intended_rate_at(12.0), 1000.0);
}

TEST(ReplaySchedule, RampSendsAsTheIntegralOfALinearRate) {
  // 1000 -> 3000 pps over 2 s: 4000 sends in all, 1500 in the first second.
  const ReplaySchedule s = ReplaySchedule::ramp(10, 1000.0, 3000.0, 2.0);
  EXPECT_EQ(s.pace(), ReplaySchedule::Pace::kRamp);
  EXPECT_EQ(s.due_ns(0, 0), 0U);
  EXPECT_NEAR(static_cast<double>(s.due_ns(150, 0)), 1e9, 1e3);   // send 1500 at 1 s
  EXPECT_NEAR(static_cast<double>(s.due_ns(400, 0)), 2e9, 1e3);   // send 4000 at 2 s
  EXPECT_NEAR(static_cast<double>(s.due_ns(0, 1)), 1e6, 1e3);     // first gap: 1 / 1000 pps
  EXPECT_DOUBLE_EQ(s.intended_rate_at(1.0), 2000.0);
  EXPECT_DOUBLE_EQ(s.intended_rate_pps(), 3000.0);
  // From zero: sends k at sqrt(2 k / slope); 1000 pps/s reaches send 500 at 1 s.
  const ReplaySchedule from_zero = ReplaySchedule::ramp(1, 0.0, 1000.0, 1.0);
  EXPECT_EQ(from_zero.due_ns(0, 0), 0U);
  EXPECT_NEAR(static_cast<double>(from_zero.due_ns(500, 0)), 1e9, 1e3);
  uint64_t previous = 0;
  for (uint64_t k = 1; k < 2000; ++k) {  // never decreasing
    EXPECT_GE(from_zero.due_ns(k, 0), previous);
    previous = from_zero.due_ns(k, 0);
  }
  // A falling ramp whose rate would reach zero never schedules past that point as "soon".
  const ReplaySchedule falling = ReplaySchedule::ramp(1, 1000.0, 0.001, 1.0);
  EXPECT_EQ(falling.due_ns(10'000, 0), UINT64_MAX / 2);
}

// The replay records into the client's LatencyHistogram (its buckets are tested in
// latency_histogram_test); here, the accuracy the replay summary relies on.
TEST(ReplayLatency, PercentilesWithinThreePercent) {
  ReplayResult result;
  tools::LatencyHistogram& h = result.latency_ns;
  EXPECT_EQ(h.percentile_ns(0.5), 0U);
  for (uint64_t v = 1; v <= 10'000; ++v) h.record(v * 1000);  // 1 us .. 10 ms
  EXPECT_EQ(h.count(), 10'000U);
  EXPECT_EQ(h.max_ns(), 10'000'000U);
  EXPECT_NEAR(static_cast<double>(h.percentile_ns(0.5)), 5e6, 5e6 * 0.03);
  EXPECT_NEAR(static_cast<double>(h.percentile_ns(0.99)), 9.9e6, 9.9e6 * 0.03);
  EXPECT_LE(h.percentile_ns(1.0), h.max_ns());
  EXPECT_NEAR(h.mean_ns(), 5.0005e6, 1.0);
}

NetAddress address(const char* text) { return *NetAddress::parse(text); }

TEST(FlowMap, DistinctSourcesGetDistinctFlows) {
  FlowMap flows(3);
  EXPECT_EQ(flows.index_for(address("10.0.0.1:1000")), 0U);
  EXPECT_EQ(flows.index_for(address("10.0.0.1:1001")), 1U);
  EXPECT_EQ(flows.index_for(address("10.0.0.1:1000")), 0U);
  EXPECT_EQ(flows.index_for(address("[2001:db8::1]:1000")), 2U);
  const uint32_t folded = flows.index_for(address("10.0.0.9:9"));
  EXPECT_LT(folded, 3U);
  EXPECT_EQ(flows.index_for(address("10.0.0.9:9")), folded);
  EXPECT_EQ(flows.flow_count(), 3U);
  EXPECT_EQ(flows.distinct_sources(), 4U);
  EXPECT_EQ(flows.folded_sources(), 1U);
}

ParseOutcome parse(const std::vector<const char*>& args, ReplayOptions& options,
                   std::string& error) {
  std::vector<const char*> argv(args.size() + 1, "shortline-replay");
  for (size_t i = 0; i < args.size(); ++i) argv[i + 1] = args[i];
  return parse_options(static_cast<int>(argv.size()), argv.data(), options, error);
}

TEST(ReplayOptions, ParsesFlags) {
  ReplayOptions o;
  std::string error;
  ASSERT_EQ(parse({"c.pcap", "--target", "127.0.0.1:53", "--speed=2.5", "--loop", "3",
                   "--duration", "1.5", "--timeout-ms", "250", "--json", "--filter",
                   "udp port 53", "--no-progress"}, o, error), ParseOutcome::kRun) << error;
  EXPECT_EQ(o.capture_path, "c.pcap");
  EXPECT_EQ(o.target.to_string(), "127.0.0.1:53");
  EXPECT_DOUBLE_EQ(o.speed, 2.5);
  EXPECT_EQ(o.loops, 3U);
  EXPECT_DOUBLE_EQ(o.duration_s, 1.5);
  EXPECT_EQ(o.timeout_ms, 250U);
  EXPECT_TRUE(o.json);
  EXPECT_EQ(o.filter, "udp port 53");
  EXPECT_EQ(o.progress, 0);
  EXPECT_EQ(parse({"--help"}, o, error), ParseOutcome::kHelp);
  ASSERT_EQ(parse({"c.pcap", "--target=[::1]:5300", "--max-rate"}, o, error),
            ParseOutcome::kRun) << error;
  EXPECT_TRUE(o.max_rate);
  EXPECT_EQ(o.speed, 1.0);
}

TEST(ReplayOptions, ParsesLoadFlags) {
  ReplayOptions o;
  std::string error;
  ASSERT_EQ(parse({"c.pcap", "--target", "127.0.0.1:53", "--ramp", "100:5000:30", "--interval",
                   "0.5", "--knee-loss", "0.02", "--knee-p99-ms", "20", "--window", "64",
                   "--match", "flow", "--outstanding-max", "1000"}, o, error),
            ParseOutcome::kRun) << error;
  EXPECT_TRUE(o.ramp);
  EXPECT_DOUBLE_EQ(o.ramp_from_pps, 100);
  EXPECT_DOUBLE_EQ(o.ramp_to_pps, 5000);
  EXPECT_DOUBLE_EQ(o.ramp_seconds, 30);
  EXPECT_DOUBLE_EQ(o.interval_s, 0.5);
  EXPECT_DOUBLE_EQ(o.knee_loss, 0.02);
  EXPECT_DOUBLE_EQ(o.knee_p99_ms, 20);
  EXPECT_EQ(o.window, 64U);
  EXPECT_EQ(o.match, MatchChoice::kFlow);
  EXPECT_EQ(o.outstanding_max, 1000U);
  EXPECT_EQ(o.loops, 0U);  // a ramp loops the capture until it ends
  EXPECT_TRUE(o.plot_path.empty());
  ASSERT_EQ(parse({"c.pcap", "--target", "127.0.0.1:53", "--ramp", "0:10:1", "--plot",
                   "out/Ramp.PNG"}, o, error), ParseOutcome::kRun) << error;
  EXPECT_EQ(o.plot_path, "out/Ramp.PNG");
  ASSERT_EQ(parse({"c.pcap", "--target", "127.0.0.1:53", "--ramp", "0:10:1", "--loop", "2"}, o,
                  error), ParseOutcome::kRun) << error;
  EXPECT_EQ(o.loops, 2U);
  ASSERT_EQ(parse({"c.pcap", "--target", "127.0.0.1:53", "--rate", "2500", "--duration", "3",
                   "--match", "dns"}, o, error), ParseOutcome::kRun) << error;
  EXPECT_DOUBLE_EQ(o.rate_pps, 2500);
  EXPECT_EQ(o.match, MatchChoice::kDns);
  EXPECT_EQ(o.loops, 1U);
}

TEST(ReplayOptions, RejectsBadInput) {
  ReplayOptions o;
  std::string error;
  const std::vector<std::vector<const char*>> bad = {
      {"--target", "127.0.0.1:53"},
      {"c.pcap"},
      {"c.pcap", "--target", "nohost"},
      {"c.pcap", "--target", "127.0.0.1:53", "--speed", "0"},
      {"c.pcap", "--target", "127.0.0.1:53", "--speed", "fast"},
      {"c.pcap", "--target", "127.0.0.1:53", "--speed", "2", "--max-rate"},
      {"c.pcap", "--target", "127.0.0.1:53", "--filter", "udp", "--port", "53"},
      {"c.pcap", "--target", "127.0.0.1:53", "--loop"},
      {"c.pcap", "--target", "127.0.0.1:53", "--flows-max", "0"},
      {"c.pcap", "--target", "127.0.0.1:53", "--bogus"},
      {"a.pcap", "b.pcap", "--target", "127.0.0.1:53"},
      {"c.pcap", "--target", "127.0.0.1:53", "--rate", "0"},
      {"c.pcap", "--target", "127.0.0.1:53", "--rate", "10", "--max-rate"},
      {"c.pcap", "--target", "127.0.0.1:53", "--rate", "10", "--speed", "2"},
      {"c.pcap", "--target", "127.0.0.1:53", "--rate", "10", "--ramp", "1:2:3"},
      {"c.pcap", "--target", "127.0.0.1:53", "--ramp", "1:2"},
      {"c.pcap", "--target", "127.0.0.1:53", "--ramp", "1:0:3"},
      {"c.pcap", "--target", "127.0.0.1:53", "--ramp", "1:2:0"},
      {"c.pcap", "--target", "127.0.0.1:53", "--ramp", "a:2:3"},
      {"c.pcap", "--target", "127.0.0.1:53", "--ramp", "1:2:3:4"},
      {"c.pcap", "--target", "127.0.0.1:53", "--ramp", "1:2:3", "--duration", "3"},
      {"c.pcap", "--target", "127.0.0.1:53", "--ramp", "1:2:3000", "--interval", "1"},
      {"c.pcap", "--target", "127.0.0.1:53", "--window", "0"},
      {"c.pcap", "--target", "127.0.0.1:53", "--knee-loss", "1.5"},
      {"c.pcap", "--target", "127.0.0.1:53", "--knee-p99-ms", "0"},
      {"c.pcap", "--target", "127.0.0.1:53", "--match", "id"},
      {"c.pcap", "--target", "127.0.0.1:53", "--outstanding-max", "0"},
      {"c.pcap", "--target", "127.0.0.1:53", "--rate", "10", "--plot", "ramp.svg"},
      {"c.pcap", "--target", "127.0.0.1:53", "--ramp", "1:2:3", "--plot", "ramp.pdf"},
      {"c.pcap", "--target", "127.0.0.1:53", "--ramp", "1:2:3", "--plot", "svg"},
  };
  for (const auto& args : bad) {
    error.clear();
    EXPECT_EQ(parse(args, o, error), ParseOutcome::kError) << args.size();
    EXPECT_FALSE(error.empty());
  }
}

TEST(ReplayStats, JsonQuoteEscapes) {
  EXPECT_EQ(json_quote("a\"b\\c\n"), "\"a\\\"b\\\\c\\u000a\"");
}

}  // namespace
}  // namespace shortline::replay

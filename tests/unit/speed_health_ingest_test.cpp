// ReportIngest's passive health and speeds, driven by hand through the workers' counters
// (requests, replies, timeouts, refusals) and learnt-service cells: timeouts in a row and
// the half-open probe, outlier ejection and its cap, active check verdicts, weights learnt
// from replies or taken from reports, and slow start after a return.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>

#include "control/report_ingest.h"

namespace shortline {
namespace {

class SpeedHealthIngestTest : public ::testing::Test {
 protected:
  // `count` static backends of weight `weight` in slots 0..count-1, adopted at time 0.
  void start(uint32_t count, uint32_t weight = 1) {
    for (uint32_t n = 0; n < count; ++n) {
      const auto address = NetAddress::parse("127.0.0.1:" + std::to_string(6000 + n));
      ASSERT_TRUE(address.has_value());
      ASSERT_EQ(table_.add_server(*address, weight), std::optional<uint32_t>{n});
    }
    ingest_.emplace(table_, config_, counters_);
    ingest_->adopt_static_backends(0);
    ASSERT_EQ(ingest_->slots().size(), count);
  }

  ReportIngest& ingest() { return *ingest_; }
  const ServerEntry& entry(uint32_t slot) const { return ingest_->entry(slot); }
  ServerSlot& slot(uint32_t index) { return table_.slot(index); }
  ServerState state(uint32_t index) { return table_.slot(index).state.load(); }
  uint32_t weight(uint32_t index) { return table_.slot(index).weight.load(); }
  uint64_t count(ControlCounter c) const { return counters_.get(c); }

  // What the workers would count for requests sent to `index` that were answered, timed
  // out or refused.
  void replies(uint32_t index, uint64_t n) {
    slot(index).requests_total.fetch_add(n);
    slot(index).replies_total.fetch_add(n);
  }
  void timeouts(uint32_t index, uint64_t n) {
    slot(index).requests_total.fetch_add(n);
    slot(index).timeouts_total.fetch_add(n);
  }
  void refusals(uint32_t index, uint32_t n) {
    slot(index).requests_total.fetch_add(n);
    slot(index).passive_errors.fetch_add(n);
  }
  // Worker `worker`'s learnt service time of the server now in `index`.
  void learnt(uint32_t index, double service_us, uint64_t samples, uint32_t worker = 0) {
    table_.learnt(worker, index)
        .store(table_.slot(index).generation.load(), static_cast<uint64_t>(service_us * 1000),
               samples);
  }

  static wire::ServerReport report(uint32_t id, uint64_t sequence, uint32_t service_us,
                                   uint16_t workers = 1) {
    wire::ServerReport r;
    r.server_id = id;
    r.address = *NetAddress::parse("127.0.0.1:" + std::to_string(50000 + id));
    r.workers = workers;
    r.sequence = sequence;
    r.service_time_mean_us = service_us;
    return r;
  }
  void deliver(const wire::ServerReport& r, int64_t now_ms) {
    std::array<uint8_t, wire::kControlMessageBytesMax> buffer{};
    const std::size_t size = wire::encode(r, buffer, {});
    ASSERT_GT(size, 0u);
    ingest_->on_datagram(std::span<const uint8_t>(buffer.data(), size),
                         *NetAddress::parse("127.0.0.1:40000"), now_ms);
  }

  IngestConfig config_;
  ServerTable table_{16, 2};
  ControlCounters counters_;
  std::optional<ReportIngest> ingest_;
};

// --- Timeouts in a row and the half-open probe ---

TEST_F(SpeedHealthIngestTest, TimeoutsInARowTakeAServerDown) {
  config_.passive.timeouts_down = 3;
  start(1);
  timeouts(0, 1);
  ingest().tick(1);
  timeouts(0, 1);
  ingest().tick(2);
  EXPECT_EQ(entry(0).health, Health::up);
  EXPECT_EQ(state(0), ServerState::up);
  timeouts(0, 1);
  ingest().tick(3);
  EXPECT_EQ(entry(0).health, Health::down_timeouts);
  EXPECT_EQ(count(ControlCounter::servers_down_timeouts), 1u);
  // The first probe waits one request timeout, until what was sent before has timed out.
  EXPECT_EQ(state(0), ServerState::down);
  EXPECT_EQ(slot(0).probe_token.load(), 0u);
  ingest().tick(3 + config_.passive.request_timeout_ms - 1);
  EXPECT_EQ(state(0), ServerState::down);
  ingest().tick(3 + config_.passive.request_timeout_ms);
  EXPECT_EQ(state(0), ServerState::probing);
  EXPECT_EQ(slot(0).probe_token.load(), 1u);
  EXPECT_EQ(count(ControlCounter::probes_armed), 1u);
}

// A reporting server gone silent is the data plane's fallback while none is UP
// (fail_open); timeouts there take it out of the fallback as they would an UP server.
TEST_F(SpeedHealthIngestTest, TimeoutsOnASilentFallbackServerTakeItDown) {
  config_.passive.timeouts_down = 3;
  ingest_.emplace(table_, config_, counters_);
  deliver(report(1, 1, 100), 0);
  const uint32_t index = *ingest().slot_of(1);
  ingest().tick(ingest().config().silence_timeout_ms() + 1);
  ASSERT_EQ(entry(index).health, Health::down_silent);
  ASSERT_EQ(state(index), ServerState::silent);
  timeouts(index, 3);
  ingest().tick(ingest().config().silence_timeout_ms() + 2);
  EXPECT_EQ(entry(index).health, Health::down_timeouts);
  EXPECT_EQ(state(index), ServerState::down);  // no longer a fallback
  EXPECT_EQ(count(ControlCounter::servers_down_timeouts), 1u);
}

TEST_F(SpeedHealthIngestTest, ASlowServerThatStillAnswersNeverTripsTheStreak) {
  config_.passive.timeouts_down = 3;
  start(1);
  int64_t now_ms = 0;
  for (int round = 0; round < 50; ++round) {
    timeouts(0, 1);
    ingest().tick(++now_ms);
    timeouts(0, 1);
    ingest().tick(++now_ms);
    replies(0, 1);  // two timed out, then one answered: the streak starts over
    ingest().tick(++now_ms);
  }
  EXPECT_EQ(entry(0).health, Health::up);
  EXPECT_EQ(state(0), ServerState::up);
  EXPECT_EQ(count(ControlCounter::servers_down_timeouts), 0u);
  // Two timeouts after the last reply; a third makes three in a row.
  timeouts(0, 2);
  ingest().tick(++now_ms);
  EXPECT_EQ(entry(0).health, Health::up);
  timeouts(0, 1);
  ingest().tick(++now_ms);
  EXPECT_EQ(entry(0).health, Health::down_timeouts);
}

TEST_F(SpeedHealthIngestTest, HalfOpenProbesBringItBackUp) {
  config_.passive.timeouts_down = 3;
  config_.passive.probe_interval_ms = 1000;
  config_.passive.request_timeout_ms = 5;  // the first probe 5 ms after DOWN
  start(2);
  timeouts(0, 3);
  ingest().tick(5);
  ASSERT_EQ(entry(0).health, Health::down_timeouts);
  ingest().tick(10);
  ASSERT_EQ(state(0), ServerState::probing);

  // A worker takes the token and sends the probe; it times out.
  slot(0).probe_token.store(0);
  ingest().tick(20);
  EXPECT_EQ(state(0), ServerState::probing);  // in flight
  timeouts(0, 1);
  ingest().tick(30);
  EXPECT_EQ(state(0), ServerState::down);
  EXPECT_EQ(slot(0).probe_token.load(), 0u);
  EXPECT_EQ(entry(0).health, Health::down_timeouts);
  EXPECT_EQ(count(ControlCounter::probes_failed), 1u);

  // The next probe after probe_interval_ms.
  ingest().tick(1029);
  EXPECT_EQ(state(0), ServerState::down);
  ingest().tick(1030);
  EXPECT_EQ(state(0), ServerState::probing);
  EXPECT_EQ(slot(0).probe_token.load(), 1u);
  EXPECT_EQ(count(ControlCounter::probes_armed), 2u);

  // This one is answered: UP, and the streak starts from nothing.
  slot(0).probe_token.store(0);
  replies(0, 1);
  ingest().tick(1040);
  EXPECT_EQ(entry(0).health, Health::up);
  EXPECT_EQ(state(0), ServerState::up);
  EXPECT_EQ(slot(0).probe_token.load(), 0u);
  EXPECT_EQ(count(ControlCounter::servers_up_again), 1u);
  timeouts(0, 2);
  ingest().tick(1050);
  EXPECT_EQ(entry(0).health, Health::up);
  // The other server was never touched.
  EXPECT_EQ(entry(1).health, Health::up);
  EXPECT_EQ(state(1), ServerState::up);
}

TEST_F(SpeedHealthIngestTest, ALostProbeTokenIsReArmed) {
  config_.passive.timeouts_down = 3;
  config_.passive.probe_interval_ms = 500;
  config_.passive.request_timeout_ms = 100;
  start(1);
  timeouts(0, 3);
  ingest().tick(-90);  // DOWN; the first probe one request timeout later, at 10
  ingest().tick(10);
  ASSERT_EQ(state(0), ServerState::probing);
  slot(0).probe_token.store(0);  // taken, never sent: no verdict ever comes
  ingest().tick(210);            // 2 x request_timeout_ms: not yet
  EXPECT_EQ(state(0), ServerState::probing);
  ingest().tick(211);
  EXPECT_EQ(state(0), ServerState::down);
  EXPECT_EQ(count(ControlCounter::probes_failed), 1u);
  ingest().tick(711);
  EXPECT_EQ(state(0), ServerState::probing);
  EXPECT_EQ(slot(0).probe_token.load(), 1u);
}

// --- Speeds and weights ---

TEST_F(SpeedHealthIngestTest, WeightsFollowTheLearntServiceTime) {
  start(2);
  learnt(0, 1000, config_.learnt_samples_min);
  learnt(1, 4000, 100);
  ingest().tick(config_.weight_update_ms);
  EXPECT_EQ(entry(0).speed_source, SpeedSource::replies);
  EXPECT_EQ(entry(1).speed_source, SpeedSource::replies);
  EXPECT_DOUBLE_EQ(entry(0).learnt_service_us, 1000);
  EXPECT_DOUBLE_EQ(entry(1).learnt_service_us, 4000);
  EXPECT_DOUBLE_EQ(entry(0).service_per_request_us, 1000);
  EXPECT_DOUBLE_EQ(entry(1).service_per_request_us, 4000);
  EXPECT_EQ(weight(0), 1000u);
  EXPECT_EQ(weight(1), 250u);
}

// At light load shortest expected delay may leave a slower-looking server idle: once its
// learnt figures stop growing for learnt_stale_ms it gets the fastest weight (explored),
// and its next replies give it its learnt weight back.
TEST_F(SpeedHealthIngestTest, AServerLeftWithoutRepliesIsExplored) {
  start(2);
  learnt(0, 1000, 100);
  learnt(1, 1300, 100);
  int64_t now_ms = config_.weight_update_ms;
  ingest().tick(now_ms);
  EXPECT_EQ(weight(1), 771u);  // 1000 / 1.3 on the 2^(1/24) grid: 2^(-9/24)
  // Server 0 keeps answering; server 1 gets nothing for longer than learnt_stale_ms.
  for (uint64_t samples = 101; now_ms <= config_.learnt_stale_ms + 2 * config_.weight_update_ms;
       ++samples) {
    now_ms += config_.weight_update_ms;
    learnt(0, 1000, samples);
    ingest().tick(now_ms);
  }
  EXPECT_EQ(entry(1).speed_source, SpeedSource::stale);
  EXPECT_EQ(weight(1), 1000u);
  EXPECT_EQ(entry(0).speed_source, SpeedSource::replies);
  // Its replies come back: learnt again.
  learnt(1, 1200, 110);
  now_ms += config_.weight_update_ms;
  ingest().tick(now_ms);
  EXPECT_EQ(entry(1).speed_source, SpeedSource::replies);
  EXPECT_EQ(weight(1), 841u);  // 1000 / 1.2 on the grid: 2^(-6/24)
}

TEST_F(SpeedHealthIngestTest, TheWorkersEstimatesAreAveragedWhenEachHasEnoughReplies) {
  start(2);
  learnt(0, 1000, 50, 0);
  learnt(0, 3000, 50, 1);  // two workers: 2 ms
  learnt(1, 2000, 50, 0);
  learnt(1, 50'000, config_.learnt_samples_min - 1, 1);  // too few replies: not counted
  ingest().tick(config_.weight_update_ms);
  EXPECT_DOUBLE_EQ(entry(0).learnt_service_us, 2000);
  EXPECT_DOUBLE_EQ(entry(1).learnt_service_us, 2000);
  EXPECT_EQ(weight(0), weight(1));
}

TEST_F(SpeedHealthIngestTest, TooFewRepliesOrAnOldGenerationLeaveTheSpeedUnknown) {
  start(2);
  learnt(0, 1000, config_.learnt_samples_min - 1);
  // Slot 1's cell belongs to the server the slot held before.
  table_.learnt(0, 1).store(table_.slot(1).generation.load() - 1, 250'000, 100);
  ingest().tick(config_.weight_update_ms);
  for (uint32_t s = 0; s < 2; ++s) {
    EXPECT_EQ(entry(s).speed_source, SpeedSource::unknown) << "slot " << s;
    EXPECT_LT(entry(s).learnt_service_us, 0) << "slot " << s;
    EXPECT_EQ(weight(s), 1000u) << "slot " << s;  // nothing known: everyone equal
  }
}

TEST_F(SpeedHealthIngestTest, WithoutLearnSpeedTheConfiguredWeightsStand) {
  config_.learn_speed = false;
  start(2);
  learnt(0, 1000, 100);
  learnt(1, 4000, 100);
  ingest().tick(config_.weight_update_ms);
  for (uint32_t s = 0; s < 2; ++s) {
    EXPECT_EQ(entry(s).speed_source, SpeedSource::configured) << "slot " << s;
    EXPECT_EQ(weight(s), 1u) << "slot " << s;
  }
}

TEST_F(SpeedHealthIngestTest, ReportedServiceTimesWinOverLearntOnes) {
  start(0);
  deliver(report(1, 1, 2000, 2), 0);  // 2 ms per request on 2 workers: 1 ms each
  deliver(report(2, 1, 0), 0);        // reports no service time
  const auto one = ingest().slot_of(1);
  const auto two = ingest().slot_of(2);
  ASSERT_TRUE(one && two);
  learnt(*one, 500, 100);   // the replies say otherwise; the report wins
  learnt(*two, 4000, 100);  // the only figure for this one
  ingest().tick(config_.weight_update_ms);
  EXPECT_EQ(entry(*one).speed_source, SpeedSource::report);
  EXPECT_DOUBLE_EQ(entry(*one).service_per_request_us, 1000);
  EXPECT_DOUBLE_EQ(entry(*one).learnt_service_us, 500);
  EXPECT_EQ(entry(*two).speed_source, SpeedSource::replies);
  EXPECT_DOUBLE_EQ(entry(*two).service_per_request_us, 4000);
  EXPECT_EQ(weight(*one), 1000u);
  EXPECT_EQ(weight(*two), 250u);
}

// --- Slow start ---

class SlowStartTest : public SpeedHealthIngestTest {
 protected:
  // The ramp of `index` sampled after it came back UP at `up_ms` (weights update every
  // weight_update_ms; each tick below is at least that far from the one before).
  void expect_ramp(uint32_t index, int64_t up_ms) {
    const struct {
      int64_t after_ms;
      uint32_t weight;
    } points[] = {{0, 100},   {50, 100},  {100, 100},   {250, 250},
                  {500, 500}, {999, 999}, {1000, 1000}, {2000, 1000}};
    for (const auto& p : points) {
      ingest().tick(up_ms + p.after_ms);
      EXPECT_NEAR(weight(index), p.weight, 1) << "+" << p.after_ms << " ms";
      EXPECT_EQ(weight(1 - index), 1000u) << "+" << p.after_ms << " ms";
    }
    EXPECT_DOUBLE_EQ(entry(index).ramp, 1.0);
  }
};

TEST_F(SlowStartTest, AfterAFailedHealthCheck) {
  config_.slow_start_ms = 1000;
  start(2);
  ingest().tick(100);
  EXPECT_EQ(weight(0), 1000u);  // static backends adopted at start-up do not ramp
  ingest().on_health_check(0, false, "no reply", 150);
  ingest().tick(200);
  ingest().on_health_check(0, true, "replied", 300);
  EXPECT_EQ(entry(0).health, Health::up);
  expect_ramp(0, 300);
}

TEST_F(SlowStartTest, AfterRefusalsAndTheProbation) {
  config_.slow_start_ms = 1000;
  start(2);
  refusals(1, config_.refused_errors_down);
  ingest().tick(100);
  ASSERT_EQ(entry(1).health, Health::down_refused);
  ingest().tick(100 + config_.refused_probation_ms - 20);
  ASSERT_EQ(entry(1).health, Health::down_refused);
  const int64_t up_ms = 100 + config_.refused_probation_ms;
  ingest().tick(up_ms);  // retried: UP, at the floor
  ASSERT_EQ(entry(1).health, Health::up);
  EXPECT_EQ(weight(1), 100u);
  expect_ramp(1, up_ms);
}

// --- Outlier ejection ---

class EjectionTest : public SpeedHealthIngestTest {
 protected:
  EjectionTest() {
    config_.passive.outlier_failure_ratio = 5;
    config_.passive.outlier_interval_ms = 1000;
    config_.passive.outlier_ejection_ms = 5000;
    config_.passive.outlier_max_ejected_percent = 10;
    config_.passive.timeouts_down = 0;  // ejection alone
  }
  // One interval of traffic, ending with the tick at `now_ms`: 100 requests at every UP
  // server, half of them timing out at those in `bad`.
  void interval(int64_t now_ms, std::initializer_list<uint32_t> bad) {
    for (uint32_t s = 0; s < 10; ++s) {
      if (state(s) != ServerState::up) continue;
      const bool failing = std::find(bad.begin(), bad.end(), s) != bad.end();
      replies(s, failing ? 50 : 100);
      if (failing) timeouts(s, 50);
    }
    ingest().tick(now_ms);
  }
  uint32_t ejected_now() {
    uint32_t n = 0;
    for (uint32_t s = 0; s < 10; ++s) n += entry(s).health == Health::ejected ? 1 : 0;
    return n;
  }
};

TEST_F(EjectionTest, AnOutlierIsEjectedForAWhileAndLongerTheSecondTime) {
  start(10);
  interval(1000, {3});
  EXPECT_EQ(entry(3).health, Health::ejected);
  EXPECT_EQ(state(3), ServerState::down);
  EXPECT_EQ(entry(3).ejections, 1u);
  EXPECT_EQ(count(ControlCounter::servers_ejected), 1u);
  EXPECT_EQ(ejected_now(), 1u);
  for (int64_t now_ms = 2000; now_ms <= 5000; now_ms += 1000) interval(now_ms, {});
  ingest().tick(5999);
  EXPECT_EQ(entry(3).health, Health::ejected);
  ingest().tick(6000);  // outlier_ejection_ms after the verdict
  EXPECT_EQ(entry(3).health, Health::up);
  EXPECT_EQ(state(3), ServerState::up);

  // Out again: twice as long.
  interval(7000, {3});
  EXPECT_EQ(entry(3).health, Health::ejected);
  EXPECT_EQ(entry(3).ejections, 2u);
  ingest().tick(16'999);
  EXPECT_EQ(entry(3).health, Health::ejected);
  ingest().tick(17'000);
  EXPECT_EQ(entry(3).health, Health::up);
}

TEST_F(EjectionTest, TheCapAllowsOneOfTenAtOnce) {
  start(10);
  interval(1000, {3, 7});
  EXPECT_EQ(entry(3).health, Health::ejected);  // equal rates: the first in the pool
  EXPECT_EQ(entry(7).health, Health::up);
  for (int64_t now_ms = 2000; now_ms <= 5000; now_ms += 1000) {
    interval(now_ms, {3, 7});  // 7 keeps failing, but one of ten is out already
    EXPECT_EQ(ejected_now(), 1u) << now_ms;
    EXPECT_EQ(entry(7).health, Health::up) << now_ms;
  }
  interval(6000, {7});  // 3 is back, and 7's turn comes in the same tick
  EXPECT_EQ(entry(3).health, Health::up);
  EXPECT_EQ(entry(7).health, Health::ejected);
  EXPECT_EQ(ejected_now(), 1u);
}

TEST_F(EjectionTest, AHealthyPoolEjectsNobody) {
  start(10);
  for (int64_t now_ms = 1000; now_ms <= 10'000; now_ms += 1000) interval(now_ms, {});
  EXPECT_EQ(ejected_now(), 0u);
  EXPECT_EQ(count(ControlCounter::servers_ejected), 0u);
}

// --- Active health checks ---

TEST_F(SpeedHealthIngestTest, HealthCheckVerdictsTakeItDownAndBringItBack) {
  start(2);
  ingest().on_health_check(1, true, "replied", 5);  // already up: nothing changes
  EXPECT_EQ(count(ControlCounter::servers_up_again), 0u);
  ingest().on_health_check(1, false, "timeout", 10);
  EXPECT_EQ(entry(1).health, Health::down_check);
  EXPECT_EQ(state(1), ServerState::down);
  EXPECT_EQ(count(ControlCounter::servers_down_check), 1u);
  ingest().tick(20);
  EXPECT_EQ(entry(1).health, Health::down_check);  // nothing else brings it back
  ingest().tick(100'000);
  EXPECT_EQ(entry(1).health, Health::down_check);
  ingest().on_health_check(1, true, "replied", 100'010);
  EXPECT_EQ(entry(1).health, Health::up);
  EXPECT_EQ(state(1), ServerState::up);
  EXPECT_EQ(count(ControlCounter::servers_up_again), 1u);
  ingest().on_health_check(9, false, "no such slot", 100'020);  // unused: ignored
  EXPECT_EQ(entry(0).health, Health::up);
}

TEST_F(SpeedHealthIngestTest, AFailedCheckWhileDownForAnotherReasonIsKept) {
  start(2);
  refusals(0, config_.refused_errors_down);
  ingest().tick(100);
  ASSERT_EQ(entry(0).health, Health::down_refused);
  ingest().on_health_check(0, false, "timeout", 150);  // the transition comes now, once
  ingest().tick(100 + config_.refused_probation_ms);
  EXPECT_EQ(entry(0).health, Health::down_check);
  EXPECT_EQ(state(0), ServerState::down);
}

}  // namespace
}  // namespace shortline

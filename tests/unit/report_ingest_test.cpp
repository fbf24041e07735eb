// Report ingest without sockets: registration by first report, DRAINING and LEAVING, DOWN
// after silence or refusals and back UP, static backends, disallowed sources, bad tags and
// replays, stale reports, restarts elsewhere, and the load and weights it publishes.
#include "control/report_ingest.h"

#include <gtest/gtest.h>

#include <array>
#include <vector>

namespace shortline {
namespace {

NetAddress address(const char* text) { return *NetAddress::parse(text); }

const NetAddress kLoopback = address("127.0.0.1:40000");

class ReportIngestTest : public ::testing::Test {
 protected:
  explicit ReportIngestTest(IngestConfig config = {}) : config_(std::move(config)) {}

  ReportIngest& ingest() {
    if (!ingest_) ingest_.emplace(table_, config_, counters_);
    return *ingest_;
  }

  static wire::ServerReport report(uint32_t id, uint32_t queue, uint64_t sequence,
                                   wire::ServerState state = wire::ServerState::up) {
    wire::ServerReport r;
    r.server_id = id;
    r.address = *NetAddress::parse("127.0.0.1:" + std::to_string(50000 + id));
    r.queue_length = queue;
    r.state = state;
    r.sequence = sequence;
    r.service_time_mean_us = 1000;
    return r;
  }

  std::vector<uint8_t> encode(const wire::ServerReport& r, const wire::SignOptions& sign = {}) {
    std::array<uint8_t, wire::kControlMessageBytesMax> buffer{};
    const std::size_t size = wire::encode(r, buffer, sign);
    EXPECT_GT(size, 0u);
    return {buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(size)};
  }

  void deliver(const wire::ServerReport& r, int64_t now_ms, const NetAddress& from = kLoopback) {
    ingest().on_datagram(encode(r), from, now_ms);
  }

  [[nodiscard]] std::optional<uint32_t> slot_of(uint32_t id) { return ingest().slot_of(id); }
  [[nodiscard]] ServerState state_of(uint32_t id) { return table_.slot(*slot_of(id)).state.load(); }
  [[nodiscard]] uint64_t count(ControlCounter c) const { return counters_.get(c); }

  IngestConfig config_;
  ServerTable table_{16, 1};
  ControlCounters counters_;
  std::optional<ReportIngest> ingest_;
};

TEST_F(ReportIngestTest, FirstReportRegistersTheServer) {
  deliver(report(3, 0, 1), 0);
  ASSERT_TRUE(slot_of(3));
  const auto members = table_.members();
  ASSERT_EQ(members.size(), 1u);
  EXPECT_EQ(members[0].address, report(3, 0, 1).address);
  EXPECT_EQ(state_of(3), ServerState::up);
  EXPECT_EQ(count(ControlCounter::servers_registered), 1u);
  EXPECT_EQ(count(ControlCounter::reports_accepted), 1u);
  deliver(report(3, 0, 2), 1);
  EXPECT_EQ(table_.members().size(), 1u);  // known: not registered twice
  EXPECT_EQ(count(ControlCounter::servers_registered), 1u);
}

TEST_F(ReportIngestTest, OtherLoadIsTheReportMinusOurInFlight) {
  deliver(report(1, 0, 1), 0);
  ServerSlot& slot = table_.slot(*slot_of(1));
  slot.in_flight.store(3);
  deliver(report(1, 8, 2), 1);
  EXPECT_EQ(slot.other_load.load(), 5);
  deliver(report(1, 1, 3), 2);
  EXPECT_EQ(slot.other_load.load(), 0);
}

TEST_F(ReportIngestTest, LeavingDrainsAndIsRemovedOnceNothingIsInFlight) {
  deliver(report(1, 0, 1), 0);
  const uint32_t slot = *slot_of(1);
  table_.slot(slot).in_flight.store(2);
  deliver(report(1, 0, 2, wire::ServerState::leaving), 1);
  EXPECT_EQ(table_.slot(slot).state.load(), ServerState::draining);
  ingest().tick(2);
  EXPECT_EQ(table_.members().size(), 1u);  // still has our requests
  table_.slot(slot).in_flight.store(0);
  ingest().tick(3);
  EXPECT_TRUE(table_.members().empty());
  EXPECT_FALSE(slot_of(1));
  EXPECT_EQ(count(ControlCounter::servers_removed), 1u);
  // Silence after leaving is not a death, and a late LEAVING does not re-register.
  deliver(report(1, 0, 3, wire::ServerState::leaving), 4);
  EXPECT_TRUE(table_.members().empty());
  EXPECT_EQ(count(ControlCounter::reports_ignored_leaving), 1u);
}

TEST_F(ReportIngestTest, DrainingThenUpAgain) {
  deliver(report(1, 0, 1), 0);
  deliver(report(1, 0, 2, wire::ServerState::draining), 1);
  EXPECT_EQ(state_of(1), ServerState::draining);
  EXPECT_EQ(count(ControlCounter::servers_draining), 1u);
  deliver(report(1, 0, 3), 2);
  EXPECT_EQ(state_of(1), ServerState::up);
}

// A host-wide stall pauses the servers and the control thread alike: the time nobody was
// listening is not silence, so every server gets its full timeout again from the wake-up.
TEST_F(ReportIngestTest, TimeTheControlThreadWasNotRunningIsNotSilence) {
  deliver(report(1, 0, 1), 0);
  deliver(report(2, 0, 1), 0);
  const int64_t timeout = ingest().config().silence_timeout_ms();
  const int64_t stall = 130;
  ingest().discount_unwatched(stall);
  ingest().tick(stall + timeout);
  EXPECT_EQ(state_of(1), ServerState::up);
  EXPECT_EQ(state_of(2), ServerState::up);
  EXPECT_EQ(count(ControlCounter::control_stalls), 1u);
  deliver(report(2, 0, 2), stall + timeout);  // server 2 reports after the stall, 1 never
  ingest().tick(stall + timeout + 1);
  EXPECT_EQ(state_of(1), ServerState::silent);  // DOWN, for silence only (fail_open)
  EXPECT_EQ(state_of(2), ServerState::up);
  EXPECT_EQ(count(ControlCounter::servers_down_silent), 1u);
}

TEST_F(ReportIngestTest, SilenceMeansDownAndTheNextReportBringsItBack) {
  deliver(report(1, 0, 1), 0);
  const int64_t timeout = ingest().config().silence_timeout_ms();
  EXPECT_EQ(timeout, 20);  // 3 x 2 ms is below the floor
  ingest().tick(timeout);
  EXPECT_EQ(state_of(1), ServerState::up);
  ingest().tick(timeout + 1);
  EXPECT_EQ(state_of(1), ServerState::silent);
  EXPECT_EQ(count(ControlCounter::servers_down_silent), 1u);
  deliver(report(1, 0, 2), timeout + 50);
  EXPECT_EQ(state_of(1), ServerState::up);
  EXPECT_EQ(count(ControlCounter::servers_up_again), 1u);
}

TEST_F(ReportIngestTest, ADownServerIsForgottenAfterLongSilence) {
  deliver(report(1, 0, 1), 0);
  ingest().tick(100);
  EXPECT_EQ(state_of(1), ServerState::silent);
  ingest().tick(100 + ingest().config().forget_down_after_ms);
  EXPECT_TRUE(table_.members().empty());
  deliver(report(1, 0, 2), 70'000);  // it comes back: registered afresh
  EXPECT_EQ(state_of(1), ServerState::up);
}

TEST_F(ReportIngestTest, RefusalsMeanDownAndReportsWaitForTheProbation) {
  deliver(report(1, 0, 1), 0);
  ServerSlot& slot = table_.slot(*slot_of(1));
  slot.passive_errors.fetch_add(2);
  ingest().tick(1);
  EXPECT_EQ(state_of(1), ServerState::up);  // below the threshold
  slot.passive_errors.fetch_add(1);
  ingest().tick(2);
  EXPECT_EQ(state_of(1), ServerState::down);
  EXPECT_EQ(count(ControlCounter::servers_down_refused), 1u);
  deliver(report(1, 0, 2), 10);
  EXPECT_EQ(state_of(1), ServerState::down);  // too soon
  deliver(report(1, 0, 3), 2 + ingest().config().refused_probation_ms);
  EXPECT_EQ(state_of(1), ServerState::up);
}

TEST_F(ReportIngestTest, RefusalsSpreadOverManyWindowsDoNotCount) {
  deliver(report(1, 0, 1), 0);
  ServerSlot& slot = table_.slot(*slot_of(1));
  for (int64_t now = 1; now < 10'000; now += 2) {
    if (now % 1500 == 1) slot.passive_errors.fetch_add(1);  // one per 1.5 s
    if (now % 2 == 1) deliver(report(1, 0, static_cast<uint64_t>(now + 1)), now);
    ingest().tick(now);
  }
  EXPECT_EQ(state_of(1), ServerState::up);
}

TEST_F(ReportIngestTest, StaticBackendsNeverTimeOutAndAreRetriedAfterRefusals) {
  const auto slot = table_.add_server(address("127.0.0.1:6000"), 7);
  ASSERT_TRUE(slot);
  ingest().adopt_static_backends(0);
  ASSERT_EQ(ingest().slots().size(), 1u);
  EXPECT_TRUE(ingest().entry(*slot).is_static);
  EXPECT_EQ(ingest().entry(*slot).id, kStaticIdBase);
  ingest().tick(100'000);
  EXPECT_EQ(table_.slot(*slot).state.load(), ServerState::up);
  // Its configured weight stands, on the 1000 scale (the heaviest configured one is 1000).
  EXPECT_EQ(table_.slot(*slot).weight.load(), 1000u);
  EXPECT_EQ(ingest().entry(*slot).speed_source, SpeedSource::configured);
  table_.slot(*slot).passive_errors.fetch_add(5);
  ingest().tick(100'001);
  EXPECT_EQ(table_.slot(*slot).state.load(), ServerState::down);
  ingest().tick(100'001 + ingest().config().refused_probation_ms);
  EXPECT_EQ(table_.slot(*slot).state.load(), ServerState::up);
  EXPECT_EQ(table_.members().size(), 1u);
}

TEST_F(ReportIngestTest, AStaticBackendThatReportsIsAdoptedNotDuplicated) {
  const auto slot = table_.add_server(report(4, 0, 1).address, 1);
  ingest().adopt_static_backends(0);
  deliver(report(4, 6, 1), 1);
  EXPECT_EQ(table_.members().size(), 1u);
  EXPECT_EQ(slot_of(4), slot);
  EXPECT_EQ(table_.slot(*slot).other_load.load(), 6);
  ingest().tick(100'000);  // still never silent-DOWN
  EXPECT_EQ(table_.slot(*slot).state.load(), ServerState::up);
}

TEST_F(ReportIngestTest, DisallowedSourceChangesNothing) {
  config_.allowed_sources = {*SourcePrefix::parse("127.0.0.1/32")};
  deliver(report(1, 0, 1), 0, address("127.0.0.2:40000"));
  deliver(report(2, 0, 1), 0, address("[::1]:40000"));
  EXPECT_TRUE(table_.members().empty());
  EXPECT_EQ(count(ControlCounter::reports_from_disallowed_source), 2u);
  deliver(report(1, 0, 1), 0, address("127.0.0.1:40000"));
  EXPECT_EQ(table_.members().size(), 1u);
}

TEST_F(ReportIngestTest, BadTagAndUnsignedReportsAreRejectedWhenAKeyIsSet) {
  const auto key = wire::AuthKey::from_hex(std::string(64, 'a'));
  const auto other = wire::AuthKey::from_hex(std::string(64, 'b'));
  config_.key = key;
  deliver(report(1, 0, 1), 0);  // unsigned
  ingest().on_datagram(encode(report(1, 0, 2), {&*other, {1, 10}}), kLoopback, 1);
  EXPECT_TRUE(table_.members().empty());
  EXPECT_EQ(count(ControlCounter::reports_rejected_bad_tag), 2u);
  ingest().on_datagram(encode(report(1, 0, 3), {&*key, {1, 11}}), kLoopback, 2);
  EXPECT_EQ(table_.members().size(), 1u);
}

TEST_F(ReportIngestTest, ReplayedReportIsRejected) {
  const auto key = wire::AuthKey::from_hex(std::string(64, 'c'));
  config_.key = key;
  const auto signed_leaving =
      encode(report(1, 0, 5, wire::ServerState::draining), {&*key, {1, 100}});
  ingest().on_datagram(encode(report(1, 0, 1), {&*key, {1, 50}}), kLoopback, 0);
  ingest().on_datagram(signed_leaving, kLoopback, 1);
  EXPECT_EQ(state_of(1), ServerState::draining);
  ingest().on_datagram(encode(report(1, 0, 6), {&*key, {1, 101}}), kLoopback, 2);
  EXPECT_EQ(state_of(1), ServerState::up);
  ingest().on_datagram(signed_leaving, kLoopback, 3);  // captured and sent again
  EXPECT_EQ(state_of(1), ServerState::up);
  EXPECT_EQ(count(ControlCounter::reports_rejected_replayed), 1u);
}

TEST_F(ReportIngestTest, MalformedDatagramsAreCountedByReason) {
  const std::vector<uint8_t> garbage = {1, 2, 3};
  ingest().on_datagram(garbage, kLoopback, 0);
  auto datagram = encode(report(1, 0, 1));
  datagram[0] ^= 0xff;
  ingest().on_datagram(datagram, kLoopback, 0);
  EXPECT_EQ(count(ControlCounter::reports_rejected_truncated), 1u);
  EXPECT_EQ(count(ControlCounter::reports_rejected_bad_magic), 1u);
  EXPECT_TRUE(table_.members().empty());
}

TEST_F(ReportIngestTest, StaleReportsAreIgnoredButARestartIsNot) {
  deliver(report(1, 0, 100), 0);
  deliver(report(1, 0, 99, wire::ServerState::draining), 1);  // reordered
  EXPECT_EQ(state_of(1), ServerState::up);
  EXPECT_EQ(count(ControlCounter::reports_stale), 1u);
  deliver(report(1, 0, 1, wire::ServerState::draining), 2);  // far behind: restarted
  EXPECT_EQ(state_of(1), ServerState::draining);
}

TEST_F(ReportIngestTest, ANewAddressReplacesTheOldOne) {
  deliver(report(1, 0, 1), 0);
  auto moved = report(1, 0, 2);
  moved.address = address("127.0.0.1:59999");
  deliver(moved, 1);
  const auto members = table_.members();
  ASSERT_EQ(members.size(), 1u);
  EXPECT_EQ(members[0].address, moved.address);
  EXPECT_EQ(count(ControlCounter::servers_readdressed), 1u);
}

TEST_F(ReportIngestTest, AnAddressHeldByALiveServerIsAConflict) {
  deliver(report(1, 0, 1), 0);
  auto impostor = report(2, 0, 1);
  impostor.address = report(1, 0, 1).address;
  deliver(impostor, 1);
  EXPECT_FALSE(slot_of(2));
  EXPECT_EQ(count(ControlCounter::reports_address_conflict), 1u);
  ingest().tick(100);  // server 1 falls silent: DOWN, so the address is free to take
  deliver(impostor, 101);
  EXPECT_TRUE(slot_of(2));
  EXPECT_FALSE(slot_of(1));
}

TEST_F(ReportIngestTest, WeightsFollowTheReportedServiceTime) {
  auto fast = report(1, 0, 1);
  auto slow = report(2, 0, 1);
  slow.service_time_mean_us = 4000;
  deliver(fast, 0);
  deliver(slow, 0);
  ingest().tick(100);
  EXPECT_EQ(table_.slot(*slot_of(1)).weight.load(), 1000u);
  EXPECT_EQ(table_.slot(*slot_of(2)).weight.load(), 250u);
  EXPECT_NEAR(ingest().entry(*slot_of(2)).speed, 0.25, 1e-9);  // 24 steps of 2^(1/12)
  // A newcomer of unknown speed starts at the median weight.
  auto fresh = report(3, 0, 1);
  fresh.service_time_mean_us = 0;
  deliver(fresh, 101);
  EXPECT_GE(table_.slot(*slot_of(3)).weight.load(), 250u);
}

TEST_F(ReportIngestTest, ScalingViewShowsWhatTheDecisionNeeds) {
  deliver(report(1, 0, 1), 0);
  deliver(report(2, 0, 1), 0);
  deliver(report(2, 0, 2, wire::ServerState::draining), 0);
  table_.slot(*slot_of(1)).in_flight.store(4);
  for (int64_t now = 2; now <= 1000; now += 2) {
    deliver(report(1, 4, static_cast<uint64_t>(now)), now);
    deliver(report(2, 0, static_cast<uint64_t>(now), wire::ServerState::draining), now);
    ingest().tick(now);
  }
  const auto view = ingest().scaling_view();
  ASSERT_EQ(view.size(), 2u);
  EXPECT_EQ(view[0].id, 1u);
  EXPECT_TRUE(view[0].up && view[0].counted && view[0].removable);
  EXPECT_GT(view[0].queue, 3.9);  // smoothed towards 4 over 1 s
  EXPECT_FALSE(view[1].up);
  EXPECT_FALSE(view[1].counted);
}

class OneWayIngestTest : public ReportIngestTest {
 protected:
  OneWayIngestTest() : ReportIngestTest(one_way()) {}
  static IngestConfig one_way() {
    IngestConfig c;
    c.one_way = true;
    return c;
  }
};

TEST_F(OneWayIngestTest, TheReportIsTheWholeQueueAndDispatchCountsRestart) {
  deliver(report(1, 0, 1), 0);
  ServerSlot& slot = table_.slot(*slot_of(1));
  slot.requests_total.store(40);
  deliver(report(1, 6, 2), 1);
  EXPECT_EQ(slot.other_load.load(), 6);
  EXPECT_EQ(slot.dispatched_at_report.load(), 40u);
  // Leaving with nothing in flight (one-way never has any): removed at once.
  deliver(report(1, 0, 3, wire::ServerState::leaving), 2);
  ingest().tick(3);
  EXPECT_TRUE(table_.members().empty());
}

}  // namespace
}  // namespace shortline

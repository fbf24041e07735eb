// ReportIngest's operator changes: static backends added, reweighted and removed at run
// time (removal drains first), the operator's drain held through reports and returns from
// DOWN, and a reload's settings replacing the old ones without losing any server.
#include <gtest/gtest.h>

#include <array>
#include <optional>
#include <span>
#include <string>

#include "control/report_ingest.h"

namespace shortline {
namespace {

NetAddress address(uint16_t port) { return *NetAddress::parse("127.0.0.1:" + std::to_string(port)); }

class IngestOperatorTest : public ::testing::Test {
 protected:
  IngestOperatorTest() : ingest_(table_, IngestConfig{}, counters_) {}

  std::optional<uint32_t> add(uint16_t port, uint32_t weight = 1, int64_t now_ms = 0) {
    return ingest_.add_static_backend(address(port), weight, now_ms);
  }
  ServerState state(uint32_t slot) const { return table_.slot(slot).state.load(); }
  void report(uint32_t id, uint64_t sequence, wire::ServerState s, int64_t now_ms) {
    wire::ServerReport r;
    r.server_id = id;
    r.address = address(static_cast<uint16_t>(50000 + id));
    r.sequence = sequence;
    r.state = s;
    std::array<uint8_t, wire::kControlMessageBytesMax> buffer{};
    const std::size_t size = wire::encode(r, buffer, {});
    ASSERT_GT(size, 0u);
    ingest_.on_datagram(std::span<const uint8_t>(buffer.data(), size), address(40000), now_ms);
  }

  ServerTable table_{16, 1};
  ControlCounters counters_;
  ReportIngest ingest_;
};

TEST_F(IngestOperatorTest, AddedBackendsAreUpAndNamedOnce) {
  const auto slot = add(6000, 3);
  ASSERT_TRUE(slot);
  EXPECT_TRUE(ingest_.entry(*slot).is_static);
  EXPECT_EQ(state(*slot), ServerState::up);
  EXPECT_EQ(table_.slot(*slot).weight.load(), 3u);
  EXPECT_EQ(add(6000, 5), slot) << "the same address is the same backend";
  EXPECT_EQ(ingest_.entry(*slot).configured_weight, 5u);
  EXPECT_EQ(table_.members().size(), 1u);
  EXPECT_EQ(counters_.get(ControlCounter::backends_added), 1u);
}

TEST_F(IngestOperatorTest, RemovalDrainsThenRemovesOnceNothingIsInFlight) {
  const auto slot = *add(6000);
  table_.slot(slot).in_flight.store(2);
  ASSERT_TRUE(ingest_.remove_static_backend(slot, 10));
  EXPECT_EQ(state(slot), ServerState::draining);
  EXPECT_EQ(ingest_.entry(slot).health, Health::leaving);
  ingest_.tick(20);
  EXPECT_TRUE(ingest_.entry(slot).used) << "still owed replies";
  table_.slot(slot).in_flight.store(0);
  ingest_.tick(30);
  EXPECT_FALSE(ingest_.entry(slot).used);
  EXPECT_TRUE(table_.members().empty());
  EXPECT_EQ(counters_.get(ControlCounter::backends_removed), 1u);
}

TEST_F(IngestOperatorTest, ARemovedBackendLeavesAfterTheTimeoutEvenIfBusy) {
  const auto slot = *add(6000);
  table_.slot(slot).in_flight.store(1);
  ASSERT_TRUE(ingest_.remove_static_backend(slot, 0));
  ingest_.tick(IngestConfig{}.leaving_timeout_ms - 1);
  EXPECT_TRUE(ingest_.entry(slot).used);
  ingest_.tick(IngestConfig{}.leaving_timeout_ms);
  EXPECT_FALSE(ingest_.entry(slot).used);
}

TEST_F(IngestOperatorTest, AddingItBackBeforeItLeftCancelsTheRemoval) {
  const auto slot = *add(6000);
  table_.slot(slot).in_flight.store(1);
  ASSERT_TRUE(ingest_.remove_static_backend(slot, 0));
  EXPECT_EQ(add(6000, 1, 5), slot);
  EXPECT_FALSE(ingest_.entry(slot).retiring);
  EXPECT_EQ(ingest_.entry(slot).health, Health::up);
  EXPECT_EQ(state(slot), ServerState::up);
}

TEST_F(IngestOperatorTest, OnlyStaticBackendsCanBeRemoved) {
  report(7, 1, wire::ServerState::up, 0);
  const auto slot = ingest_.slot_of(7);
  ASSERT_TRUE(slot);
  EXPECT_FALSE(ingest_.remove_static_backend(*slot, 0));
  EXPECT_FALSE(ingest_.static_slot_of(address(50007)));
}

TEST_F(IngestOperatorTest, OperatorDrainHoldsThroughUpReports) {
  report(7, 1, wire::ServerState::up, 0);
  const auto slot = *ingest_.slot_of(7);
  ingest_.drain(slot, 1);
  EXPECT_EQ(state(slot), ServerState::draining);
  report(7, 2, wire::ServerState::up, 2);
  EXPECT_EQ(state(slot), ServerState::draining) << "the server's own report undid the drain";
  ingest_.undrain(slot, 3);
  EXPECT_EQ(state(slot), ServerState::up);
  EXPECT_EQ(counters_.get(ControlCounter::operator_drains), 1u);
}

TEST_F(IngestOperatorTest, ADrainedServerReturningFromDownStaysDrained) {
  report(7, 1, wire::ServerState::up, 0);
  const auto slot = *ingest_.slot_of(7);
  ingest_.drain(slot, 1);
  ingest_.tick(1000);  // silent: DOWN, and no fail-open fallback (it was drained)
  ASSERT_EQ(state(slot), ServerState::down);
  report(7, 2, wire::ServerState::up, 1001);
  EXPECT_EQ(state(slot), ServerState::draining);
}

TEST_F(IngestOperatorTest, ANewConfigKeepsTheServers) {
  const auto slot = *add(6000);
  IngestConfig next;
  next.passive.timeouts_down = 2;
  next.missed_reports = 7;
  ingest_.set_config(next);
  EXPECT_EQ(ingest_.config().missed_reports, 7u);
  EXPECT_TRUE(ingest_.entry(slot).used);
  EXPECT_EQ(state(slot), ServerState::up);
}

}  // namespace
}  // namespace shortline

// Worker with the maglev policy, through FakeWorkerIo: a new flow goes to the server of
// its Maglev table entry, stays there, and is diverted (and counted) only when that server
// is over maglev_load_bound.
#include "worker_test_fixture.h"

#include "dataplane/maglev_table.h"

namespace shortline {
namespace {

class WorkerMaglevTest : public WorkerTest {
 protected:
  void start_maglev(double load_bound) {
    config.policy = Policy::maglev;
    config.affinity = Affinity::flow;
    config.maglev_load_bound = load_bound;
    table.set_live_settings(live_settings_of(config));  // as Balancer does at start
    for (const char* s : {kServerA, kServerB, "10.0.0.3:5301", "10.0.0.4:5301"}) add_server(s);
    start({32, 32});
  }

  // Where the table sends `from`, as the dual-stack pool's destination reads.
  [[nodiscard]] std::string home_of(const NetAddress& from) const {
    std::vector<MaglevBackend> backends;
    for (const PoolMember& m : table.members()) backends.push_back({m.address, 1, m.slot});
    const MaglevTable expected(backends, table.maglev_size());
    const FlowKey key = FlowKey::from_name(from.sockaddr_ptr(), from.length, FlowKey::kAnyServer);
    const uint32_t slot = expected.lookup(maglev_flow_hash(key, LocalAddress{}));
    for (const PoolMember& m : table.members())
      if (m.slot == slot) return "[::ffff:" + m.address.host() + "]:5301";
    return "none";
  }
};

TEST_F(WorkerMaglevTest, NewFlowsGoToTheirTableEntryAndStay) {
  start_maglev(0);
  for (int n = 1; n <= 24; ++n) {
    const NetAddress from = client(n, 2000 + n);
    request(from, "q");
    step(1);
    ASSERT_FALSE(io->sent.empty());
    EXPECT_EQ(io->sent.back().destination.to_string(), home_of(from)) << "client " << n;
    io->complete_sends();
    request(from, "q again");  // the session keeps it there
    step(1);
    EXPECT_EQ(io->sent.back().destination.to_string(), home_of(from)) << "client " << n;
    io->complete_sends();
  }
  EXPECT_EQ(count(Counter::sessions_created), 24u);
  EXPECT_EQ(count(Counter::flows_bounded_moves), 0u);
  EXPECT_EQ(drops(), 0u);
}

TEST_F(WorkerMaglevTest, AFlowWhoseServerIsOverTheBoundGoesElsewhereAndIsCounted) {
  start_maglev(1.25);
  const NetAddress from = client(1, 3000);
  const std::string home = home_of(from);
  for (const uint32_t s : servers) {
    const bool is_home = "[::ffff:" + table.members()[s].address.host() + "]:5301" == home;
    table.slot(s).other_load.store(is_home ? 1000 : 0);
  }
  request(from, "q");
  step(1);
  ASSERT_EQ(io->sent.size(), 1u);
  EXPECT_NE(io->sent[0].destination.to_string(), home);
  EXPECT_EQ(count(Counter::flows_bounded_moves), 1u);
  EXPECT_EQ(drops(), 0u);
}

TEST_F(WorkerMaglevTest, AFlowOnADownServerIsReplacedAtOnce) {
  start_maglev(0);
  const NetAddress from = client(2, 3001);
  const std::string home = home_of(from);
  exchange(from, home.c_str());
  ASSERT_EQ(sessions(), 1u);
  for (const PoolMember& m : table.members())
    if ("[::ffff:" + m.address.host() + "]:5301" == home) table.set_state(m.slot, ServerState::down);
  request(from, "q2");
  step(1);
  EXPECT_NE(io->sent.back().destination.to_string(), home);
  EXPECT_EQ(count(Counter::sessions_created), 2u);
  EXPECT_EQ(drops(), 0u);
}

}  // namespace
}  // namespace shortline

// Worker: flow affinity and its timeouts, admission (per-source limits, eviction of
// never-answered sessions first), bounded timer passes, replies from the address sent to on
// wildcard listens, buffer exhaustion, bad datagrams and drain, through FakeWorkerIo.
#include "worker_test_fixture.h"

namespace shortline {
namespace {
TEST_F(WorkerTest, FlowAffinityKeepsAClientOnItsServerUntilIdle) {
  config.affinity = Affinity::flow;
  const uint32_t a = add_server(kServerA);
  const uint32_t b = add_server(kServerB);
  prefer(a);
  start({4, 4});
  request(client(1), "q1");
  step();
  ASSERT_EQ(io->sent.size(), 1u);
  const int fd = io->sent[0].fd;
  EXPECT_EQ(io->sent[0].destination.to_string(), kMappedA);
  io->complete_sends();
  reply(fd, kMappedA, "r1");
  step(1);
  EXPECT_EQ(io->sent.size(), 2u);
  EXPECT_EQ(sessions(), 1u);  // flow sessions outlive the exchange
  EXPECT_EQ(count(Counter::sessions_completed), 0u);
  EXPECT_EQ(in_flight(a), 0);
  io->complete_sends();

  prefer(b);  // the client stays on A all the same
  request(client(1), "q2");
  step(1);
  ASSERT_EQ(io->sent.size(), 3u);
  EXPECT_EQ(io->sent[2].fd, fd);
  EXPECT_EQ(io->sent[2].destination.to_string(), kMappedA);
  EXPECT_EQ(table.slot(a).requests_total.load(), 2u);
  EXPECT_EQ(table.slot(b).requests_total.load(), 0u);
  io->complete_sends();
  reply(fd, kMappedA, "r2");
  step(1);
  io->complete_sends();
  EXPECT_EQ(count(Counter::sessions_created), 1u);

  step(996);  // 998 ms after the last request
  EXPECT_EQ(sessions(), 1u);
  step(100);
  EXPECT_EQ(sessions(), 0u);
  EXPECT_EQ(count(Counter::sessions_expired), 1u);
  EXPECT_TRUE(pool_is(0, 4, 0));  // answered: no quarantine
  EXPECT_TRUE(buffers_home());
}

TEST_F(WorkerTest, FlowSessionMovesWhenItsServerGoesDown) {
  config.affinity = Affinity::flow;
  const uint32_t a = add_server(kServerA);
  const uint32_t b = add_server(kServerB);
  prefer(a);
  start({4, 4});
  exchange(client(1), kMappedA);
  ASSERT_EQ(sessions(), 1u);
  table.set_state(a, ServerState::down);
  request(client(1), "q2");
  step(1);
  EXPECT_EQ(count(Counter::sessions_expired), 1u);
  EXPECT_EQ(count(Counter::sessions_created), 2u);
  EXPECT_EQ(io->sent.back().destination.to_string(), kMappedB);
  EXPECT_EQ(in_flight(b), 1);
  EXPECT_EQ(in_flight(a), 0);
  EXPECT_TRUE(pool_is(1, 3, 0));  // the old session was answered: its socket is clean
}

TEST_F(WorkerTest, FlowNeverAnsweredSessionExpiresAfterUnrepliedTimeout) {
  config.affinity = Affinity::flow;
  const uint32_t a = add_server(kServerA);
  start({4, 4});
  request(client(1), "q");
  step();
  io->complete_sends();
  step(100);
  EXPECT_EQ(count(Counter::requests_timed_out), 1u);
  EXPECT_EQ(in_flight(a), 0);
  EXPECT_EQ(sessions(), 1u);  // a flow session outlives its request
  step(150);
  EXPECT_EQ(sessions(), 1u);
  step(60);  // session_unreplied_timeout_ms after the request
  EXPECT_EQ(sessions(), 0u);
  EXPECT_EQ(count(Counter::sessions_expired), 1u);
  EXPECT_TRUE(pool_is(0, 3, 1));  // a reply may still come: quarantined
}

// A flow session whose last request is old but whose last reply is recent stays in the
// LRU list in order of last activity, so it expires session_idle_timeout_ms after that
// reply and not later (an out-of-order list would let it outlive the timeout).
TEST_F(WorkerTest, FlowSessionIdleSinceItsLastReplyExpiresOnTime) {
  config.affinity = Affinity::flow;
  add_server(kServerA);
  start({4, 4});
  request(client(1), "x");  // t0
  step();
  io->complete_sends();
  reply(io->sent[0].fd, kMappedA, "r");
  step(50);  // t0 + 50: X's last reply
  io->complete_sends();
  request(client(2), "y");
  step(450);  // t0 + 500: Y's request
  io->complete_sends();
  reply(io->sent[2].fd, kMappedA, "r");
  step(1);
  io->complete_sends();
  step(509);  // t0 + 1010: X idle since its request, not since its reply
  EXPECT_EQ(sessions(), 2u);
  step(65);  // t0 + 1075: X has been idle 1025 ms
  EXPECT_EQ(sessions(), 1u);  // today: 2 (X waits behind Y until t0 + 1500)
  step(435);
  EXPECT_EQ(sessions(), 0u);
}

TEST_F(WorkerTest, SourceRateDropsOnlyTheFastSource) {
  config.source_requests_per_s = 2;
  const uint32_t a = add_server(kServerA);
  start({4, 4});
  for (const char* payload : {"a1", "a2", "a3"}) request(client(1), payload);
  request(client(2), "b1");
  step();
  EXPECT_EQ(count(Counter::drop_source_rate), 1u);
  EXPECT_EQ(count(Counter::requests_forwarded), 3u);
  EXPECT_EQ(table.slot(a).requests_total.load(), 3u);
  io->complete_sends();
  step(1000);  // a second later the bucket is full again
  request(client(1), "a4");
  request(client(1), "a5");
  step(1);
  EXPECT_EQ(count(Counter::requests_forwarded), 5u);
  EXPECT_EQ(count(Counter::drop_source_rate), 1u);
}

TEST_F(WorkerTest, SourceSessionsMaxCapsOpenSessionsPerAddress) {
  config.source_sessions_max = 1;
  add_server(kServerA);
  start({4, 4});
  request(client(1, 1000), "x");
  request(client(1, 1001), "y");  // same address, second session
  request(client(2, 1000), "z");
  step();
  EXPECT_EQ(count(Counter::drop_source_sessions), 1u);
  EXPECT_EQ(sessions(), 2u);
  io->complete_sends();
  reply(io->sent[0].fd, kMappedA, "r");  // client 1's session completes
  step(1);
  request(client(1, 1001), "y");
  step(1);
  EXPECT_EQ(count(Counter::drop_source_sessions), 1u);
  EXPECT_EQ(sessions(), 2u);
}

TEST_F(WorkerTest, FullTableEvictsTheOldestNeverAnsweredSession) {
  const uint32_t a = add_server(kServerA);
  const uint32_t b = add_server(kServerB);
  prefer(a);
  start({4, 4});
  for (int n = 1; n <= 4; ++n) {
    request(client(n), "q");
    step(1);
  }
  io->complete_sends();
  ASSERT_EQ(sessions(), 4u);
  EXPECT_EQ(in_flight(a), 4);
  const int oldest_fd = io->sent[0].fd;
  prefer(b);
  request(client(5), "new");
  step(1);
  EXPECT_EQ(count(Counter::sessions_evicted), 1u);
  EXPECT_EQ(sessions(), 4u);
  EXPECT_EQ(in_flight(a), 3);
  EXPECT_EQ(in_flight(b), 1);
  // The evicted session's socket was quarantined against A, so it may serve B at once...
  ASSERT_EQ(io->sent.size(), 5u);
  EXPECT_EQ(io->sent[4].fd, oldest_fd);
  EXPECT_EQ(io->sent[4].destination.to_string(), kMappedB);
  EXPECT_TRUE(pool_is(4, 0, 0));
  io->complete_sends();
  // ...where A's late reply to client 1 is told apart by its source.
  reply(oldest_fd, kMappedA, "late");
  step(1);
  EXPECT_EQ(count(Counter::drop_reply_wrong_source), 1u);
  EXPECT_EQ(in_flight(b), 1);
  reply(oldest_fd, kMappedB, "r");
  step(1);
  EXPECT_EQ(io->sent.back().destination.to_string(), client(5).to_string());
}

// With the table full and every socket lent (sessions == sockets, as plan_capacity sizes
// them), a session is evicted only if its socket can serve the newcomer: the oldest
// never-answered session's socket is quarantined against its own server, so when the
// newcomer goes to that same server (always, with one backend) nobody is evicted for
// nothing and the newcomer is dropped and counted.
TEST_F(WorkerTest, FullTableWithOneServerEvictsNothingItCannotUse) {
  const uint32_t a = add_server(kServerA);
  start({4, 4});
  for (int n = 1; n <= 4; ++n) {
    request(client(n), "q");
    step(1);
  }
  io->complete_sends();
  ASSERT_EQ(sessions(), 4u);
  request(client(5), "new");
  step(1);
  EXPECT_EQ(count(Counter::drop_upstream_socket), 1u);
  EXPECT_LE(count(Counter::sessions_evicted), 1u);  // today: 2
  EXPECT_EQ(count(Counter::sessions_evicted), 0u);  // nothing gained by evicting
  EXPECT_EQ(sessions(), 4u);                         // today: 2
  EXPECT_EQ(in_flight(a), 4);
}

TEST_F(WorkerTest, SessionsOfAnsweredSourcesAreNotEvicted) {
  add_server(kServerA);
  start({4, 4});
  for (int n = 1; n <= 4; ++n) exchange(client(n), kMappedA);  // each source answered once
  EXPECT_EQ(count(Counter::sessions_completed), 4u);
  for (int n = 1; n <= 4; ++n) request(client(n), "again");
  step(1);
  io->complete_sends();
  ASSERT_EQ(sessions(), 4u);
  request(client(9), "one-shot");
  step(1);
  EXPECT_EQ(count(Counter::sessions_evicted), 0u);
  EXPECT_EQ(count(Counter::drop_session_table_full) + count(Counter::drop_upstream_socket), 1u);
  EXPECT_EQ(sessions(), 4u);
}

TEST_F(WorkerTest, TimerPassesAreBounded) {
  config.timer_work_max = 4;
  const uint32_t a = add_server(kServerA);
  start({16, 16});
  for (int port = 2000; port < 2010; ++port) request(client(1, port), "q");
  step();
  ASSERT_EQ(sessions(), 10u);
  io->complete_sends();
  step(100);
  EXPECT_EQ(sessions(), 6u);
  EXPECT_EQ(count(Counter::requests_timed_out), 4u);
  step(1);
  EXPECT_EQ(sessions(), 2u);
  step(1);
  EXPECT_EQ(sessions(), 0u);
  EXPECT_EQ(count(Counter::requests_timed_out), 10u);
  EXPECT_EQ(in_flight(a), 0);
  EXPECT_TRUE(pool_is(0, 6, 10));
  step(600);  // every quarantine is over; the pool frees at most 4 per pass too
  EXPECT_TRUE(pool_is(0, 10, 6));
  step(1);
  EXPECT_TRUE(pool_is(0, 14, 2));
  step(1);
  EXPECT_TRUE(pool_is(0, 16, 0));
}

TEST_F(WorkerTest, WildcardIpv4ReplyLeavesFromTheAddressTheClientSentTo) {
  config.listen = address("0.0.0.0:53");
  add_server(kServerA);
  start({4, 4});
  request(address(kClient), "q", address("127.0.0.2:53"));
  step();
  io->complete_sends();
  EXPECT_TRUE(io->sent[0].control.empty());  // towards the server: the pool's own port
  reply(io->sent[0].fd, kMappedA, "r");
  step(1);
  ASSERT_EQ(io->sent.size(), 2u);
  const Sent& back = io->sent[1];
  ASSERT_TRUE(back.pktinfo.has_value());
  EXPECT_FALSE(back.pktinfo6.has_value());
  EXPECT_EQ(back.pktinfo->ipi_spec_dst.s_addr, inet_addr("127.0.0.2"));
  EXPECT_EQ(back.destination.to_string(), kClient);
}

TEST_F(WorkerTest, WildcardIpv6ReplyLeavesFromTheAddressTheClientSentTo) {
  config.listen = address("[::]:53");
  add_server("[2001:db8::1]:5301");
  start({4, 4});
  request(address("[2001:db8::7]:40000"), "q", address("[2001:db8::53]:53"));
  step();
  io->complete_sends();
  reply(io->sent[0].fd, "[2001:db8::1]:5301", "r");
  step(1);
  ASSERT_EQ(io->sent.size(), 2u);
  const Sent& back = io->sent[1];
  ASSERT_TRUE(back.pktinfo6.has_value());
  EXPECT_FALSE(back.pktinfo.has_value());
  in6_addr expected{};
  ASSERT_EQ(inet_pton(AF_INET6, "2001:db8::53", &expected), 1);
  EXPECT_EQ(std::memcmp(&back.pktinfo6->ipi6_addr, &expected, sizeof(expected)), 0);
  EXPECT_EQ(back.pktinfo6->ipi6_ifindex, 0);  // not link-local: routing picks the interface
}

TEST_F(WorkerTest, WildcardDualStackIpv4ClientGetsAV4MappedIpv6Pktinfo) {
  config.listen = address("[::]:53");
  add_server(kServerA);
  start({4, 4});
  request(address("[::ffff:192.0.2.7]:40000"), "q", address("[::ffff:127.0.0.2]:53"));
  step();
  io->complete_sends();
  reply(io->sent[0].fd, kMappedA, "r");
  step(1);
  ASSERT_EQ(io->sent.size(), 2u);
  const Sent& back = io->sent[1];
  EXPECT_EQ(back.destination.to_string(), "[::ffff:192.0.2.7]:40000");
  ASSERT_TRUE(back.pktinfo6.has_value());
  in6_addr expected{};
  ASSERT_EQ(inet_pton(AF_INET6, "::ffff:127.0.0.2", &expected), 1);
  EXPECT_EQ(std::memcmp(&back.pktinfo6->ipi6_addr, &expected, sizeof(expected)), 0);
}

TEST_F(WorkerTest, SpecificListenSendsNoControlMessage) {
  add_server(kServerA);
  start({4, 4});
  request(address(kClient), "q", address("127.0.0.1:53"));
  step();
  io->complete_sends();
  reply(io->sent[0].fd, kMappedA, "r");
  step(1);
  ASSERT_EQ(io->sent.size(), 2u);
  EXPECT_TRUE(io->sent[1].control.empty());
}

TEST_F(WorkerTest, KernelReceiveQueueDropsAreReported) {
  add_server(kServerA);
  start({4, 4});
  io->client_datagram(kListenFd, address(kClient), "q", std::nullopt, 7u);
  step();
  EXPECT_EQ(count(Counter::drop_kernel_receive_queue), 7u);
  EXPECT_EQ(count(Counter::requests_forwarded), 1u);
}

TEST_F(WorkerTest, BuffersRunningDryEndTheListenReceiveWhichIsRearmed) {
  config.buffers_per_worker = 4;
  const uint32_t a = add_server(kServerA);
  start({8, 8});
  for (int port = 3000; port < 3006; ++port) request(client(1, port), "q");
  EXPECT_FALSE(io->is_armed(kListenFd));  // -ENOBUFS ended it
  EXPECT_EQ(io->queued_datagrams(kListenFd), 2u);
  step();
  EXPECT_EQ(count(Counter::requests_forwarded), 4u);
  EXPECT_GE(count(Counter::receive_rearmed), 1u);
  EXPECT_EQ(io->arm_count(kListenFd), 2u);
  io->complete_sends();
  step(1);  // the buffers come back; the re-armed receive takes the rest
  step(1);
  EXPECT_EQ(count(Counter::requests_forwarded), 6u);
  EXPECT_EQ(io->queued_datagrams(kListenFd), 0u);
  io->complete_sends();
  for (uint32_t s = 0; s < 6; ++s) {
    reply(worker->socket_fd(s), kMappedA, "r");
    step(1);
    io->complete_sends();
  }
  step(1);
  EXPECT_EQ(count(Counter::replies_forwarded), 6u);
  EXPECT_EQ(in_flight(a), 0);
  EXPECT_EQ(sessions(), 0u);
  EXPECT_EQ(drops(), 0u);
  EXPECT_TRUE(io->is_armed(kListenFd));
  EXPECT_TRUE(buffers_home());
}

TEST_F(WorkerTest, OversizeAndBadSourceDatagramsAreCountedDrops) {
  const uint32_t a = add_server(kServerA);
  start({4, 4});
  request(address(kClient), std::string(600, 'x'));  // truncated by the buffer: MSG_TRUNC
  request(address(kClient), std::string(520, 'x'));  // fits the rounded buffer, over the limit
  sockaddr_storage unix_name{};
  unix_name.ss_family = AF_UNIX;
  io->datagram(kListenFd, reinterpret_cast<const sockaddr*>(&unix_name), 16, {}, "q");
  io->datagram(kListenFd, nullptr, 0, {}, "q");  // no name at all
  step();
  EXPECT_EQ(count(Counter::drop_datagram_oversize), 2u);
  EXPECT_EQ(count(Counter::drop_bad_source), 2u);
  EXPECT_EQ(count(Counter::requests_received), 4u);
  EXPECT_TRUE(io->sent.empty());
  request(address(kClient), std::string(512, 'x'));  // exactly max_datagram_bytes
  step(1);
  ASSERT_EQ(io->sent.size(), 1u);
  EXPECT_EQ(io->sent[0].payload.size(), 512u);
  io->complete_sends();
  const int fd = io->sent[0].fd;
  reply(fd, kMappedA, std::string(600, 'r'));
  reply(fd, kMappedA, std::string(550, 'r'));
  step(1);
  EXPECT_EQ(count(Counter::drop_datagram_oversize), 4u);
  EXPECT_EQ(sessions(), 1u);
  EXPECT_EQ(in_flight(a), 1);
  reply(fd, kMappedA, "");  // an empty reply is a reply
  step(1);
  ASSERT_EQ(io->sent.size(), 2u);
  EXPECT_EQ(io->sent[1].payload, "");
  EXPECT_EQ(io->sent[1].destination.to_string(), kClient);
  EXPECT_EQ(sessions(), 0u);
  EXPECT_EQ(in_flight(a), 0);
  io->complete_sends();
  step(1);
  EXPECT_EQ(count(Counter::replies_forwarded), 1u);
  EXPECT_TRUE(buffers_home());
}

TEST_F(WorkerTest, NoUpServerDropsTheRequest) {
  const uint32_t a = add_server(kServerA);
  table.set_state(a, ServerState::down);
  start({4, 4});
  request(address(kClient), "q");
  step();
  EXPECT_EQ(count(Counter::drop_no_server), 1u);
  EXPECT_TRUE(io->sent.empty());
  EXPECT_TRUE(buffers_home());
}

TEST_F(WorkerTest, DrainWaitsForTheReplyThenStops) {
  const uint32_t a = add_server(kServerA);
  start({4, 4});
  request(address(kClient), "q");
  step();
  io->complete_sends();
  control.drain_deadline_ns.store(now_ns + 1000 * kMs);
  control.stop_receiving.store(true);
  EXPECT_TRUE(step(1));
  ASSERT_EQ(io->cancels.size(), 1u);
  EXPECT_EQ(UserData::decode(io->cancels[0].first).kind, OpKind::listen_receive);
  EXPECT_FALSE(io->is_armed(kListenFd));
  request(client(2), "late");  // waits in the socket: nobody reads it any more
  EXPECT_TRUE(step(1));
  EXPECT_TRUE(step(10));
  EXPECT_EQ(io->queued_datagrams(kListenFd), 1u);
  EXPECT_EQ(count(Counter::requests_received), 1u);
  EXPECT_EQ(count(Counter::receive_rearmed), 0u);
  reply(io->sent[0].fd, kMappedA, "r");
  EXPECT_FALSE(step(1));  // the last reply is queued: done
  io->auto_complete_sends = true;
  worker->finish();
  EXPECT_EQ(count(Counter::replies_forwarded), 1u);
  EXPECT_EQ(in_flight(a), 0);
  EXPECT_EQ(sessions(), 0u);
}

TEST_F(WorkerTest, DrainStopsAtTheDeadline) {
  const uint32_t a = add_server(kServerA);
  start({4, 4});
  request(address(kClient), "q");
  step();
  io->complete_sends();
  control.drain_deadline_ns.store(now_ns + 50 * kMs);
  control.stop_receiving.store(true);
  EXPECT_TRUE(step(10));
  EXPECT_TRUE(step(10));
  EXPECT_FALSE(step(30));
  EXPECT_EQ(in_flight(a), 1);
  worker->finish();
  EXPECT_EQ(in_flight(a), 0);
  EXPECT_EQ(count(Counter::requests_timed_out), 1u);
  EXPECT_EQ(table.slot(a).timeouts_total.load(), 1u);
  EXPECT_EQ(sessions(), 0u);
}

// In a takeover the successor reads the same listen socket: the worker may stop only once
// its multishot receive has ended, or a datagram it took would go unanswered.
TEST_F(WorkerTest, DrainWaitsForTheListenReceiveToEndAndRetriesACancelWithoutSlot) {
  add_server(kServerA);
  start({4, 4});
  control.drain_deadline_ns.store(now_ns + 1000 * kMs);
  control.stop_receiving.store(true);
  io->submission_full = true;
  EXPECT_TRUE(step(1));  // nothing owed, but the receive is still armed
  EXPECT_TRUE(io->cancels.empty());
  io->submission_full = false;
  EXPECT_TRUE(step(1));  // the cancel is queued; its final completion is not reaped yet
  ASSERT_EQ(io->cancels.size(), 1u);
  EXPECT_FALSE(step(1));  // -ECANCELED reaped: done
  worker->finish();
}

TEST_F(WorkerTest, DestructionClosesEveryUpstreamSocket) {
  add_server(kServerA);
  start({3, 3});
  const auto closed = io->closed;
  request(address(kClient), "q");
  step();
  io->complete_sends();
  worker.reset();
  EXPECT_EQ(*closed, (std::vector<int>{1000, 1001, 1002}));
}


// --- Live settings (a reload): published with the pool snapshot, applied between batches ---

TEST_F(WorkerTest, ReloadedSourceLimitTakesEffectAtTheNextBatch) {
  add_server(kServerA);
  start({4, 4});
  for (const char* payload : {"a1", "a2", "a3"}) request(client(1), payload);
  step();
  EXPECT_EQ(count(Counter::drop_source_rate), 0u) << "no limit at start";
  io->complete_sends();
  LiveSettings limited = table.live_settings();
  limited.source_requests_per_s = 1;
  table.set_live_settings(limited);
  step(1000);
  for (const char* payload : {"a4", "a5", "a6"}) request(client(1), payload);
  step(1);
  EXPECT_EQ(count(Counter::drop_source_rate), 2u) << "one per second from now on";
  io->complete_sends();
  LiveSettings open = limited;
  open.source_requests_per_s = 0;
  table.set_live_settings(open);
  step(1);
  for (const char* payload : {"a7", "a8"}) request(client(1), payload);
  step(1);
  EXPECT_EQ(count(Counter::drop_source_rate), 2u) << "the limit is gone again";
}

TEST_F(WorkerTest, ReloadedRequestTimeoutAppliesToRequestsInFlight) {
  add_server(kServerA);
  start({4, 4});
  request(client(1), "q");
  step(1);
  io->complete_sends();
  LiveSettings longer = table.live_settings();
  longer.request_timeout_ms = 1000;
  table.set_live_settings(longer);
  step(1);
  step(200);  // past the old 100 ms, well inside the new 1000 ms
  EXPECT_EQ(count(Counter::requests_timed_out), 0u);
  step(900);
  step(300);
  EXPECT_EQ(count(Counter::requests_timed_out), 1u);
}

TEST_F(WorkerTest, ReloadedPolicyPlacesTheNextBatch) {
  const uint32_t a = add_server(kServerA);
  const uint32_t b = add_server(kServerB);
  prefer(a);
  start({8, 8});
  for (int i = 0; i < 4; ++i) exchange(client(i + 1), kServerA);
  EXPECT_EQ(table.slot(b).requests_total.load(), 0u) << "shortest-queue keeps to the idle one";
  LiveSettings rotating = table.live_settings();
  rotating.policy = Policy::round_robin;
  table.set_live_settings(rotating);
  for (int i = 0; i < 4; ++i) {
    request(client(10 + i), "q");
    step(1);
    io->complete_sends();
  }
  EXPECT_GT(table.slot(b).requests_total.load(), 0u) << "round-robin ignores the load";
}

}  // namespace
}  // namespace shortline

// Worker: one exchange per packet session on a pooled socket, in-flight accounting,
// request timeouts and the late-reply quarantine, and the send-failure paths (single and
// GSO group), driven through FakeWorkerIo with explicit times.
#include "worker_test_fixture.h"

namespace shortline {
namespace {
TEST_F(WorkerTest, InitOpensThePoolAndArmsEveryReceive) {
  add_server(kServerA);
  start({4, 4});
  EXPECT_EQ(io->opened, (std::vector<int>{1000, 1001, 1002, 1003}));
  EXPECT_EQ(io->families, (std::vector<int>(4, AF_INET6)));
  ASSERT_TRUE(io->is_armed(kListenFd));
  EXPECT_EQ(io->armed.at(kListenFd).name_bytes, 32u);
  EXPECT_GE(io->armed.at(kListenFd).control_bytes, 48u);  // SO_RXQ_OVFL + IPV6_PKTINFO
  for (uint32_t s = 0; s < 4; ++s) {
    EXPECT_EQ(worker->socket_fd(s), 1000 + static_cast<int>(s));
    ASSERT_TRUE(io->is_armed(worker->socket_fd(s)));
    EXPECT_EQ(io->armed.at(worker->socket_fd(s)).control_bytes, 0u);
  }
  EXPECT_GE(io->submits, 1u);
}

TEST_F(WorkerTest, InitReportsWhatFailed) {
  auto fake = std::make_unique<FakeWorkerIo>();
  fake->open_error = -EMFILE;
  fake->open_error_after = 2;
  Worker failing(0, config, {4, 4}, table, stats, std::move(fake));
  EXPECT_NE(failing.init(kListenFd).find("opening upstream socket 3 of 4"), std::string::npos);
  auto no_ring = std::make_unique<FakeWorkerIo>();
  no_ring->init_result = ENOSYS;
  Worker ringless(0, config, {4, 4}, table, stats, std::move(no_ring));
  EXPECT_NE(ringless.init(kListenFd).find("io_uring set-up"), std::string::npos);
}

TEST_F(WorkerTest, PacketAffinityForwardsRequestAndReplyOnAPooledSocket) {
  const uint32_t a = add_server(kServerA);
  start({4, 4});
  EXPECT_EQ(in_flight(a), 0);
  request(address(kClient), "hello");
  EXPECT_TRUE(step());
  ASSERT_EQ(io->sent.size(), 1u);
  const Sent& out = io->sent[0];
  EXPECT_EQ(out.fd, worker->socket_fd(0));
  EXPECT_EQ(out.destination.to_string(), kMappedA);
  EXPECT_EQ(out.payload, "hello");
  EXPECT_EQ(out.iov_count, 1u);
  EXPECT_TRUE(out.control.empty());
  EXPECT_EQ(kind(out), OpKind::upstream_send);
  EXPECT_EQ(in_flight(a), 1);
  EXPECT_EQ(table.slot(a).requests_total.load(), 1u);
  EXPECT_EQ(sessions(), 1u);
  EXPECT_EQ(worker->sessions().pending_count(), 1u);
  EXPECT_TRUE(pool_is(1, 3, 0));
  EXPECT_EQ(stats.sessions_open.load(), 1u);
  EXPECT_EQ(stats.sockets_busy.load(), 1u);

  io->complete_send(0);
  reply(out.fd, kMappedA, "world");
  EXPECT_TRUE(step(1));
  ASSERT_EQ(io->sent.size(), 2u);
  const Sent& back = io->sent[1];
  EXPECT_EQ(back.fd, kListenFd);
  EXPECT_EQ(back.destination.to_string(), kClient);
  EXPECT_EQ(back.payload, "world");
  EXPECT_TRUE(back.control.empty());
  EXPECT_EQ(kind(back), OpKind::client_send);
  EXPECT_EQ(in_flight(a), 0);
  EXPECT_EQ(table.slot(a).replies_total.load(), 1u);
  EXPECT_EQ(sessions(), 0u);
  EXPECT_EQ(count(Counter::sessions_completed), 1u);
  EXPECT_TRUE(pool_is(0, 4, 0));

  io->complete_send(1);
  EXPECT_TRUE(step(1));
  EXPECT_EQ(count(Counter::requests_received), 1u);
  EXPECT_EQ(count(Counter::requests_forwarded), 1u);
  EXPECT_EQ(count(Counter::replies_received), 1u);
  EXPECT_EQ(count(Counter::replies_forwarded), 1u);
  EXPECT_EQ(count(Counter::sessions_created), 1u);
  EXPECT_EQ(drops(), 0u);
  EXPECT_TRUE(buffers_home());
  // The released socket went to the ready tail: the next exchange gets the next one.
  request(address(kClient), "again");
  step(1);
  EXPECT_EQ(io->sent.back().fd, worker->socket_fd(1));
}

TEST_F(WorkerTest, Ipv6ClientAndServer) {
  const uint32_t a = add_server("[2001:db8::1]:5301");
  start({2, 2});
  request(address("[2001:db8::7]:40000"), "q6");
  step();
  ASSERT_EQ(io->sent.size(), 1u);
  EXPECT_EQ(io->sent[0].destination.to_string(), "[2001:db8::1]:5301");
  io->complete_sends();
  reply(io->sent[0].fd, "[2001:db8::1]:5301", "r6");
  step(1);
  ASSERT_EQ(io->sent.size(), 2u);
  EXPECT_EQ(io->sent[1].destination.to_string(), "[2001:db8::7]:40000");
  EXPECT_EQ(io->sent[1].payload, "r6");
  EXPECT_EQ(in_flight(a), 0);
}

TEST_F(WorkerTest, Ipv4OnlyPoolSendsPlainIpv4AndCannotReachIpv6) {
  const uint32_t a = add_server(kServerA);
  const uint32_t v6 = add_server("[2001:db8::1]:5301");
  start({3, 3}, [](FakeWorkerIo& fake) { fake.ipv6_unsupported = true; });
  EXPECT_EQ(io->families, (std::vector<int>{AF_INET6, AF_INET, AF_INET, AF_INET}));
  prefer(a);
  request(client(1), "q");
  step();
  ASSERT_EQ(io->sent.size(), 1u);
  EXPECT_EQ(io->sent[0].destination.to_string(), kServerA);
  io->complete_sends();
  reply(io->sent[0].fd, kServerA, "r");
  step(1);
  EXPECT_EQ(count(Counter::replies_received), 1u);
  EXPECT_EQ(io->sent.size(), 2u);
  prefer(v6);
  request(client(2), "q");
  step(1);
  EXPECT_EQ(count(Counter::drop_upstream_send), 1u);
  EXPECT_EQ(io->sent.size(), 2u);
  EXPECT_EQ(in_flight(v6), 0);
}

TEST_F(WorkerTest, ResponsesPerRequestTwoKeepsTheSessionUntilTheSecondReply) {
  config.responses_per_request = 2;
  const uint32_t a = add_server(kServerA);
  start({4, 4});
  request(address(kClient), "q");
  step();
  io->complete_sends();
  const int fd = io->sent[0].fd;
  reply(fd, kMappedA, "r1");
  step(1);
  ASSERT_EQ(io->sent.size(), 2u);
  EXPECT_EQ(io->sent[1].payload, "r1");
  EXPECT_EQ(sessions(), 1u);
  EXPECT_EQ(in_flight(a), 1);
  EXPECT_EQ(table.slot(a).replies_total.load(), 1u);
  EXPECT_EQ(count(Counter::sessions_completed), 0u);
  io->complete_sends();
  reply(fd, kMappedA, "r2");
  step(1);
  ASSERT_EQ(io->sent.size(), 3u);
  EXPECT_EQ(io->sent[2].payload, "r2");
  EXPECT_EQ(sessions(), 0u);
  EXPECT_EQ(in_flight(a), 0);
  EXPECT_EQ(table.slot(a).replies_total.load(), 2u);
  EXPECT_EQ(count(Counter::sessions_completed), 1u);
  EXPECT_TRUE(pool_is(0, 4, 0));
  io->complete_sends();
  reply(fd, kMappedA, "r3");  // beyond what was expected: the exchange is over
  step(1);
  EXPECT_EQ(count(Counter::drop_reply_no_session), 1u);
  EXPECT_EQ(io->sent.size(), 3u);
  EXPECT_TRUE(buffers_home());
}

TEST_F(WorkerTest, RepliesOfOneBatchToOneClientGoAsOneGsoSend) {
  config.responses_per_request = 2;
  add_server(kServerA);
  start({4, 4});
  request(address(kClient), "q");
  step();
  io->complete_sends();
  reply(io->sent[0].fd, kMappedA, "r1");
  reply(io->sent[0].fd, kMappedA, "r2");
  step(1);
  ASSERT_EQ(io->sent.size(), 2u);
  const Sent& group = io->sent[1];
  EXPECT_EQ(kind(group), OpKind::client_send_group);
  EXPECT_EQ(group.iov_count, 2u);
  EXPECT_EQ(group.segment_bytes, 2u);
  EXPECT_EQ(group.payload, "r1r2");
  EXPECT_EQ(group.destination.to_string(), kClient);
  io->complete_sends();
  step(1);
  EXPECT_EQ(count(Counter::replies_forwarded), 2u);
  EXPECT_TRUE(buffers_home());
}

TEST_F(WorkerTest, RequestTimeoutQuarantinesTheSocketAgainstItsServer) {
  const uint32_t a = add_server(kServerA);
  const uint32_t b = add_server(kServerB);
  prefer(a);
  start({1, 1});
  request(client(1), "q1");
  step();
  ASSERT_EQ(io->sent.size(), 1u);
  const int fd = io->sent[0].fd;
  io->complete_sends();
  EXPECT_TRUE(step(99));
  EXPECT_EQ(sessions(), 1u);
  EXPECT_EQ(in_flight(a), 1);
  // Timers run every request_timeout_ms / 4 (25 ms): a timeout is seen within one pass.
  EXPECT_TRUE(step(26));
  EXPECT_EQ(count(Counter::requests_timed_out), 1u);
  EXPECT_EQ(table.slot(a).timeouts_total.load(), 1u);
  EXPECT_EQ(in_flight(a), 0);
  EXPECT_EQ(sessions(), 0u);
  EXPECT_TRUE(pool_is(0, 0, 1));

  reply(fd, kMappedA, "late");
  step(1);
  EXPECT_EQ(count(Counter::drop_reply_no_session), 1u);
  EXPECT_EQ(io->sent.size(), 1u);

  request(client(2), "q2");  // towards A: the only socket is quarantined against A
  step(1);
  EXPECT_EQ(count(Counter::drop_upstream_socket), 1u);
  EXPECT_EQ(io->sent.size(), 1u);
  EXPECT_EQ(in_flight(a), 0);

  prefer(b);
  request(client(3), "q3");  // towards B the socket is safe at once
  step(1);
  ASSERT_EQ(io->sent.size(), 2u);
  EXPECT_EQ(io->sent[1].fd, fd);
  EXPECT_EQ(io->sent[1].destination.to_string(), kMappedB);
  EXPECT_TRUE(pool_is(1, 0, 0));
  io->complete_sends();
  reply(fd, kMappedA, "stale");  // A's late answer to client 1
  step(1);
  EXPECT_EQ(count(Counter::drop_reply_wrong_source), 1u);
  EXPECT_EQ(io->sent.size(), 2u);
  EXPECT_EQ(in_flight(b), 1);
  reply(fd, kMappedB, "answer");
  step(1);
  ASSERT_EQ(io->sent.size(), 3u);
  EXPECT_EQ(io->sent[2].destination.to_string(), client(3).to_string());
  EXPECT_EQ(io->sent[2].payload, "answer");
  EXPECT_EQ(in_flight(b), 0);
  EXPECT_EQ(sessions(), 0u);
  EXPECT_TRUE(pool_is(0, 1, 0));
  io->complete_sends();
  step(1);
  EXPECT_TRUE(buffers_home());
}

// A packet session closed because its request timed out counts as sessions_expired
// ("closed by a timeout"), not sessions_completed ("every expected reply came").
TEST_F(WorkerTest, TimedOutPacketSessionCountsAsExpired) {
  add_server(kServerA);
  start({4, 4});
  request(address(kClient), "q");
  step();
  io->complete_sends();
  step(100);
  EXPECT_EQ(sessions(), 0u);
  EXPECT_EQ(count(Counter::sessions_expired), 1u);
  EXPECT_EQ(count(Counter::sessions_completed), 0u);
}

TEST_F(WorkerTest, QuarantineEndsAfterLateReplyQuarantine) {
  add_server(kServerA);
  start({1, 1});
  request(client(1), "q");
  step();
  io->complete_sends();
  step(100);
  EXPECT_TRUE(pool_is(0, 0, 1));
  step(499);
  EXPECT_TRUE(pool_is(0, 0, 1));
  step(25);  // late_reply_quarantine_ms after the timeout, plus a timer interval
  EXPECT_TRUE(pool_is(0, 1, 0));
  request(client(2), "q");
  step(1);
  EXPECT_EQ(io->sent.size(), 2u);
  EXPECT_EQ(count(Counter::drop_upstream_socket), 0u);
}

TEST_F(WorkerTest, RefusedUpstreamSendUndoesTheRequest) {
  const uint32_t a = add_server(kServerA);
  start({4, 4});
  request(address(kClient), "q");
  step();
  EXPECT_EQ(in_flight(a), 1);
  io->complete_send(0, -ECONNREFUSED);
  step(1);
  EXPECT_EQ(count(Counter::drop_upstream_send), 1u);
  EXPECT_EQ(count(Counter::upstream_refused), 1u);
  EXPECT_EQ(table.slot(a).passive_errors.load(), 1u);
  EXPECT_EQ(in_flight(a), 0);
  EXPECT_EQ(sessions(), 0u);
  EXPECT_TRUE(pool_is(0, 4, 0));  // nothing can come back: no quarantine
  EXPECT_TRUE(buffers_home());
  step(200);
  EXPECT_EQ(count(Counter::requests_timed_out), 0u);
}

TEST_F(WorkerTest, AgainUpstreamSendUndoesTheRequestWithoutBlame) {
  const uint32_t a = add_server(kServerA);
  start({4, 4});
  request(address(kClient), "q");
  step();
  io->complete_send(0, -EAGAIN);
  step(1);
  EXPECT_EQ(count(Counter::drop_upstream_send), 1u);
  EXPECT_EQ(count(Counter::upstream_refused), 0u);
  EXPECT_EQ(table.slot(a).passive_errors.load(), 0u);
  EXPECT_EQ(in_flight(a), 0);
  EXPECT_EQ(sessions(), 0u);
  EXPECT_TRUE(buffers_home());
}

TEST_F(WorkerTest, SendThatFindsNoSubmissionSlotFailsLikeARefusedOne) {
  const uint32_t a = add_server(kServerA);
  start({4, 4});
  request(address(kClient), "q");
  io->submission_full = true;
  step();
  io->submission_full = false;
  EXPECT_TRUE(io->sent.empty());
  EXPECT_EQ(count(Counter::drop_upstream_send), 1u);
  EXPECT_EQ(in_flight(a), 0);
  EXPECT_EQ(sessions(), 0u);
  EXPECT_TRUE(buffers_home());
}

TEST_F(WorkerTest, FailedGsoGroupUndoesEveryMember) {
  const uint32_t a = add_server(kServerA);
  start({4, 4});
  for (const char* payload : {"aaaa", "bbbb", "cccc"}) request(address(kClient), payload);
  step();
  ASSERT_EQ(io->sent.size(), 1u);
  const Sent& group = io->sent[0];
  EXPECT_EQ(kind(group), OpKind::upstream_send_group);
  EXPECT_EQ(group.iov_count, 3u);
  EXPECT_EQ(group.segment_bytes, 4u);
  EXPECT_EQ(group.payload, "aaaabbbbcccc");
  EXPECT_EQ(group.destination.to_string(), kMappedA);
  EXPECT_EQ(in_flight(a), 3);
  EXPECT_EQ(sessions(), 1u);
  io->complete_send(0, -ECONNREFUSED);
  step(1);
  EXPECT_EQ(count(Counter::drop_upstream_send), 3u);
  EXPECT_EQ(in_flight(a), 0);
  EXPECT_EQ(sessions(), 0u);
  EXPECT_EQ(table.slot(a).passive_errors.load(), 1u);  // one failed sendmsg, one error
  EXPECT_TRUE(pool_is(0, 4, 0));
  EXPECT_TRUE(buffers_home());
}

// The kernel refuses a UDP_SEGMENT send whose segment does not fit the route's MTU
// (udp_send_skb: "hlen + gso_size > fragsize", -EINVAL or -EMSGSIZE), where each datagram
// alone would go out fragmented: equal-size datagrams above a 1500-byte MTU's payload are
// sent one by one, never lost to a refused group. (This fake plays a 1500-byte MTU.)
TEST_F(WorkerTest, DatagramsLargerThanTheMtuAreNotLostToGso) {
  config.max_datagram_bytes = 4096;
  const uint32_t a = add_server(kServerA);
  start({4, 4});
  request(address(kClient), std::string(2000, 'a'));
  request(address(kClient), std::string(2000, 'b'));
  step();
  // Complete sends as a kernel whose route to the server has a 1500-byte MTU would.
  constexpr std::size_t kMtu = 1500;
  constexpr std::size_t kHeaders = 48;  // IPv6 + UDP
  for (int round = 0; round < 4 && io->pending_sends() != 0; ++round) {
    for (std::size_t i = 0; i < io->sent.size(); ++i) {
      const Sent& s = io->sent[i];
      if (s.completed) continue;
      const bool refused = s.segment_bytes != 0 && s.segment_bytes + kHeaders > kMtu;
      io->complete_send(i, refused ? std::optional<int32_t>(-EMSGSIZE) : std::nullopt);
    }
    step(1);
  }
  EXPECT_EQ(count(Counter::drop_upstream_send), 0u);  // today: 2
  EXPECT_EQ(in_flight(a), 2);                          // today: 0
}

TEST_F(WorkerTest, FailedReplySendCountsDropClientSend) {
  const uint32_t a = add_server(kServerA);
  start({4, 4});
  request(address(kClient), "q");
  step();
  io->complete_sends();
  reply(io->sent[0].fd, kMappedA, "r");
  step(1);
  ASSERT_EQ(io->sent.size(), 2u);
  io->complete_send(1, -EPERM);
  step(1);
  EXPECT_EQ(count(Counter::drop_client_send), 1u);
  EXPECT_EQ(count(Counter::replies_forwarded), 0u);
  EXPECT_EQ(in_flight(a), 0);
  EXPECT_EQ(table.slot(a).replies_total.load(), 1u);
  EXPECT_TRUE(buffers_home());
}

TEST_F(WorkerTest, RefusedUpstreamReceiveIsCountedDrainedAndRearmed) {
  const uint32_t a = add_server(kServerA);
  start({4, 4});
  request(address(kClient), "q");
  step();
  io->complete_sends();
  const int fd = io->sent[0].fd;
  io->receive_error(fd, -ECONNREFUSED);
  step(1);
  EXPECT_EQ(count(Counter::upstream_refused), 1u);
  EXPECT_EQ(io->drained, (std::vector<int>{fd}));
  EXPECT_EQ(table.slot(a).passive_errors.load(), 1u);
  EXPECT_EQ(count(Counter::receive_rearmed), 1u);
  EXPECT_TRUE(io->is_armed(fd));
  EXPECT_EQ(io->arm_count(fd), 2u);
  EXPECT_EQ(in_flight(a), 1);  // the request itself waits for its timeout
  reply(fd, kMappedA, "r");    // the re-armed receive still delivers
  step(1);
  EXPECT_EQ(io->sent.size(), 2u);
  EXPECT_EQ(in_flight(a), 0);
}

}  // namespace
}  // namespace shortline

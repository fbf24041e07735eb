// Worker: the session state machine, in-flight accounting, pooled sockets and their
// quarantine, admission, bounded timers, send-failure paths, wildcard replies, buffer
// exhaustion and drain, driven through FakeWorkerIo with explicit times (no kernel, no
// clock, no sleeping).
#include "dataplane/worker.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dataplane/user_data.h"
#include "tests/unit/fake_worker_io.h"

namespace shortline {
namespace {

using Sent = FakeWorkerIo::Sent;

constexpr int kListenFd = 3;
constexpr uint64_t kMs = 1'000'000;
constexpr const char* kServerA = "10.0.0.1:5301";
constexpr const char* kMappedA = "[::ffff:10.0.0.1]:5301";  // as the dual-stack pool sees it
constexpr const char* kServerB = "10.0.0.2:5301";
constexpr const char* kMappedB = "[::ffff:10.0.0.2]:5301";
constexpr const char* kClient = "192.0.2.7:40000";

NetAddress address(const std::string& text) {
  const auto parsed = NetAddress::parse(text);
  EXPECT_TRUE(parsed.has_value()) << text;
  return parsed.value_or(NetAddress{});
}

// Distinct source addresses: "203.0.113.<n>:<port>".
NetAddress client(int n, int port = 1000) {
  return address("203.0.113." + std::to_string(n) + ":" + std::to_string(port));
}

OpKind kind(const Sent& s) { return UserData::decode(s.user_data).kind; }

class WorkerTest : public ::testing::Test {
 protected:
  WorkerTest() {
    config.listen = address("127.0.0.1:53");
    config.max_servers = 8;
    config.buffers_per_worker = 16;
    config.batch_size_max = 16;
    config.max_datagram_bytes = 512;
    config.request_timeout_ms = 100;  // timer passes every 25 ms
    config.session_idle_timeout_ms = 1000;
    config.session_unreplied_timeout_ms = 300;
    config.late_reply_quarantine_ms = 500;
  }

  uint32_t add_server(const char* text) {
    const auto slot = table.add_server(address(text), 1);
    EXPECT_TRUE(slot.has_value());
    servers.push_back(slot.value_or(0));
    return slot.value_or(0);
  }

  // Makes `slot` the picker's choice: every other server looks loaded.
  void prefer(uint32_t slot) {
    for (const uint32_t s : servers) table.slot(s).other_load.store(s == slot ? 0 : 1'000'000);
  }

  void start(WorkerCapacity capacity, const std::function<void(FakeWorkerIo&)>& setup = {}) {
    auto fake = std::make_unique<FakeWorkerIo>();
    io = fake.get();
    if (setup) setup(*io);
    worker = std::make_unique<Worker>(0, config, capacity, table, stats, std::move(fake));
    EXPECT_EQ(worker->init(kListenFd), "");
  }

  bool step(uint64_t advance_ms = 0) {
    now_ns += advance_ms * kMs;
    return worker->iterate(control, now_ns);
  }

  void request(const NetAddress& from, std::string_view payload,
               const std::optional<NetAddress>& local = std::nullopt) {
    io->client_datagram(kListenFd, from, payload, local);
  }
  void reply(int fd, const char* from, std::string_view payload) {
    io->server_datagram(fd, address(from), payload);
  }

  [[nodiscard]] uint64_t count(Counter counter) const { return stats.get(counter); }
  [[nodiscard]] uint64_t drops() const {
    uint64_t total = 0;
    for (std::size_t i = 0; i < kCounterCount; ++i)
      if (kCounterInfo[i].is_drop) total += stats.values[i].load();
    return total;
  }
  [[nodiscard]] int64_t in_flight(uint32_t slot) const { return table.slot(slot).in_flight.load(); }
  [[nodiscard]] uint32_t sessions() const { return worker->sessions().size(); }

  ::testing::AssertionResult pool_is(uint32_t busy, uint32_t ready, uint32_t quarantined) const {
    const UpstreamPool& p = worker->pool();
    if (p.busy_count() == busy && p.ready_count() == ready && p.quarantined_count() == quarantined)
      return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure()
           << "pool busy/ready/quarantined " << p.busy_count() << "/" << p.ready_count() << "/"
           << p.quarantined_count() << ", expected " << busy << "/" << ready << "/" << quarantined;
  }
  // Every provided buffer is back in the ring (none held, none awaiting commit).
  ::testing::AssertionResult buffers_home() const {
    if (io->held_buffers() == 0 && io->free_buffers() == config.buffers_per_worker)
      return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << io->held_buffers() << " held, " << io->free_buffers()
                                         << " free of " << config.buffers_per_worker;
  }

  // A request from `from` answered by `server` (as the pool sees it), every send completed.
  void exchange(const NetAddress& from, const char* server) {
    request(from, "q");
    step(1);
    ASSERT_FALSE(io->sent.empty());
    const int fd = io->sent.back().fd;
    io->complete_sends();
    reply(fd, server, "r");
    step(1);
    io->complete_sends();
    step(1);
  }

  DataplaneConfig config;
  ServerTable table{8, 1};
  WorkerStats stats;
  RunControl control;
  std::vector<uint32_t> servers;
  FakeWorkerIo* io = nullptr;  // owned by worker
  std::unique_ptr<Worker> worker;
  uint64_t now_ns = 10'000 * kMs;
};

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
  EXPECT_GE(table.slot(a).passive_errors.load(), 1u);  // today once per datagram: 3
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

}  // namespace
}  // namespace shortline

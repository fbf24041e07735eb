// The fixture of the worker's unit tests: a Worker over FakeWorkerIo, a server table and
// helpers to inject datagrams and step the loop at explicit times (no kernel, no clock).
#pragma once

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

inline NetAddress address(const std::string& text) {
  const auto parsed = NetAddress::parse(text);
  EXPECT_TRUE(parsed.has_value()) << text;
  return parsed.value_or(NetAddress{});
}

// Distinct source addresses: "203.0.113.<n>:<port>".
inline NetAddress client(int n, int port = 1000) {
  return address("203.0.113." + std::to_string(n) + ":" + std::to_string(port));
}

inline OpKind kind(const Sent& s) { return UserData::decode(s.user_data).kind; }

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

}  // namespace
}  // namespace shortline

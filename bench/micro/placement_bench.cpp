// Placement cost: one batch of 32 requests (begin_batch, 32 picks, end_batch) over 8, 64
// and 512 UP servers with varied in-flight counts, for each policy (maglev with its flow
// hash computed per request, with the load bound off and at 1.25). items/s = requests
// placed. Then the Maglev table's build time for 10, 100 and 1000 servers, and the share
// of flows that move when a server joins or leaves the pool (counters; ideal: 1/(N+1) on
// a join, the leaver's 1/N and 0 of the others' on a leave).
// Run: shortline-bench-placement --benchmark_min_time=0.1
#include <arpa/inet.h>
#include <benchmark/benchmark.h>

#include <vector>

#include "dataplane/maglev_table.h"
#include "dataplane/server_picker.h"

namespace shortline {
namespace {

constexpr uint32_t kBatchSize = 32;

NetAddress server_address(uint32_t n) {
  sockaddr_in name{};
  name.sin_family = AF_INET;
  name.sin_addr.s_addr = htonl(0x0a000000u + n);
  name.sin_port = htons(5300);
  return NetAddress::from_sockaddr(reinterpret_cast<const sockaddr*>(&name), sizeof(name));
}

FlowKey client_flow(uint32_t n) {
  sockaddr_in name{};
  name.sin_family = AF_INET;
  name.sin_addr.s_addr = htonl(0xcb007100u + n % 251);
  name.sin_port = htons(static_cast<uint16_t>(1024 + n));
  return FlowKey::from_name(reinterpret_cast<const sockaddr*>(&name), sizeof(name),
                            FlowKey::kAnyServer);
}

void place_batch(benchmark::State& state, Policy policy, double load_bound = 0) {
  const auto servers = static_cast<uint32_t>(state.range(0));
  ServerTable table(servers, 1);
  LiveSettings settings;
  settings.policy = policy;
  table.set_live_settings(settings);  // maglev: the table is built with the pool
  for (uint32_t n = 0; n < servers; ++n) {
    const auto slot = table.add_server(server_address(n), 1);
    if (!slot) {
      state.SkipWithError("server table full");
      return;
    }
    // Spread-out loads, so shortest-queue's heap has real work and ties are few.
    table.slot(*slot).in_flight.store(static_cast<int64_t>((n * 37) % 101));
  }
  ServerPicker picker(policy, servers, 42, false);
  picker.set_load_bound(load_bound);
  std::vector<FlowKey> flows;
  for (uint32_t r = 0; r < kBatchSize; ++r) flows.push_back(client_flow(r));
  const LocalAddress service{};
  const PoolSnapshot* pool = table.enter_batch(0);
  for (auto _ : state) {
    picker.begin_batch(*pool, table);
    for (uint32_t r = 0; r < kBatchSize; ++r) {
      const uint64_t hash = picker.uses_flow_hash() ? maglev_flow_hash(flows[r], service) : 0;
      benchmark::DoNotOptimize(picker.pick(hash));
    }
    benchmark::DoNotOptimize(picker.end_batch());
  }
  table.go_offline(0);
  state.SetItemsProcessed(state.iterations() * kBatchSize);
}

BENCHMARK_CAPTURE(place_batch, shortest_queue, Policy::shortest_queue)->Arg(8)->Arg(64)->Arg(512);
BENCHMARK_CAPTURE(place_batch, power_of_two, Policy::power_of_two)->Arg(8)->Arg(64)->Arg(512);
BENCHMARK_CAPTURE(place_batch, round_robin, Policy::round_robin)->Arg(8)->Arg(64)->Arg(512);
BENCHMARK_CAPTURE(place_batch, random, Policy::random)->Arg(8)->Arg(64)->Arg(512);
BENCHMARK_CAPTURE(place_batch, maglev, Policy::maglev)->Arg(8)->Arg(64)->Arg(512);
BENCHMARK_CAPTURE(place_batch, maglev_bounded, Policy::maglev, 1.25)->Arg(8)->Arg(64)->Arg(512);

std::vector<MaglevBackend> maglev_servers(uint32_t count) {
  std::vector<MaglevBackend> backends;
  for (uint32_t n = 0; n < count; ++n) backends.push_back({server_address(n), 1, n});
  return backends;
}

// The control thread's cost of one rebuild, at the table size max_servers = N would get.
void maglev_build(benchmark::State& state) {
  const auto servers = static_cast<uint32_t>(state.range(0));
  const uint32_t size = MaglevTable::size_for(servers);
  const std::vector<MaglevBackend> backends = maglev_servers(servers);
  for (auto _ : state) {
    const MaglevTable table(backends, size);
    benchmark::DoNotOptimize(table.slot_at(0));
  }
  state.counters["table_size"] = size;
}
BENCHMARK(maglev_build)->Arg(10)->Arg(100)->Arg(1000)->Unit(benchmark::kMillisecond);

// Shares of the table's entries (hence of uniformly hashed flows) that change server when
// server N joins N others, and when server 0 leaves the pool (a rebuild without it; a DOWN
// server instead stays in the table and is skipped, which moves no other flow at all).
void maglev_churn(benchmark::State& state) {
  const auto servers = static_cast<uint32_t>(state.range(0));
  const uint32_t size = MaglevTable::size_for(servers + 1);
  const MaglevTable before(maglev_servers(servers), size);
  const MaglevTable joined(maglev_servers(servers + 1), size);
  std::vector<MaglevBackend> rest = maglev_servers(servers);
  rest.erase(rest.begin());
  for (auto _ : state) {
    const MaglevTable left(rest, size);
    uint32_t moved_on_join = 0;
    uint32_t lost = 0;
    uint32_t others_moved_on_leave = 0;
    for (uint32_t p = 0; p < size; ++p) {
      moved_on_join += before.slot_at(p) != joined.slot_at(p) ? 1 : 0;
      if (before.slot_at(p) == 0) ++lost;
      else others_moved_on_leave += before.slot_at(p) != left.slot_at(p) ? 1 : 0;
    }
    state.counters["join_moved"] = static_cast<double>(moved_on_join) / size;
    state.counters["join_ideal"] = 1.0 / (servers + 1);
    state.counters["leave_own"] = static_cast<double>(lost) / size;
    state.counters["leave_others_moved"] = static_cast<double>(others_moved_on_leave) / size;
  }
}
BENCHMARK(maglev_churn)->Arg(10)->Arg(100)->Arg(1000)->Unit(benchmark::kMillisecond)->Iterations(1);

}  // namespace
}  // namespace shortline

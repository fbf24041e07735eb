// Placement cost: one batch of 32 requests (begin_batch, 32 picks, end_batch) over 8, 64
// and 512 UP servers with varied in-flight counts, for each policy. items/s = requests
// placed. Run: shortline-bench-placement --benchmark_min_time=0.1
#include <arpa/inet.h>
#include <benchmark/benchmark.h>

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

void place_batch(benchmark::State& state, Policy policy) {
  const auto servers = static_cast<uint32_t>(state.range(0));
  ServerTable table(servers, 1);
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
  const PoolSnapshot* pool = table.enter_batch(0);
  for (auto _ : state) {
    picker.begin_batch(*pool, table);
    for (uint32_t r = 0; r < kBatchSize; ++r) benchmark::DoNotOptimize(picker.pick());
    benchmark::DoNotOptimize(picker.end_batch());
  }
  table.go_offline(0);
  state.SetItemsProcessed(state.iterations() * kBatchSize);
}

BENCHMARK_CAPTURE(place_batch, shortest_queue, Policy::shortest_queue)->Arg(8)->Arg(64)->Arg(512);
BENCHMARK_CAPTURE(place_batch, power_of_two, Policy::power_of_two)->Arg(8)->Arg(64)->Arg(512);
BENCHMARK_CAPTURE(place_batch, round_robin, Policy::round_robin)->Arg(8)->Arg(64)->Arg(512);
BENCHMARK_CAPTURE(place_batch, random, Policy::random)->Arg(8)->Arg(64)->Arg(512);

}  // namespace
}  // namespace shortline

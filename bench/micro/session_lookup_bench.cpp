// Session lookup: hits (random existing keys) and misses (absent keys) in a SessionTable
// filled to capacity with IPv4 keys, at 10 thousand and 1 million sessions. items/s =
// lookups. Run: shortline-bench-sessions --benchmark_min_time=0.1
#include <benchmark/benchmark.h>

#include <map>
#include <memory>
#include <random>
#include <vector>

#include "dataplane/session_table.h"

namespace shortline {
namespace {

constexpr uint32_t kProbeKeys = 1u << 16;  // pre-generated lookups, cycled

// Client n: the address is an odd multiple of n (a bijection on 32 bits), so keys for
// distinct n differ and look unrelated to the hash.
FlowKey client_key(uint32_t n) {
  FlowKey key;
  key.address_low = n * 0x9e3779b1u;
  key.port = static_cast<uint16_t>(1024 + (n & 0x3fffu));
  key.family = AF_INET;
  return key;
}

struct Filled {
  explicit Filled(uint32_t sessions) : table(sessions) {
    for (uint32_t n = 0; n < sessions; ++n) ok = ok && table.insert(client_key(n), n) != kNoSession;
    std::mt19937_64 random(0x5e55);
    hits.reserve(kProbeKeys);
    misses.reserve(kProbeKeys);
    for (uint32_t i = 0; i < kProbeKeys; ++i) {
      hits.push_back(client_key(static_cast<uint32_t>(random() % sessions)));
      misses.push_back(client_key(sessions + i));  // never inserted
    }
  }
  SessionTable table;
  std::vector<FlowKey> hits;
  std::vector<FlowKey> misses;
  bool ok = true;
};

// Built once per size: filling a million sessions would otherwise dominate the run.
Filled& filled(uint32_t sessions) {
  static std::map<uint32_t, std::unique_ptr<Filled>> cache;
  auto& entry = cache[sessions];
  if (!entry) entry = std::make_unique<Filled>(sessions);
  return *entry;
}

void lookup(benchmark::State& state, bool hit) {
  Filled& f = filled(static_cast<uint32_t>(state.range(0)));
  const std::vector<FlowKey>& keys = hit ? f.hits : f.misses;
  if (!f.ok || (f.table.find(keys[0]) != kNoSession) != hit) {
    state.SkipWithError("table not filled as expected");
    return;
  }
  uint32_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(f.table.find(keys[i]));
    i = (i + 1) & (kProbeKeys - 1);
  }
  state.SetItemsProcessed(state.iterations());
}

BENCHMARK_CAPTURE(lookup, hit, true)->Arg(10'000)->Arg(1'000'000);
BENCHMARK_CAPTURE(lookup, miss, false)->Arg(10'000)->Arg(1'000'000);

}  // namespace
}  // namespace shortline

// Maglev table: the canonical order, the two per-server hashes and the weighted fill.
#include "dataplane/maglev_table.h"

#include <algorithm>
#include <cassert>
#include <cstring>
#include <tuple>

namespace shortline {
namespace {

// splitmix64's finaliser: a fixed bijection, the same in every process.
uint64_t mix(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Seeds of the two independent server hashes (offset and step) and of the flow hash.
constexpr uint64_t kOffsetSeed = 0x6d61676c65762d6fULL;  // "maglev-o"
constexpr uint64_t kStepSeed = 0x6d61676c65762d73ULL;    // "maglev-s"
constexpr uint64_t kFlowSeed = 0x6d61676c65762d66ULL;    // "maglev-f"

// An address as three words, family and port in the last: what ordering and hashing read.
struct AddressWords {
  uint64_t high = 0;
  uint64_t low = 0;
  uint64_t family_port = 0;
};

AddressWords words_of(const NetAddress& address) {
  AddressWords words;
  if (address.family() == AF_INET) {
    sockaddr_in v4;
    std::memcpy(&v4, &address.storage, sizeof(v4));
    words.low = v4.sin_addr.s_addr;
  } else if (address.family() == AF_INET6) {
    sockaddr_in6 v6;
    std::memcpy(&v6, &address.storage, sizeof(v6));
    std::memcpy(&words.high, &v6.sin6_addr, 8);
    std::memcpy(&words.low, reinterpret_cast<const char*>(&v6.sin6_addr) + 8, 8);
  }
  words.family_port = uint64_t(static_cast<uint16_t>(address.family())) << 16 | address.port();
  return words;
}

uint64_t address_hash(const NetAddress& address, uint64_t seed) {
  const AddressWords words = words_of(address);
  uint64_t h = mix(seed);
  h = mix(h ^ words.high);
  h = mix(h ^ words.low);
  return mix(h ^ words.family_port);
}

auto order_key(const MaglevBackend& backend) {
  const AddressWords words = words_of(backend.address);
  return std::make_tuple(words.family_port >> 16, words.high, words.low, words.family_port);
}

}  // namespace

uint32_t MaglevTable::size_for(uint32_t max_servers) {
  const uint64_t wanted = uint64_t{max_servers} * kEntriesPerServerMin;
  for (const uint32_t size : kSizes)
    if (size >= wanted) return size;
  return kSizeMax;
}

void MaglevTable::canonical_order(std::vector<MaglevBackend>& backends) {
  std::erase_if(backends, [](const MaglevBackend& b) { return b.weight == 0; });
  std::sort(backends.begin(), backends.end(), [](const MaglevBackend& a, const MaglevBackend& b) {
    return std::tuple_cat(order_key(a), std::make_tuple(a.weight, a.slot)) <
           std::tuple_cat(order_key(b), std::make_tuple(b.weight, b.slot));
  });
}

MaglevTable::MaglevTable(std::vector<MaglevBackend> backends, uint32_t size)
    : size_(size), backends_(std::move(backends)), entries_(std::make_unique<uint32_t[]>(size)) {
  assert(size >= 2);
  canonical_order(backends_);
  std::fill_n(entries_.get(), size_, kNoSlot);
  if (!backends_.empty()) fill();
}

bool MaglevTable::built_from(std::vector<MaglevBackend> backends, uint32_t size) const {
  if (size != size_) return false;
  canonical_order(backends);
  return std::equal(backends.begin(), backends.end(), backends_.begin(), backends_.end(),
                    [](const MaglevBackend& a, const MaglevBackend& b) {
                      return a.address == b.address && a.weight == b.weight && a.slot == b.slot;
                    });
}

// Maglev's fill with Katran's weights: servers take turns in canonical order; each turn
// adds its weight to a credit, and a server whose credit reaches the largest weight spends
// it on one entry: the next free one of its own permutation (offset, offset + step, ...).
// Shares come out proportional to weight, and a server's entries stay where they were when
// another joins or leaves, except the few that the newcomer takes or the leaver frees.
void MaglevTable::fill() {
  const auto count = backends_.size();
  std::vector<uint32_t> position(count);
  std::vector<uint32_t> step(count);
  std::vector<uint64_t> credit(count, 0);
  uint32_t weight_max = 0;
  for (std::size_t i = 0; i < count; ++i) {
    const NetAddress& address = backends_[i].address;
    position[i] = static_cast<uint32_t>(address_hash(address, kOffsetSeed) % size_);
    step[i] = static_cast<uint32_t>(address_hash(address, kStepSeed) % (size_ - 1)) + 1;
    weight_max = std::max(weight_max, backends_[i].weight);
  }
  uint32_t filled = 0;
  for (;;) {
    for (std::size_t i = 0; i < count; ++i) {
      credit[i] += backends_[i].weight;
      if (credit[i] < weight_max) continue;
      credit[i] -= weight_max;
      uint32_t p = position[i];
      while (entries_[p] != kNoSlot) p = p + step[i] >= size_ ? p + step[i] - size_ : p + step[i];
      entries_[p] = backends_[i].slot;
      position[i] = p + step[i] >= size_ ? p + step[i] - size_ : p + step[i];
      if (++filled == size_) return;
    }
  }
}

uint64_t maglev_flow_hash(const FlowKey& client, const LocalAddress& service) {
  uint64_t h = mix(kFlowSeed ^ (uint64_t{client.family} << 16 | client.port));
  h = mix(h ^ client.address_high);
  h = mix(h ^ client.address_low);
  if (service.family == 0) return h;
  uint64_t words[2];
  std::memcpy(words, &service.info.ipi6_addr, sizeof(words));
  return mix(mix(h ^ words[0]) ^ words[1]);
}

}  // namespace shortline

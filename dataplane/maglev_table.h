// A weighted Maglev lookup table (Eisenbud et al., NSDI 2016; Katran's weighted fill is the
// model): every balancer that sees the same serving servers with the same weights builds
// the same table, so a flow's hash picks the same server on each of them without any state
// shared between balancers. Built by the control side (ServerTable) and published with the
// pool snapshot; workers only read it. Nothing here is keyed by slot or registration order.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "dataplane/flow_key.h"
#include "dataplane/net_address.h"

namespace shortline {

struct MaglevBackend {
  NetAddress address;  // what the table is keyed by: the same on every balancer
  uint32_t weight;     // share of the table; 0 = not in it
  uint32_t slot;       // this balancer's server-table slot, what a lookup returns
};

class MaglevTable {
 public:
  // Prime sizes: the permutation step of each server (1 .. size - 1) is then coprime with
  // the size, so every server's preference list visits every entry and the fill always
  // ends. 65537 is Katran's default; larger pools get a larger table so that each server
  // holds at least kEntriesPerServerMin entries (Maglev keeps shares within about 1 % of
  // the ideal from 100 entries per server on), up to kSizeMax (4 MiB per table).
  static constexpr uint32_t kSizes[] = {65537, 131071, 262139, 524287, 1048573};
  static constexpr uint32_t kSizeMax = 1048573;
  static constexpr uint32_t kEntriesPerServerMin = 100;
  static constexpr uint32_t kNoSlot = UINT32_MAX;

  // The table size for a pool of at most max_servers. Balancers in front of one pool must
  // use the same max_servers to build the same table.
  [[nodiscard]] static uint32_t size_for(uint32_t max_servers);
  // The backends in the table's own order (by address), the order every balancer fills in.
  static void canonical_order(std::vector<MaglevBackend>& backends);

  // O(size) for equal weights, O(size x servers x max weight / total weight) in general;
  // for the control side only. Empty (every lookup kNoSlot) when no backend has a weight.
  MaglevTable(std::vector<MaglevBackend> backends, uint32_t size);

  [[nodiscard]] uint32_t size() const { return size_; }
  [[nodiscard]] bool empty() const { return backends_.empty(); }
  // The entry a flow starts at: Lemire's multiply-shift maps the high 32 bits of the hash
  // onto [0, size) without a division per packet.
  [[nodiscard]] uint32_t position_of(uint64_t flow_hash) const {
    return static_cast<uint32_t>(((flow_hash >> 32) * size_) >> 32);
  }
  // The next entry of a flow's preference list (bounded load walks it).
  [[nodiscard]] uint32_t next(uint32_t position) const {
    return position + 1 == size_ ? 0 : position + 1;
  }
  [[nodiscard]] uint32_t slot_at(uint32_t position) const { return entries_[position]; }
  [[nodiscard]] uint32_t lookup(uint64_t flow_hash) const {
    return empty() ? kNoSlot : slot_at(position_of(flow_hash));
  }
  // Whether a rebuild from these backends (any order) would give this table.
  [[nodiscard]] bool built_from(std::vector<MaglevBackend> backends, uint32_t size) const;
  // The backends it was built from, in canonical order.
  [[nodiscard]] const std::vector<MaglevBackend>& backends() const { return backends_; }

 private:
  void fill();

  uint32_t size_;
  std::vector<MaglevBackend> backends_;
  std::unique_ptr<uint32_t[]> entries_;
};

// The flow hash every balancer computes alike: client address and port, plus the service
// address the client sent to when the balancer records it (a wildcard listen serves
// several). Unlike FlowKey::hash it has no per-process seed: the constants are fixed
// (splitmix64's finaliser over the key's words), so every process and every release agrees.
// Words are read in host byte order: balancers on little-endian hosts (x86-64, arm64) agree.
[[nodiscard]] uint64_t maglev_flow_hash(const FlowKey& client, const LocalAddress& service);

}  // namespace shortline

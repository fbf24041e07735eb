// Source flow → replay socket: each recorded source address (ip:port) gets its own local UDP
// socket, so flows stay distinct at the target; FlowSockets owns those sockets.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "dataplane/net_address.h"

namespace shortline::replay {

// Dense flow indices for source addresses. At most flows_max distinct sockets: sources past
// the limit share one (index = hash % flows_max) and are counted in folded_sources().
class FlowMap {
 public:
  FlowMap() : FlowMap(1024) {}
  explicit FlowMap(uint32_t flows_max);

  // The flow index of src, assigning the next free one on first sight.
  [[nodiscard]] uint32_t index_for(const NetAddress& src);
  // Number of sockets needed: min(distinct sources, flows_max).
  [[nodiscard]] uint32_t flow_count() const { return static_cast<uint32_t>(sources_.size()); }
  [[nodiscard]] uint64_t distinct_sources() const { return index_.size(); }
  [[nodiscard]] uint64_t folded_sources() const { return index_.size() - sources_.size(); }
  // The first source address given flow index i.
  [[nodiscard]] const NetAddress& source(uint32_t i) const { return sources_[i]; }
  [[nodiscard]] uint32_t flows_max() const { return flows_max_; }

 private:
  struct Hash {
    size_t operator()(const NetAddress& a) const { return static_cast<size_t>(a.hash()); }
  };
  uint32_t flows_max_;
  std::unordered_map<NetAddress, uint32_t, Hash> index_;
  std::vector<NetAddress> sources_;
};

// One connected UDP socket per flow, all towards the same target. Sockets block on send
// (back-pressure at full speed) and are read with MSG_DONTWAIT.
class FlowSockets {
 public:
  FlowSockets() = default;
  ~FlowSockets();
  FlowSockets(const FlowSockets&) = delete;
  FlowSockets& operator=(const FlowSockets&) = delete;

  // Opens count sockets connected to target. False with a message (errno text) on failure;
  // sockets opened so far are closed.
  [[nodiscard]] bool open(uint32_t count, const NetAddress& target, std::string& error);
  [[nodiscard]] int fd(uint32_t flow) const { return fds_[flow]; }
  [[nodiscard]] uint32_t size() const { return static_cast<uint32_t>(fds_.size()); }
  // The local address the kernel gave flow's socket.
  [[nodiscard]] NetAddress local_address(uint32_t flow) const;
  void close_all();

 private:
  std::vector<int> fds_;
};

// Raises the soft open-file limit towards the hard one so that `needed` more descriptors fit.
// Returns false when even the hard limit is too low.
[[nodiscard]] bool ensure_fd_limit(uint64_t needed);

}  // namespace shortline::replay

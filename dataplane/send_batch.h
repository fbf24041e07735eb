// Collects one loop iteration's sends and issues them together. Datagrams of equal size
// (the last may be shorter) going through one socket to one destination travel as a single
// sendmsg with UDP_SEGMENT (UDP GSO, Linux 4.18): one trip through the socket layer and
// one skb for the run instead of one per datagram. Everything else goes one by one.
// Per-datagram state lives in an array indexed by buffer id; groups come from a fixed pool.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <memory>
#include <span>

#include "dataplane/packet_info.h"
#include "dataplane/user_data.h"
#include "dataplane/worker_io.h"

namespace shortline {

// One datagram to send: header and vector point into this state and into the buffer.
struct SendState {
  msghdr header;
  iovec vector;
  sockaddr_in6 name;             // the destination: the server, or the client for a reply
  alignas(cmsghdr) uint8_t control[kReplySourceControlBytes];  // a reply's source address
  uint32_t session;              // the session it belongs to, for error accounting
  uint32_t session_generation;
  bool to_upstream;              // a request to a server (else a reply to a client)
};

class SendBatch {
 public:
  static constexpr uint32_t kSegmentsMax = 64;        // kernel UDP_MAX_SEGMENTS is >= 64
  static constexpr uint32_t kGroupBytesMax = 60000;   // a GSO send is one IP datagram
  // The kernel refuses a GSO send whose segment does not fit the route's MTU (EINVAL, or
  // EMSGSIZE), where a lone datagram would go out fragmented: larger datagrams are sent
  // one by one. 1452 = a 1500-byte MTU less the IPv6 and UDP headers.
  static constexpr uint32_t kSegmentBytesMax = 1452;

  // states: buffer ids plus spare ids; items_max: sends queued per iteration at most.
  SendBatch(uint32_t states, uint32_t items_max, uint32_t groups_max, bool gso);

  [[nodiscard]] SendState& state(uint32_t index) { return states_[index]; }
  // Queues state `index`; its header (name or none) and vector must be filled. single_kind
  // and group_kind are the completion kinds for a lone send and for a GSO group. False when
  // the batch is full (the send is not queued).
  [[nodiscard]] bool add(uint32_t index, int fd, OpKind single_kind, OpKind group_kind);
  // Issues every queued send. on_unsent(index) runs for a send that could not be queued.
  template <typename OnUnsent>
  void flush(WorkerIo& io, OnUnsent&& on_unsent);
  // The states a completed group covered; release_group() returns the group to the pool.
  [[nodiscard]] std::span<const uint32_t> group_states(uint32_t group) const;
  void release_group(uint32_t group);
  [[nodiscard]] uint32_t queued() const { return item_count_; }

 private:
  struct Item {
    uint32_t state;
    int fd;
    OpKind single_kind;
    OpKind group_kind;
    bool taken;
  };
  struct Group {
    msghdr header;
    iovec vectors[kSegmentsMax];
    alignas(cmsghdr) uint8_t control[CMSG_SPACE(sizeof(uint16_t)) + kReplySourceControlBytes];
    sockaddr_in6 name;
    uint32_t states[kSegmentsMax];
    uint32_t count;
  };

  [[nodiscard]] bool same_destination(const Item& a, const Item& b) const;
  // Gathers item `first` and, with GSO on, later items that can share its sendmsg; returns
  // the count.
  uint32_t gather(uint32_t first, uint32_t* members);
  bool issue_group(WorkerIo& io, const uint32_t* members, uint32_t count);

  std::unique_ptr<SendState[]> states_;
  std::unique_ptr<Item[]> items_;
  uint32_t items_max_;
  uint32_t item_count_ = 0;
  std::unique_ptr<Group[]> groups_;
  std::unique_ptr<uint32_t[]> free_groups_;
  uint32_t free_group_count_ = 0;
  bool gso_;
};

template <typename OnUnsent>
void SendBatch::flush(WorkerIo& io, OnUnsent&& on_unsent) {
  uint32_t members[kSegmentsMax];
  for (uint32_t i = 0; i < item_count_; ++i) {
    if (items_[i].taken) continue;
    const uint32_t count = gather(i, members);
    if (count > 1 && issue_group(io, members, count)) continue;
    for (uint32_t m = 0; m < count; ++m) {
      const Item& item = items_[members[m]];
      if (!io.sendmsg(item.fd, &states_[item.state].header,
                        UserData{item.single_kind, 0, item.state}.encode())) [[unlikely]]
        on_unsent(item.state);
    }
  }
  item_count_ = 0;
}

}  // namespace shortline

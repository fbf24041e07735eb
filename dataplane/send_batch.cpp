// SendBatch: grouping equal-size datagrams per destination into UDP GSO sends.
#include "dataplane/send_batch.h"

#include <netinet/udp.h>

#include <cassert>
#include <cstring>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103  // linux/udp.h; glibc's netinet/udp.h lacks it before 2.36
#endif

namespace shortline {

SendBatch::SendBatch(uint32_t states, uint32_t items_max, uint32_t groups_max, bool gso)
    : states_(std::make_unique<SendState[]>(states)),
      items_(std::make_unique<Item[]>(items_max)),
      items_max_(items_max),
      groups_(std::make_unique<Group[]>(groups_max)),
      free_groups_(std::make_unique<uint32_t[]>(groups_max)),
      gso_(gso) {
  for (uint32_t s = 0; s < states; ++s) {
    SendState& state = states_[s];
    state = SendState{};
    state.header.msg_iov = &state.vector;
    state.header.msg_iovlen = 1;
    state.header.msg_control = state.control;
  }
  for (uint32_t g = 0; g < groups_max; ++g) free_groups_[free_group_count_++] = g;
}

bool SendBatch::add(uint32_t index, int fd, OpKind single_kind, OpKind group_kind) {
  if (item_count_ == items_max_) [[unlikely]]
    return false;  // sized for two sends per completion, so only a bug gets here
  items_[item_count_++] = {index, fd, single_kind, group_kind, false};
  return true;
}

bool SendBatch::same_destination(const Item& a, const Item& b) const {
  if (a.fd != b.fd || a.single_kind != b.single_kind) return false;
  const msghdr& x = states_[a.state].header;
  const msghdr& y = states_[b.state].header;
  if (x.msg_namelen != y.msg_namelen || x.msg_controllen != y.msg_controllen) return false;
  if (x.msg_namelen != 0 &&
      std::memcmp(&states_[a.state].name, &states_[b.state].name, x.msg_namelen) != 0)
    return false;
  // Replies leave from the address their client sent to: one group per source as well.
  return x.msg_controllen == 0 ||
         std::memcmp(states_[a.state].control, states_[b.state].control, x.msg_controllen) == 0;
}

uint32_t SendBatch::gather(uint32_t first, uint32_t* members) {
  Item& lead = items_[first];
  lead.taken = true;
  members[0] = first;
  const std::size_t segment = states_[lead.state].vector.iov_len;
  if (!gso_ || segment == 0 || segment > kSegmentBytesMax) return 1;  // empty: not segmentable
  uint32_t count = 1;
  std::size_t bytes = segment;
  for (uint32_t j = first + 1; j < item_count_ && count < kSegmentsMax; ++j) {
    Item& candidate = items_[j];
    if (candidate.taken || !same_destination(lead, candidate)) continue;
    const std::size_t length = states_[candidate.state].vector.iov_len;
    if (length == 0 || length > segment || bytes + length > kGroupBytesMax) continue;
    candidate.taken = true;
    members[count++] = j;
    bytes += length;
    if (length < segment) break;  // only the last segment may be shorter
  }
  return count;
}

bool SendBatch::issue_group(WorkerIo& io, const uint32_t* members, uint32_t count) {
  if (free_group_count_ == 0) return false;  // pool busy: send them one by one
  const uint32_t g = free_groups_[--free_group_count_];
  Group& group = groups_[g];
  const SendState& lead = states_[items_[members[0]].state];
  group.count = count;
  for (uint32_t m = 0; m < count; ++m) {
    const uint32_t s = items_[members[m]].state;
    group.states[m] = s;
    group.vectors[m] = states_[s].vector;
  }
  group.header = msghdr{};
  if (lead.header.msg_namelen != 0) {
    group.name = lead.name;
    group.header.msg_name = &group.name;
    group.header.msg_namelen = lead.header.msg_namelen;
  }
  group.header.msg_iov = group.vectors;
  group.header.msg_iovlen = count;
  group.header.msg_control = group.control;
  auto* c = reinterpret_cast<cmsghdr*>(group.control);
  c->cmsg_level = SOL_UDP;
  c->cmsg_type = UDP_SEGMENT;
  c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
  const auto segment = static_cast<uint16_t>(lead.vector.iov_len);
  std::memcpy(CMSG_DATA(c), &segment, sizeof(segment));
  const std::size_t source_bytes = lead.header.msg_controllen;
  std::memcpy(group.control + CMSG_SPACE(sizeof(uint16_t)), lead.control, source_bytes);
  group.header.msg_controllen = CMSG_SPACE(sizeof(uint16_t)) + source_bytes;
  if (io.sendmsg(items_[members[0]].fd, &group.header,
                   UserData{items_[members[0]].group_kind, 0, g}.encode()))
    return true;
  free_groups_[free_group_count_++] = g;
  return false;
}

std::span<const uint32_t> SendBatch::group_states(uint32_t group) const {
  return {groups_[group].states, groups_[group].count};
}

void SendBatch::release_group(uint32_t group) { free_groups_[free_group_count_++] = group; }

}  // namespace shortline

// Upstream socket pool: the ready and quarantine lists, the bounded quarantine scan and
// the bounded expiry pass.
#include "dataplane/upstream_pool.h"

#include "dataplane/invariant.h"

namespace shortline {

UpstreamPool::UpstreamPool(uint32_t capacity, uint64_t quarantine_ns)
    : capacity_(capacity),
      quarantine_ns_(quarantine_ns),
      nodes_(std::make_unique<Node[]>(capacity)) {
  SHORTLINE_INVARIANT(capacity <= kCapacityMax);
  for (uint32_t socket = 0; socket < capacity; ++socket) push_tail(ready_, socket);
}

uint32_t UpstreamPool::acquire(uint64_t server, uint64_t now_ns) {
  if (ready_.head != kNoSocket) return lend(ready_, ready_.head);
  uint32_t socket = quarantine_.head;
  for (uint32_t looked = 0; looked < kScanMax && socket != kNoSocket; ++looked) {
    const Node& node = nodes_[socket];
    SHORTLINE_INVARIANT(node.state == State::quarantined);
    // Another server's late reply is told apart by its source address; the same server's
    // is not, so towards it only an expired quarantine will do.
    if (node.server != server || now_ns >= node.until_ns) return lend(quarantine_, socket);
    socket = node.next;
  }
  return kNoSocket;
}

void UpstreamPool::release_clean(uint32_t socket) {
  SHORTLINE_INVARIANT(socket < capacity_);
  SHORTLINE_INVARIANT(nodes_[socket].state == State::busy);
  nodes_[socket].state = State::ready;
  push_tail(ready_, socket);
}

void UpstreamPool::release_late(uint32_t socket, uint64_t server, uint64_t now_ns) {
  SHORTLINE_INVARIANT(socket < capacity_);
  Node& node = nodes_[socket];
  SHORTLINE_INVARIANT(node.state == State::busy);
  node.state = State::quarantined;
  node.server = server;
  // Saturating: a quarantine that would end past the clock's range never ends.
  node.until_ns = now_ns > UINT64_MAX - quarantine_ns_ ? UINT64_MAX : now_ns + quarantine_ns_;
  push_tail(quarantine_, socket);
}

uint32_t UpstreamPool::expire(uint64_t now_ns, uint32_t max_moves) {
  uint32_t moved = 0;
  while (moved < max_moves && quarantine_.head != kNoSocket) {
    const uint32_t socket = quarantine_.head;
    Node& node = nodes_[socket];
    SHORTLINE_INVARIANT(node.state == State::quarantined);
    if (now_ns < node.until_ns) break;
    unlink(quarantine_, socket);
    node.state = State::ready;
    push_tail(ready_, socket);
    ++moved;
  }
  return moved;
}

void UpstreamPool::reclaim(uint32_t socket) {
  SHORTLINE_INVARIANT(socket < capacity_ && nodes_[socket].state != State::busy);
  (void)lend(nodes_[socket].state == State::ready ? ready_ : quarantine_, socket);
}

bool UpstreamPool::busy(uint32_t socket) const {
  SHORTLINE_INVARIANT(socket < capacity_);
  return nodes_[socket].state == State::busy;
}

bool UpstreamPool::quarantined(uint32_t socket) const {
  SHORTLINE_INVARIANT(socket < capacity_);
  return nodes_[socket].state == State::quarantined;
}

uint32_t UpstreamPool::lend(List& list, uint32_t socket) {
  unlink(list, socket);
  nodes_[socket].state = State::busy;
  return socket;
}

void UpstreamPool::push_tail(List& list, uint32_t socket) {
  Node& node = nodes_[socket];
  node.prev = list.tail;
  node.next = kNoSocket;
  if (list.tail != kNoSocket) nodes_[list.tail].next = socket;
  else list.head = socket;
  list.tail = socket;
  ++list.count;
  SHORTLINE_INVARIANT(list.count <= capacity_);
}

void UpstreamPool::unlink(List& list, uint32_t socket) {
  Node& node = nodes_[socket];
  if (node.prev != kNoSocket) nodes_[node.prev].next = node.next;
  else list.head = node.next;
  if (node.next != kNoSocket) nodes_[node.next].prev = node.prev;
  else list.tail = node.prev;
  node.prev = kNoSocket;
  node.next = kNoSocket;
  SHORTLINE_INVARIANT(list.count > 0);
  --list.count;
}

}  // namespace shortline

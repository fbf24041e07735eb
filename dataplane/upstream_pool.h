// A worker's bounded pool of pre-opened, unconnected upstream UDP sockets, by index: which
// are ready, which are lent to a session, and which wait out late replies in quarantine.
// Pure bookkeeping: no descriptors, no clock reads, no allocation after construction.
#pragma once

#include <cstdint>
#include <memory>

namespace shortline {

inline constexpr uint32_t kNoSocket = UINT32_MAX;

// A session borrows a socket (its source port towards the servers) for one exchange. When
// a request on it went unanswered, a reply may still be on its way; the socket then rests
// in quarantine against that server, so that the reply cannot reach the socket's next
// user looking like an answer to it. Towards any other server the socket is safe at once:
// the worker drops a reply whose source is not its session's server.
class UpstreamPool {
 public:
  // All `capacity` sockets start ready. quarantine_ns: how long a socket released late
  // stays unusable towards the server it was released against (0: usable at once).
  UpstreamPool(uint32_t capacity, uint64_t quarantine_ns);

  [[nodiscard]] uint32_t capacity() const { return capacity_; }

  // Takes a socket for a session that will send to `server` (an opaque 64-bit server
  // identity) at now_ns. Ready sockets come first, oldest released first (FIFO, so a port
  // rests as long as the pool allows before reuse). With none ready: the oldest quarantined
  // sockets, scanning at most kScanMax of them, the first whose quarantine is over or is
  // against a different server. kNoSocket if none qualifies. O(1), at most kScanMax looks.
  [[nodiscard]] uint32_t acquire(uint64_t server, uint64_t now_ns);
  // Every expected reply came: the socket goes to the ready list's tail.
  void release_clean(uint32_t socket);
  // A request went unanswered (timed out, evicted): quarantined against `server` until
  // now_ns + quarantine_ns, at the quarantine list's tail.
  void release_late(uint32_t socket, uint64_t server, uint64_t now_ns);
  // Moves at most max_moves sockets whose quarantine has ended to the ready tail (oldest
  // first); returns how many moved. Bounded work per call, by design. It stops at the
  // first socket still in quarantine: with now_ns never going backwards (CLOCK_MONOTONIC)
  // release order is expiry order.
  uint32_t expire(uint64_t now_ns, uint32_t max_moves);

  // Each of these asserts that `socket` < capacity().
  // Takes this very socket off the ready or quarantine list: an evicted session's socket
  // handed straight to the session that needed the room. The caller checked it may serve.
  void reclaim(uint32_t socket);
  [[nodiscard]] bool busy(uint32_t socket) const;
  [[nodiscard]] bool quarantined(uint32_t socket) const;
  [[nodiscard]] uint32_t busy_count() const { return capacity_ - ready_.count - quarantine_.count; }
  [[nodiscard]] uint32_t ready_count() const { return ready_.count; }
  [[nodiscard]] uint32_t quarantined_count() const { return quarantine_.count; }

  // Quarantined sockets acquire() looks at when none is ready: bounds its cost, and a
  // socket further back is reached once those before it expire or are taken.
  static constexpr uint32_t kScanMax = 8;
  static constexpr uint32_t kCapacityMax = 1u << 24;

 private:
  enum class State : uint8_t { ready, busy, quarantined };
  // One node per socket; a socket is on at most one list (none while busy).
  struct Node {
    uint32_t prev = kNoSocket;
    uint32_t next = kNoSocket;
    State state = State::ready;
    uint64_t server = 0;    // quarantined against this server
    uint64_t until_ns = 0;  // ... until this time
  };
  // Both lists in release order: head oldest, tail newest.
  struct List {
    uint32_t head = kNoSocket;
    uint32_t tail = kNoSocket;
    uint32_t count = 0;
  };

  void push_tail(List& list, uint32_t socket);
  void unlink(List& list, uint32_t socket);
  // Unlinks `socket` from `list` and marks it lent.
  uint32_t lend(List& list, uint32_t socket);

  uint32_t capacity_;
  uint64_t quarantine_ns_;
  std::unique_ptr<Node[]> nodes_;
  List ready_;
  List quarantine_;
};

}  // namespace shortline

// A worker's bounded session table: fixed arrays sized at start-up, an open-addressing
// index (linear probing, backward-shift deletion) keyed with a per-process seed so that
// clients cannot choose colliding addresses, a free list, and three intrusive lists in
// request order: LRU (idle expiry), pending (sessions awaiting replies, for request
// timeouts) and unreplied (sessions never answered, from sources never answered: the
// first to go when room is needed). Pure bookkeeping: no sockets, no clocks, no
// allocation after construction.
#pragma once

#include <cstdint>
#include <memory>

#include "dataplane/flow_key.h"

namespace shortline {

inline constexpr uint32_t kNoSession = UINT32_MAX;

struct ListLinks {
  uint32_t prev = kNoSession;
  uint32_t next = kNoSession;
};

struct Session {
  FlowKey key;
  ClientName client;               // where replies go
  LocalAddress local;              // where they leave from (wildcard listens)
  ClientName server;               // the server's address as sent to; replies must come from it
  uint32_t socket = UINT32_MAX;    // the upstream socket (pool index) held while open
  uint32_t source_entry = UINT32_MAX;  // the client address's SourceLimiter entry
  uint32_t server_slot = 0;
  uint32_t server_generation = 0;  // ServerSlot::generation when opened
  uint32_t generation = 0;         // bumped on every reuse; guards stale completions
  uint32_t pending_replies = 0;    // replies still expected
  uint32_t queue_ahead = 0;        // ours in flight at the server when the last request went
  uint64_t sample_sent_ns = 0;     // when the request being timed was sent
  uint32_t sample_queue_ahead = 0; // and its queue_ahead
  bool sample_armed = false;       // the next reply times that request (service estimate)
  uint64_t last_request_ns = 0;    // position in the lists
  uint64_t last_reply_ns = 0;
  ListLinks lru;
  ListLinks pending;
  ListLinks unreplied;
  bool open = false;
  bool in_pending = false;
  bool in_unreplied = false;
  bool replied = false;            // a reply came in this session
  bool timed_out = false;          // a request of it went unanswered: its socket is late
};

class SessionTable {
 public:
  // seed keys the index's hash (a per-process random number in the worker).
  explicit SessionTable(uint32_t capacity, uint64_t seed = 0);

  [[nodiscard]] uint32_t capacity() const { return capacity_; }
  [[nodiscard]] uint32_t size() const { return size_; }
  [[nodiscard]] uint32_t pending_count() const { return pending_count_; }
  [[nodiscard]] bool full() const { return free_head_ == kNoSession; }
  [[nodiscard]] Session& at(uint32_t index) { return sessions_[index]; }
  [[nodiscard]] const Session& at(uint32_t index) const { return sessions_[index]; }

  [[nodiscard]] uint32_t find(const FlowKey& key) const { return find(key, key.hash(seed_)); }
  [[nodiscard]] uint32_t find(const FlowKey& key, uint64_t hash) const;
  // Opens a session for key (which must not be present) at time now_ns; kNoSession if full.
  [[nodiscard]] uint32_t insert(const FlowKey& key, uint64_t now_ns);
  // Closes the session: out of the index and every list, slot freed, generation bumped.
  void erase(uint32_t index);

  // A request at now_ns: newest in the LRU list. last_request_ns orders both lists.
  void touch(uint32_t index, uint64_t now_ns);
  // Activity without a request (a reply): newest in the LRU list, last_request_ns kept.
  void refresh(uint32_t index);
  // The session awaits replies: move it to the newest end of the pending list.
  void mark_pending(uint32_t index);
  void clear_pending(uint32_t index);
  // The session is an eviction candidate (never answered): newest end of the unreplied list.
  void mark_unreplied(uint32_t index);
  void clear_unreplied(uint32_t index);

  [[nodiscard]] uint32_t oldest() const { return lru_.tail; }
  [[nodiscard]] uint32_t oldest_pending() const { return pending_.tail; }
  [[nodiscard]] uint32_t oldest_unreplied() const { return unreplied_.tail; }
  [[nodiscard]] uint32_t unreplied_count() const { return unreplied_count_; }

 private:
  struct Bucket {
    uint32_t session = kNoSession;
    uint32_t hash_tag = 0;
  };
  struct ListEnds {
    uint32_t head = kNoSession;  // newest
    uint32_t tail = kNoSession;  // oldest
  };

  void list_push_head(ListEnds& list, ListLinks Session::*links, uint32_t index);
  void list_remove(ListEnds& list, ListLinks Session::*links, uint32_t index);
  [[nodiscard]] uint32_t bucket_of(uint32_t session_index) const;
  void index_erase(uint32_t bucket);

  uint32_t capacity_;
  uint64_t seed_;
  uint32_t bucket_mask_;
  uint32_t size_ = 0;
  uint32_t pending_count_ = 0;
  uint32_t unreplied_count_ = 0;
  uint32_t free_head_ = kNoSession;
  std::unique_ptr<Session[]> sessions_;
  std::unique_ptr<Bucket[]> buckets_;
  std::unique_ptr<uint32_t[]> free_next_;
  ListEnds lru_;
  ListEnds pending_;
  ListEnds unreplied_;
};

}  // namespace shortline

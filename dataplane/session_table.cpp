// Session table: index probing, deletion, free list and the two request-ordered lists.
#include "dataplane/session_table.h"

#include <bit>
#include <cassert>

namespace shortline {
namespace {

uint32_t tag_of(uint64_t hash) { return static_cast<uint32_t>(hash); }

}  // namespace

SessionTable::SessionTable(uint32_t capacity, uint64_t seed)
    : capacity_(capacity),
      seed_(seed),
      // At most half full: short probe sequences for hits and misses alike.
      bucket_mask_(std::bit_ceil(capacity * 2u) - 1),
      sessions_(std::make_unique<Session[]>(capacity)),
      buckets_(std::make_unique<Bucket[]>(std::size_t{bucket_mask_} + 1)),
      free_next_(std::make_unique<uint32_t[]>(capacity)) {
  assert(capacity > 0 && capacity <= (1u << 30));
  for (uint32_t i = 0; i < capacity; ++i) free_next_[i] = i + 1 < capacity ? i + 1 : kNoSession;
  free_head_ = 0;
}

uint32_t SessionTable::find(const FlowKey& key, uint64_t hash) const {
  const uint32_t tag = tag_of(hash);
  for (uint32_t b = tag & bucket_mask_;; b = (b + 1) & bucket_mask_) {
    const Bucket& bucket = buckets_[b];
    if (bucket.session == kNoSession) return kNoSession;
    if (bucket.hash_tag == tag && sessions_[bucket.session].key == key) return bucket.session;
  }
}

uint32_t SessionTable::insert(const FlowKey& key, uint64_t now_ns) {
  if (free_head_ == kNoSession) return kNoSession;
  const uint32_t index = free_head_;
  free_head_ = free_next_[index];
  const uint64_t hash = key.hash(seed_);
  uint32_t b = tag_of(hash) & bucket_mask_;
  while (buckets_[b].session != kNoSession) b = (b + 1) & bucket_mask_;
  buckets_[b] = {index, tag_of(hash)};

  Session& s = sessions_[index];
  const uint32_t generation = s.generation;
  s = Session{};
  s.generation = generation;
  s.key = key;
  s.open = true;
  s.last_request_ns = now_ns;
  list_push_head(lru_, &Session::lru, index);
  ++size_;
  return index;
}

uint32_t SessionTable::bucket_of(uint32_t session_index) const {
  const uint32_t tag = tag_of(sessions_[session_index].key.hash(seed_));
  for (uint32_t b = tag & bucket_mask_;; b = (b + 1) & bucket_mask_) {
    assert(buckets_[b].session != kNoSession);
    if (buckets_[b].session == session_index) return b;
  }
}

// Backward-shift deletion keeps every probe sequence unbroken without tombstones.
void SessionTable::index_erase(uint32_t hole) {
  for (uint32_t next = (hole + 1) & bucket_mask_;; next = (next + 1) & bucket_mask_) {
    const Bucket moving = buckets_[next];
    if (moving.session == kNoSession) break;
    const uint32_t home = moving.hash_tag & bucket_mask_;
    // Distance from home to next versus home to hole, both along the probe direction.
    const uint32_t to_next = (next - home) & bucket_mask_;
    const uint32_t to_hole = (hole - home) & bucket_mask_;
    if (to_hole < to_next) {
      buckets_[hole] = moving;
      hole = next;
    }
  }
  buckets_[hole] = Bucket{};
}

void SessionTable::erase(uint32_t index) {
  Session& s = sessions_[index];
  assert(s.open);
  index_erase(bucket_of(index));
  list_remove(lru_, &Session::lru, index);
  if (s.in_pending) clear_pending(index);
  if (s.in_unreplied) clear_unreplied(index);
  s.open = false;
  ++s.generation;
  free_next_[index] = free_head_;
  free_head_ = index;
  --size_;
}

void SessionTable::touch(uint32_t index, uint64_t now_ns) {
  Session& s = sessions_[index];
  s.last_request_ns = now_ns;
  if (s.in_unreplied && unreplied_.head != index) {
    list_remove(unreplied_, &Session::unreplied, index);
    list_push_head(unreplied_, &Session::unreplied, index);
  }
  if (lru_.head == index) return;
  list_remove(lru_, &Session::lru, index);
  list_push_head(lru_, &Session::lru, index);
}

void SessionTable::refresh(uint32_t index) {
  if (lru_.head == index) return;
  list_remove(lru_, &Session::lru, index);
  list_push_head(lru_, &Session::lru, index);
}

void SessionTable::mark_unreplied(uint32_t index) {
  Session& s = sessions_[index];
  if (s.in_unreplied) return;
  list_push_head(unreplied_, &Session::unreplied, index);
  s.in_unreplied = true;
  ++unreplied_count_;
}

void SessionTable::clear_unreplied(uint32_t index) {
  Session& s = sessions_[index];
  if (!s.in_unreplied) return;
  list_remove(unreplied_, &Session::unreplied, index);
  s.in_unreplied = false;
  --unreplied_count_;
}

void SessionTable::mark_pending(uint32_t index) {
  Session& s = sessions_[index];
  if (s.in_pending) {
    if (pending_.head == index) return;
    list_remove(pending_, &Session::pending, index);
  }
  else ++pending_count_;
  list_push_head(pending_, &Session::pending, index);
  s.in_pending = true;
}

void SessionTable::clear_pending(uint32_t index) {
  Session& s = sessions_[index];
  if (!s.in_pending) return;
  list_remove(pending_, &Session::pending, index);
  s.in_pending = false;
  --pending_count_;
}

void SessionTable::list_push_head(ListEnds& list, ListLinks Session::*links, uint32_t index) {
  ListLinks& l = sessions_[index].*links;
  l.prev = kNoSession;
  l.next = list.head;
  if (list.head != kNoSession) (sessions_[list.head].*links).prev = index;
  list.head = index;
  if (list.tail == kNoSession) list.tail = index;
}

void SessionTable::list_remove(ListEnds& list, ListLinks Session::*links, uint32_t index) {
  ListLinks& l = sessions_[index].*links;
  if (l.prev != kNoSession) (sessions_[l.prev].*links).next = l.next;
  else list.head = l.next;
  if (l.next != kNoSession) (sessions_[l.next].*links).prev = l.prev;
  else list.tail = l.prev;
  l = ListLinks{};
}

}  // namespace shortline

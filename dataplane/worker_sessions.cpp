// The worker's sessions: placing a batch, opening a session on a pooled upstream socket,
// admission (per-source limits, eviction of never-answered sessions first), the end of an
// exchange, request timeouts and bounded timer passes.
#include <algorithm>
#include <cassert>
#include <cstring>

#include "dataplane/packet_info.h"
#include "dataplane/worker.h"

namespace shortline {
namespace {

uint32_t ceil_div(uint32_t a, uint32_t b) { return (a + b - 1) / b; }

Counter admission_counter(Admission admission) {
  switch (admission) {
    case Admission::source_rate: return Counter::drop_source_rate;
    case Admission::prefix_rate: return Counter::drop_prefix_rate;
    case Admission::source_sessions: return Counter::drop_source_sessions;
    case Admission::table_full: return Counter::drop_source_table_full;
    case Admission::admitted: break;
  }
  std::abort();  // admitted is not a drop
}

// Sessions looked at from the oldest never-answered one for one that may be evicted.
constexpr uint32_t kEvictionScanMax = 8;

}  // namespace

// What a socket is quarantined against: the slot and the server it held then (a slot
// reused for another server is another identity).
uint64_t Worker::server_identity(uint32_t slot, uint32_t generation) {
  return uint64_t{slot} << 32 | generation;
}

uint64_t Worker::server_identity(const Session& session) {
  return server_identity(session.server_slot, session.server_generation);
}

void Worker::place_requests(const PoolSnapshot& pool) {
  if (request_count_ == 0) return;
  picker_.begin_batch(pool, table_);
  for (uint32_t r = 0; r < request_count_; ++r) forward_request(requests_[r], pool);
  (void)picker_.end_batch();
  request_count_ = 0;
}

void Worker::forward_request(const Request& request, const PoolSnapshot& pool) {
  const FlowKey client = FlowKey::from_name(request.name, request.name_length, FlowKey::kAnyServer);
  if (client.family == 0) [[unlikely]] {
    drop_request(request.buffer_id, Counter::drop_bad_source);
    return;
  }
  uint32_t source = kNoSource;
  const Admission admission = limiter_.admit_request(client, now_ns_, &source);
  if (admission != Admission::admitted) [[unlikely]] {
    drop_request(request.buffer_id, admission_counter(admission));
    return;
  }
  const uint32_t index = session_for(request, client, source, pool);
  if (index == kNoSession) return;  // dropped and counted
  send_request(request, index);
  // One-way traffic expects nothing back: in packet affinity the exchange is the send.
  if (responses_ == 0) complete_if_done(index);
}

// The member the picker chose for this request, or nullptr (dropped and counted). The
// flow hash is computed only for the policy that reads it (maglev).
const PoolMember* Worker::pick_member(const Request& request, const FlowKey& client,
                                      const PoolSnapshot& pool) {
  const uint64_t flow_hash = picker_.uses_flow_hash() ? maglev_flow_hash(client, request.local) : 0;
  const int32_t member = picker_.pick(flow_hash);
  if (member == kNoServer) [[unlikely]] {
    drop_request(request.buffer_id, Counter::drop_no_server);
    return nullptr;
  }
  if (picker_.last_pick_bounded_move()) [[unlikely]]
    stats_.add(Counter::flows_bounded_moves);
  if (picker_.failing_open()) [[unlikely]]
    stats_.add(Counter::requests_fail_open);
  return &pool.members[member];
}

// Whether the session's slot still holds the server the session was opened for.
bool Worker::same_server(const Session& session) const {
  return table_.slot(session.server_slot).generation.load(std::memory_order_relaxed) ==
         session.server_generation;
}

// Whether a flow may stay on the server in `slot`: UP, or DRAINING (which takes no new
// flows but finishes its own), or silent while this batch fails open (none is UP). DOWN
// and half-open servers lose their flows at once.
bool Worker::serving(uint32_t slot) const {
  const ServerState state = table_.slot(slot).state.load(std::memory_order_relaxed);
  return state == ServerState::up || state == ServerState::draining ||
         (state == ServerState::silent && picker_.failing_open());
}

// The session's request, once sent, had session.queue_ahead of ours before it there.
uint32_t Worker::session_for(const Request& request, const FlowKey& client, uint32_t source,
                             const PoolSnapshot& pool) {
  if (config_.affinity == Affinity::flow) {
    // Flow: the client's session decides, while its server is still there and serving.
    const uint32_t found = sessions_.find(client);
    if (found != kNoSession) {
      Session& s = sessions_.at(found);
      if (same_server(s) && serving(s.server_slot)) {
        s.queue_ahead = picker_.load_seen_at(s.server_slot);
        return found;
      }
      close_session(found, Counter::sessions_expired);  // its server left: pick again
    }
    const PoolMember* chosen = pick_member(request, client, pool);
    return chosen == nullptr ? kNoSession : open_session(client, *chosen, request, source);
  }
  // Packet: pick first, then reuse the (client, server) session if one is mid-exchange.
  const PoolMember* chosen = pick_member(request, client, pool);
  if (chosen == nullptr) return kNoSession;
  FlowKey key = client;
  key.server_slot = chosen->slot;
  const uint32_t found = sessions_.find(key);
  if (found != kNoSession) {
    if (same_server(sessions_.at(found))) {
      sessions_.at(found).queue_ahead = picker_.last_queue_ahead();
      return found;
    }
    close_session(found, Counter::sessions_expired);
  }
  return open_session(key, *chosen, request, source);
}

uint32_t Worker::open_session(const FlowKey& key, const PoolMember& member, const Request& request,
                              uint32_t source) {
  if (limiter_.admit_session(source, now_ns_) != Admission::admitted) [[unlikely]] {
    drop_request(request.buffer_id, Counter::drop_source_sessions);
    return kNoSession;
  }
  ClientName server;
  Counter refused = Counter::drop_upstream_send;  // an IPv6 server from an IPv4-only pool
  uint32_t socket = kNoSocket;
  const uint32_t generation = table_.slot(member.slot).generation.load(std::memory_order_relaxed);
  if (to_socket_family(member.address.sockaddr_ptr(), member.address.length, upstream_family_,
                       server))
    socket = take_socket(server_identity(member.slot, generation), refused);
  if (socket == kNoSocket) [[unlikely]] {
    limiter_.session_closed(source);
    drop_request(request.buffer_id, refused);
    return kNoSession;
  }
  const uint32_t index = sessions_.insert(key, now_ns_);
  assert(index != kNoSession);
  Session& session = sessions_.at(index);
  session.server = server;
  session.socket = socket;
  session.source_entry = source;
  session.server_slot = member.slot;
  session.server_generation = generation;
  session.queue_ahead = picker_.last_queue_ahead();
  std::memcpy(&session.client.storage, request.name,
              std::min<std::size_t>(request.name_length, sizeof(session.client.storage)));
  session.client.length = request.name_length;
  sessions_.mark_unreplied(index);
  socket_session_[socket] = index;
  stats_.add(Counter::sessions_created);
  return index;
}

// A socket and a table entry for a new session towards `server`. When either is short,
// at most one session is evicted, and only one whose socket can then serve the newcomer.
// kNoSocket (with `refused` naming why) when nothing fits.
uint32_t Worker::take_socket(uint64_t server, Counter& refused) {
  uint32_t socket = pool_.acquire(server, now_ns_);
  if (socket != kNoSocket && !sessions_.full()) return socket;
  refused = socket == kNoSocket ? Counter::drop_upstream_socket : Counter::drop_session_table_full;
  const uint32_t victim = eviction_candidate(socket == kNoSocket ? server : kAnyServerIdentity);
  if (victim == kNoSession) {
    if (socket != kNoSocket) pool_.release_clean(socket);  // unused: straight back
    return kNoSocket;
  }
  const uint32_t freed = sessions_.at(victim).socket;
  close_session(victim, Counter::sessions_evicted);
  if (socket == kNoSocket) {
    pool_.reclaim(freed);  // may serve `server`: eviction_candidate checked
    socket = freed;
  }
  return socket;
}

// Whether closing the session would give back a socket usable towards `server` at once:
// released clean, or quarantined against another server.
bool Worker::frees_socket_for(const Session& session, uint64_t server) const {
  if (server == kAnyServerIdentity) return true;
  const bool late = session.pending_replies != 0 || session.timed_out;
  return !late || server_identity(session) != server ||
         config_.late_reply_quarantine_ms == 0;
}

// The session to evict for room: the oldest never-answered one whose source was never
// answered either (a flood of one-shot sources), else the least recently used flow
// session with nothing in flight; in both cases one whose socket can serve `server`
// (kAnyServerIdentity: only the table entry is needed). kNoSession when none qualifies.
uint32_t Worker::eviction_candidate(uint64_t server) const {
  uint32_t i = sessions_.oldest_unreplied();
  for (uint32_t looked = 0; i != kNoSession && looked < kEvictionScanMax; ++looked) {
    const Session& s = sessions_.at(i);
    if (!limiter_.answered(s.source_entry) && frees_socket_for(s, server)) return i;
    i = s.unreplied.prev;
  }
  const uint32_t oldest = sessions_.oldest();
  if (oldest != kNoSession && sessions_.at(oldest).pending_replies == 0 &&
      frees_socket_for(sessions_.at(oldest), server))
    return oldest;
  return kNoSession;
}

// Ends a session: its requests stop counting as in flight, its socket goes back to the
// pool (quarantined against its server if a reply may still come) and its source's
// session count drops.
void Worker::close_session(uint32_t index, Counter reason) {
  Session& session = sessions_.at(index);
  const bool late = session.pending_replies != 0 || session.timed_out;
  if (session.pending_replies != 0) abandon_requests(session, index);
  socket_session_[session.socket] = kNoSession;
  if (late) pool_.release_late(session.socket, server_identity(session), now_ns_);
  else pool_.release_clean(session.socket);
  limiter_.session_closed(session.source_entry);
  sessions_.erase(index);
  stats_.add(reason);
}

// The session closes with requests unanswered (evicted, its server left, drain ended).
void Worker::abandon_requests(Session& session, uint32_t index) {
  if (responses_ != 0) {
    const uint32_t requests = ceil_div(session.pending_replies, responses_);
    deltas_.add_in_flight(session.server_slot, -static_cast<int64_t>(requests));
  }
  session.pending_replies = 0;
  session.sample_armed = false;
  sessions_.clear_pending(index);
}

void Worker::time_out_requests(uint32_t index) {
  Session& session = sessions_.at(index);
  if (session.pending_replies == 0 || responses_ == 0) return;
  const uint32_t requests = ceil_div(session.pending_replies, responses_);
  deltas_.add_in_flight(session.server_slot, -static_cast<int64_t>(requests));
  deltas_.add_timeouts(session.server_slot, requests);
  stats_.add(Counter::requests_timed_out, requests);
  session.pending_replies = 0;
  session.sample_armed = false;  // a timeout says nothing about speed
  session.timed_out = true;
  sessions_.clear_pending(index);
}

void Worker::reply_arrived(uint32_t index) {
  Session& session = sessions_.at(index);
  session.last_reply_ns = now_ns_;
  if (config_.affinity == Affinity::flow) sessions_.refresh(index);  // replies keep it alive
  if (!session.replied) {
    session.replied = true;
    sessions_.clear_unreplied(index);
    limiter_.mark_answered(session.source_entry);
  }
  if (session.pending_replies == 0) {
    stats_.add(Counter::replies_unexpected);
    return;
  }
  learn_service_time(session);
  record_reply_latency(session);
  const uint32_t before = ceil_div(session.pending_replies, responses_);
  --session.pending_replies;
  if (ceil_div(session.pending_replies, responses_) < before)
    deltas_.add_in_flight(session.server_slot, -1);
  deltas_.add_reply(session.server_slot);
  if (session.pending_replies == 0) sessions_.clear_pending(index);
}

// A request sent while its session has nothing else in flight is timed: the next reply
// is its own (the server answers in order). Whether to time a request is settled when it
// is sent, never by what happens after: skipping a reply because another request followed
// it would skip the slow ones (more time for a follower) and bias the estimate low.
void Worker::arm_service_sample(Session& session) const {
  if (session.pending_replies != 0) return;
  session.sample_armed = true;
  session.sample_sent_ns = now_ns_;
  session.sample_queue_ahead = session.queue_ahead;
}

void Worker::learn_service_time(Session& session) {
  if (!session.sample_armed) return;
  session.sample_armed = false;
  if (now_ns_ < session.sample_sent_ns) return;
  estimates_.add(session.server_slot, session.server_generation,
                 now_ns_ - session.sample_sent_ns, session.sample_queue_ahead, now_ns_);
}

// Every expected reply, timed from the session's last request (in packet affinity with
// one exchange per session, its own request): one bucket and a sum in this worker's row.
void Worker::record_reply_latency(const Session& session) {
  if (now_ns_ < session.last_request_ns) [[unlikely]] return;
  table_.reply_latency().record(id_, session.server_slot, session.server_generation,
                                now_ns_ - session.last_request_ns);
}

// Packet affinity: a session whose expected replies are all in (nothing in flight) is done
// at once, and its socket is ready for the next client. Flow sessions live until idle.
void Worker::complete_if_done(uint32_t index) {
  const Session& session = sessions_.at(index);
  if (config_.affinity != Affinity::packet || !session.open || session.pending_replies != 0)
    return;
  close_session(index, Counter::sessions_completed);
}

// At most timer_work_max sessions are closed per pass; the rest wait for the next loop
// iteration, so one pass never stalls the batch.
void Worker::run_timers(uint64_t now_ns) {
  uint32_t budget = config_.timer_work_max;
  budget -= expire_timed_out(now_ns, budget);
  if (config_.affinity == Affinity::flow) {
    budget -= expire_unreplied(now_ns, budget);
    budget -= expire_idle(now_ns, budget);
  }
  budget -= std::min(budget, pool_.expire(now_ns, budget));
  next_timer_ns_ = budget == 0 ? now_ns : now_ns + timer_interval_ns_;
}

uint32_t Worker::expire_timed_out(uint64_t now_ns, uint32_t budget) {
  uint32_t done = 0;
  for (uint32_t i = sessions_.oldest_pending(); i != kNoSession && done < budget;
       i = sessions_.oldest_pending(), ++done) {
    if (now_ns - sessions_.at(i).last_request_ns < request_timeout_ns_) break;
    time_out_requests(i);
    // Packet affinity: the exchange is over, unanswered. Flow sessions wait for idle.
    if (config_.affinity == Affinity::packet) close_session(i, Counter::sessions_expired);
  }
  return done;
}

uint32_t Worker::expire_unreplied(uint64_t now_ns, uint32_t budget) {
  uint32_t done = 0;
  for (uint32_t i = sessions_.oldest_unreplied(); i != kNoSession && done < budget;
       i = sessions_.oldest_unreplied(), ++done) {
    if (now_ns - sessions_.at(i).last_request_ns < unreplied_timeout_ns_) break;
    close_session(i, Counter::sessions_expired);
  }
  return done;
}

uint32_t Worker::expire_idle(uint64_t now_ns, uint32_t budget) {
  uint32_t done = 0;
  for (uint32_t i = sessions_.oldest(); i != kNoSession && done < budget;
       i = sessions_.oldest(), ++done) {
    // The LRU list is in order of last activity, requests and replies alike.
    const Session& s = sessions_.at(i);
    if (now_ns - std::max(s.last_request_ns, s.last_reply_ns) < idle_timeout_ns_) break;
    close_session(i, Counter::sessions_expired);
  }
  return done;
}

void Worker::close_all_sessions() {
  for (uint32_t i = sessions_.oldest(); i != kNoSession; i = sessions_.oldest()) {
    if (sessions_.at(i).pending_replies != 0) time_out_requests(i);
    close_session(i, Counter::sessions_expired);
  }
}

}  // namespace shortline

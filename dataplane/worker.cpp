// The worker loop and its per-packet handlers. Error paths bump one named counter each.
#include "dataplane/worker.h"

#include <liburing.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cstring>

#include "dataplane/monotonic_clock.h"
#include "dataplane/user_data.h"

namespace shortline {
namespace {

constexpr uint16_t kBufferGroup = 1;
// Room reserved for the client's address in a received buffer; 32 rather than
// sizeof(sockaddr_in6) keeps the control message after it 8-byte aligned.
constexpr uint32_t kNameBytes = 32;
constexpr uint32_t kControlBytes = CMSG_SPACE(sizeof(uint32_t));  // SO_RXQ_OVFL
constexpr uint32_t kHeaderBytes = sizeof(io_uring_recvmsg_out) + kNameBytes + kControlBytes;

uint32_t buffer_bytes(uint32_t max_datagram_bytes) {
  // The payload area holds max_datagram_bytes: a larger datagram arrives with MSG_TRUNC.
  // An upstream reply lands at offset 0 and so may use the whole buffer; a reply longer
  // than max_datagram_bytes is recognised by its length.
  const uint32_t bytes = kHeaderBytes + max_datagram_bytes;
  return (bytes + 63u) & ~63u;
}

uint32_t ceil_div(uint32_t a, uint32_t b) { return (a + b - 1) / b; }

}  // namespace

Worker::Worker(uint32_t id, const DataplaneConfig& config, ServerTable& table, WorkerStats& stats)
    : id_(id),
      config_(config),
      table_(table),
      stats_(stats),
      sessions_(std::max<uint32_t>(1, config.max_sessions / std::max<uint32_t>(1, config.workers))),
      picker_(config.policy, config.max_servers, id * 7919u + 1, config.responses_per_request == 0),
      deltas_(config.max_servers),
      timer_interval_ns_(std::clamp<uint64_t>(
          std::min(config.request_timeout_ms, config.session_idle_timeout_ms) * 250'000ULL,
          1'000'000ULL, 100'000'000ULL)),
      request_timeout_ns_(config.request_timeout_ms * 1'000'000ULL),
      idle_timeout_ns_(config.session_idle_timeout_ms * 1'000'000ULL),
      responses_(config.responses_per_request),
      completions_(std::make_unique<Completion[]>(config.batch_size_max)),
      requests_(std::make_unique<Request[]>(config.batch_size_max)),
      sends_(config.buffers_per_worker + kEmptyReplySlots, config.batch_size_max * 2,
             std::max<uint32_t>(64, config.buffers_per_worker / 4), config.udp_gso),
      empty_free_(std::make_unique<uint32_t[]>(kEmptyReplySlots)),
      rearm_(std::make_unique<Rearm[]>(sessions_.capacity())) {}

Worker::~Worker() { close_all_sessions(); }

std::error_code Worker::init(int listen_fd) {
  listen_fd_ = listen_fd;
  // One send and one re-arm per completion at most, plus cancels and slack.
  const uint32_t sq_entries = std::bit_ceil(std::max<uint32_t>(64, config_.batch_size_max * 4));
  if (auto ec = ring_.init(sq_entries)) return ec;
  if (auto ec = buffers_.init(ring_, kBufferGroup, config_.buffers_per_worker,
                              buffer_bytes(config_.max_datagram_bytes)))
    return ec;
  listen_header_.msg_namelen = kNameBytes;
  listen_header_.msg_controllen = kControlBytes;
  for (uint32_t e = 0; e < kEmptyReplySlots; ++e)
    empty_free_[empty_free_count_++] = config_.buffers_per_worker + e;
  arm_listen();
  ring_.submit();
  return {};
}

void Worker::arm_listen() {
  listen_armed_ = ring_.recvmsg_multishot(listen_fd_, &listen_header_, kBufferGroup,
                                          UserData{OpKind::listen_receive, 0, 0}.encode());
}

void Worker::run(const RunControl& control) {
  for (;;) {
    now_ns_ = monotonic_ns();
    const PoolSnapshot* pool = table_.enter_batch(id_);
    // Timers first: a session they close has no send queued in this iteration.
    if (now_ns_ >= next_timer_ns_) run_timers(now_ns_);
    const uint32_t reaped = ring_.reap(completions_.get(), config_.batch_size_max);
    for (uint32_t c = 0; c < reaped; ++c) handle_completion(completions_[c]);
    place_requests(*pool);
    flush_sends();
    deltas_.publish(table_);
    if (control.stop_receiving.load(std::memory_order_relaxed) && listen_wanted_) {
      listen_wanted_ = false;  // drain: no new requests, replies still flow
      ring_.cancel(UserData{OpKind::listen_receive, 0, 0}.encode(),
                   UserData{OpKind::cancel, 0, 0}.encode());
    }
    if (!listen_wanted_ &&
        (drained() || now_ns_ >= control.drain_deadline_ns.load(std::memory_order_relaxed)))
      break;
    buffers_.commit();
    rearm_receives();
    stats_.sessions_open.store(sessions_.size(), std::memory_order_relaxed);
    stats_.sessions_pending.store(sessions_.pending_count(), std::memory_order_relaxed);
    if (reaped == 0) ring_.submit_and_wait(timer_interval_ns_);
    else ring_.submit();
  }
  finish_sends();
  close_all_sessions();
  deltas_.publish(table_);
  stats_.sessions_open.store(0, std::memory_order_relaxed);
  stats_.sessions_pending.store(0, std::memory_order_relaxed);
  table_.go_offline(id_);
}

bool Worker::drained() const { return sessions_.pending_count() == 0; }

// The last replies of a drain were queued in the final iteration: send them and wait
// (briefly, bounded) for their completions so that no buffer is freed under the kernel.
void Worker::finish_sends() {
  const uint64_t deadline_ns = monotonic_ns() + kFinalSendWaitNs;
  ring_.submit();
  while (sends_in_flight_ > 0 && monotonic_ns() < deadline_ns) {
    ring_.submit_and_wait(1'000'000);
    const uint32_t reaped = ring_.reap(completions_.get(), config_.batch_size_max);
    for (uint32_t c = 0; c < reaped; ++c) {
      const OpKind kind = UserData::decode(completions_[c].user_data).kind;
      if (kind != OpKind::listen_receive && kind != OpKind::upstream_receive)
        handle_completion(completions_[c]);
      else if (completions_[c].has_buffer())
        buffers_.recycle(completions_[c].buffer_id());
    }
  }
}

void Worker::handle_completion(const Completion& completion) {
  switch (UserData::decode(completion.user_data).kind) {
    case OpKind::listen_receive: on_listen_receive(completion); break;
    case OpKind::upstream_receive: on_upstream_receive(completion); break;
    case OpKind::upstream_send: on_send_done(completion, true, false); break;
    case OpKind::client_send: on_send_done(completion, false, false); break;
    case OpKind::upstream_send_group: on_send_done(completion, true, true); break;
    case OpKind::client_send_group: on_send_done(completion, false, true); break;
    case OpKind::cancel: break;
  }
}

void Worker::on_listen_receive(const Completion& completion) {
  if (!completion.more()) {
    listen_armed_ = false;
    if (listen_wanted_) stats_.add(Counter::receive_rearmed);
  }
  if (completion.result < 0 || !completion.has_buffer()) return;  // ENOBUFS: re-armed below
  const uint16_t bid = completion.buffer_id();
  auto* out = io_uring_recvmsg_validate(buffers_.buffer(bid), completion.result, &listen_header_);
  stats_.add(Counter::requests_received);
  if (out == nullptr) [[unlikely]] {
    drop_request(bid, Counter::drop_datagram_oversize);
    return;
  }
  note_kernel_drops(out);
  const uint32_t length = io_uring_recvmsg_payload_length(out, completion.result, &listen_header_);
  // The buffer is rounded up, so a datagram slightly over the limit fits without MSG_TRUNC.
  if ((out->flags & MSG_TRUNC) != 0 || length > config_.max_datagram_bytes) [[unlikely]] {
    drop_request(bid, Counter::drop_datagram_oversize);
    return;
  }
  assert(request_count_ < config_.batch_size_max);
  requests_[request_count_++] = {
      bid,
      length,
      static_cast<const uint8_t*>(io_uring_recvmsg_payload(out, &listen_header_)),
      static_cast<const sockaddr*>(io_uring_recvmsg_name(out)),
      static_cast<socklen_t>(std::min<uint32_t>(out->namelen, kNameBytes))};
}

void Worker::note_kernel_drops(io_uring_recvmsg_out* out) {
  for (cmsghdr* c = io_uring_recvmsg_cmsg_firsthdr(out, &listen_header_); c != nullptr;
       c = io_uring_recvmsg_cmsg_nexthdr(out, &listen_header_, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL) {
      uint32_t dropped = 0;
      std::memcpy(&dropped, CMSG_DATA(c), sizeof(dropped));
      stats_.set(Counter::drop_kernel_receive_queue, dropped);  // the kernel's running total
    }
  }
}

void Worker::drop_request(uint16_t buffer_id, Counter reason) {
  stats_.add(reason);
  buffers_.recycle(buffer_id);
}

void Worker::place_requests(const PoolSnapshot& pool) {
  if (request_count_ == 0) return;
  picker_.begin_batch(pool, table_);
  for (uint32_t r = 0; r < request_count_; ++r) forward_request(requests_[r], pool, now_ns_);
  (void)picker_.end_batch();
  request_count_ = 0;
}

void Worker::forward_request(const Request& request, const PoolSnapshot& pool, uint64_t now_ns) {
  const uint32_t index = session_for(request, pool, now_ns);
  if (index == kNoSession) return;  // dropped and counted
  Session& session = sessions_.at(index);
  sessions_.touch(index, now_ns);
  SendState& state = sends_.state(request.buffer_id);
  state.header.msg_name = nullptr;  // connected socket
  state.header.msg_namelen = 0;
  state.vector.iov_base = const_cast<uint8_t*>(request.payload);
  state.vector.iov_len = request.length;
  state.session = index;
  state.session_generation = session.generation;
  stats_.add(Counter::requests_forwarded);
  deltas_.add_request(session.server_slot);
  if (responses_ != 0) {
    session.pending_replies += responses_;
    deltas_.add_in_flight(session.server_slot, 1);
    sessions_.mark_pending(index);
  }
  ++sends_in_flight_;
  // A failed send undoes the accounting above, as a failed completion would.
  if (!sends_.add(request.buffer_id, session.upstream_fd, OpKind::upstream_send,
                  OpKind::upstream_send_group)) [[unlikely]]
    send_finished(request.buffer_id, -ENOBUFS, true);
}

// The member the picker chose for this request, or nullptr (dropped and counted).
const PoolMember* Worker::pick_member(const Request& request, const PoolSnapshot& pool) {
  const int32_t member = picker_.pick();
  if (member == kNoServer) [[unlikely]] {
    drop_request(request.buffer_id, Counter::drop_no_server);
    return nullptr;
  }
  return &pool.members[member];
}

// Whether the session's slot still holds the server the session was opened for.
bool Worker::same_server(const Session& session) const {
  return table_.slot(session.server_slot).generation.load(std::memory_order_relaxed) ==
         session.server_generation;
}

uint32_t Worker::session_for(const Request& request, const PoolSnapshot& pool, uint64_t now_ns) {
  if (config_.affinity == Affinity::flow) {
    // Flow: the client's session decides, while its server is still there and not DOWN.
    const FlowKey key = FlowKey::from_name(request.name, request.name_length, FlowKey::kAnyServer);
    const uint32_t found = sessions_.find(key);
    if (found != kNoSession) {
      const Session& s = sessions_.at(found);
      if (same_server(s) &&
          table_.slot(s.server_slot).state.load(std::memory_order_relaxed) != ServerState::down)
        return found;
      close_session(found, Counter::sessions_expired);  // its server left: pick again
    }
    const PoolMember* chosen = pick_member(request, pool);
    return chosen == nullptr ? kNoSession : open_session(key, *chosen, request, now_ns);
  }
  // Packet: pick first, then reuse the (client, server) session.
  const PoolMember* chosen = pick_member(request, pool);
  if (chosen == nullptr) return kNoSession;
  const FlowKey key = FlowKey::from_name(request.name, request.name_length, chosen->slot);
  const uint32_t found = sessions_.find(key);
  if (found != kNoSession) {
    if (same_server(sessions_.at(found))) return found;
    close_session(found, Counter::sessions_expired);
  }
  return open_session(key, *chosen, request, now_ns);
}

uint32_t Worker::open_session(const FlowKey& key, const PoolMember& member, const Request& request,
                              uint64_t now_ns) {
  if (key.family == 0) [[unlikely]] {
    drop_request(request.buffer_id, Counter::drop_upstream_socket);
    return kNoSession;
  }
  if (sessions_.full() && !make_room()) [[unlikely]] {
    drop_request(request.buffer_id, Counter::drop_session_table_full);
    return kNoSession;
  }
  // Session set-up is the one place that makes syscalls: once per new flow, not per packet.
  const int fd = socket(member.address.family(), SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || connect(fd, member.address.sockaddr_ptr(), member.address.length) != 0)
      [[unlikely]] {
    if (fd >= 0) close(fd);
    drop_request(request.buffer_id, Counter::drop_upstream_socket);
    return kNoSession;
  }
  const uint32_t index = sessions_.insert(key, now_ns);
  assert(index != kNoSession);
  Session& session = sessions_.at(index);
  session.upstream_fd = fd;
  session.server_slot = member.slot;
  session.server_generation = table_.slot(member.slot).generation.load(std::memory_order_relaxed);
  std::memcpy(&session.client.storage, request.name,
              std::min<std::size_t>(request.name_length, sizeof(session.client.storage)));
  session.client.length = request.name_length;
  ring_.recv_multishot(fd, kBufferGroup,
                       UserData{OpKind::upstream_receive, session.generation, index}.encode());
  stats_.add(Counter::sessions_created);
  return index;
}

// The table is full: evict the least recently used session if it awaits no reply.
bool Worker::make_room() {
  const uint32_t oldest = sessions_.oldest();
  if (oldest == kNoSession || sessions_.at(oldest).pending_replies != 0) return false;
  close_session(oldest, Counter::sessions_evicted);
  return true;
}

void Worker::close_session(uint32_t index, Counter reason) {
  Session& session = sessions_.at(index);
  if (session.pending_replies != 0) time_out_requests(index);
  // Cancel the multishot receive first: the ring holds its own reference to the socket,
  // so closing the fd now is safe, and a late completion is recognised by generation.
  ring_.cancel(UserData{OpKind::upstream_receive, session.generation, index}.encode(),
               UserData{OpKind::cancel, 0, 0}.encode());
  close(session.upstream_fd);
  sessions_.erase(index);
  stats_.add(reason);
}

void Worker::time_out_requests(uint32_t index) {
  Session& session = sessions_.at(index);
  if (session.pending_replies == 0 || responses_ == 0) return;
  const uint32_t requests = ceil_div(session.pending_replies, responses_);
  deltas_.add_in_flight(session.server_slot, -static_cast<int64_t>(requests));
  deltas_.add_timeouts(session.server_slot, requests);
  stats_.add(Counter::requests_timed_out, requests);
  session.pending_replies = 0;
  sessions_.clear_pending(index);
}

void Worker::on_upstream_receive(const Completion& completion) {
  const UserData data = UserData::decode(completion.user_data);
  const bool current = data.index < sessions_.capacity() && sessions_.at(data.index).open &&
                       UserData::same_generation(sessions_.at(data.index).generation,
                                                 data.generation);
  if (!current) {  // the session closed after this datagram arrived
    if (completion.has_buffer()) drop_request(completion.buffer_id(), Counter::drop_reply_no_session);
    return;
  }
  Session& session = sessions_.at(data.index);
  if (!completion.more()) rearm_[rearm_count_++] = {data.index, session.generation};
  if (completion.result < 0) {
    if (completion.result == -ECONNREFUSED) {
      stats_.add(Counter::upstream_refused);
      table_.slot(session.server_slot).passive_errors.fetch_add(1, std::memory_order_relaxed);
    }
    return;  // ENOBUFS and the rest: the receive is re-armed after buffers return
  }
  if (!completion.has_buffer()) {
    // A zero-length datagram ends a multishot recv with result 0 and no buffer (the
    // kernel reads it as end of stream); for UDP it is a real, empty reply.
    if (completion.result == 0) forward_empty_reply(data.index);
    return;
  }
  const uint16_t bid = completion.buffer_id();
  stats_.add(Counter::replies_received);
  if (static_cast<uint32_t>(completion.result) > config_.max_datagram_bytes) [[unlikely]] {
    drop_request(bid, Counter::drop_datagram_oversize);
    return;
  }
  reply_arrived(data.index);
  send_reply(bid, data.index, buffers_.buffer(bid), static_cast<uint32_t>(completion.result));
}

void Worker::forward_empty_reply(uint32_t session_index) {
  stats_.add(Counter::replies_received);
  if (empty_free_count_ == 0) [[unlikely]] {
    stats_.add(Counter::drop_client_send);
    return;
  }
  reply_arrived(session_index);
  send_reply(empty_free_[--empty_free_count_], session_index, nullptr, 0);
}

// state_index is a buffer id, or an index past the buffers for an empty reply.
void Worker::send_reply(uint32_t state_index, uint32_t session_index, void* data,
                        uint32_t length) {
  const Session& session = sessions_.at(session_index);
  SendState& state = sends_.state(state_index);
  std::memcpy(&state.name, &session.client.storage, sizeof(state.name));
  state.header.msg_name = &state.name;
  state.header.msg_namelen = session.client.length;
  state.vector.iov_base = data;
  state.vector.iov_len = length;
  state.session = session_index;
  state.session_generation = session.generation;
  ++sends_in_flight_;
  if (!sends_.add(state_index, listen_fd_, OpKind::client_send, OpKind::client_send_group))
      [[unlikely]]
    send_finished(state_index, -ENOBUFS, false);
}

void Worker::flush_sends() {
  // A send that found no submission slot fails like one the kernel refused.
  sends_.flush(ring_, [this](uint32_t state_index) {
    send_finished(state_index, -EAGAIN, sends_.state(state_index).header.msg_namelen == 0);
  });
}

void Worker::release_send_state(uint32_t state_index) {
  if (state_index < config_.buffers_per_worker) buffers_.recycle(static_cast<uint16_t>(state_index));
  else empty_free_[empty_free_count_++] = state_index;
}

void Worker::reply_arrived(uint32_t index) {
  Session& session = sessions_.at(index);
  session.last_reply_ns = now_ns_;
  if (session.pending_replies == 0) {
    stats_.add(Counter::replies_unexpected);
    return;
  }
  const uint32_t before = ceil_div(session.pending_replies, responses_);
  --session.pending_replies;
  if (ceil_div(session.pending_replies, responses_) < before)
    deltas_.add_in_flight(session.server_slot, -1);
  deltas_.add_reply(session.server_slot);
  if (session.pending_replies == 0) sessions_.clear_pending(index);
}

void Worker::on_send_done(const Completion& completion, bool to_upstream, bool group) {
  const uint32_t index = UserData::decode(completion.user_data).index;
  if (!group) {
    send_finished(index, completion.result, to_upstream);
    return;
  }
  for (const uint32_t state_index : sends_.group_states(index))
    send_finished(state_index, completion.result, to_upstream);
  sends_.release_group(index);
}

void Worker::send_finished(uint32_t state_index, int32_t result, bool to_upstream) {
  --sends_in_flight_;
  release_send_state(state_index);
  if (result >= 0) [[likely]] {
    if (!to_upstream) stats_.add(Counter::replies_forwarded);
    return;
  }
  if (!to_upstream) {
    stats_.add(Counter::drop_client_send);
    return;
  }
  stats_.add(Counter::drop_upstream_send);
  const SendState& state = sends_.state(state_index);
  if (state.session >= sessions_.capacity()) return;
  Session& session = sessions_.at(state.session);
  if (!session.open || session.generation != state.session_generation) return;
  if (result == -ECONNREFUSED) {
    stats_.add(Counter::upstream_refused);
    table_.slot(session.server_slot).passive_errors.fetch_add(1, std::memory_order_relaxed);
  }
  // No reply can come for a request that never left: stop counting it as in flight.
  if (responses_ != 0 && session.pending_replies >= responses_) {
    session.pending_replies -= responses_;
    deltas_.add_in_flight(session.server_slot, -1);
    if (session.pending_replies == 0) sessions_.clear_pending(state.session);
  }
}

void Worker::run_timers(uint64_t now_ns) {
  next_timer_ns_ = now_ns + timer_interval_ns_;
  for (uint32_t i = sessions_.oldest_pending(); i != kNoSession; i = sessions_.oldest_pending()) {
    if (now_ns - sessions_.at(i).last_request_ns < request_timeout_ns_) break;
    time_out_requests(i);
  }
  for (uint32_t i = sessions_.oldest(); i != kNoSession; i = sessions_.oldest()) {
    const Session& s = sessions_.at(i);
    if (now_ns - s.last_request_ns < idle_timeout_ns_) break;
    if (now_ns - s.last_reply_ns < idle_timeout_ns_) {
      sessions_.touch(i, s.last_reply_ns);  // replies still flow: keep it, ordered by them
      if (sessions_.oldest() == i) break;
      continue;
    }
    close_session(i, Counter::sessions_expired);
  }
}

void Worker::rearm_receives() {
  for (uint32_t r = 0; r < rearm_count_; ++r) {
    const uint32_t index = rearm_[r].session;
    Session& session = sessions_.at(index);
    if (!session.open || session.generation != rearm_[r].generation) continue;
    stats_.add(Counter::receive_rearmed);
    ring_.recv_multishot(session.upstream_fd, kBufferGroup,
                         UserData{OpKind::upstream_receive, session.generation, index}.encode());
  }
  rearm_count_ = 0;
  if (listen_wanted_ && !listen_armed_) arm_listen();
}

void Worker::close_all_sessions() {
  for (uint32_t i = sessions_.oldest(); i != kNoSession; i = sessions_.oldest()) {
    close(sessions_.at(i).upstream_fd);
    if (sessions_.at(i).pending_replies != 0) time_out_requests(i);
    sessions_.erase(i);
  }
}

}  // namespace shortline

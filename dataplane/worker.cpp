// The worker loop and its I/O handlers: receives from clients and servers, sends, re-arms.
// Error paths bump one named counter each. Session logic is in worker_sessions.cpp.
#include "dataplane/worker.h"

#include <liburing.h>
#include <sys/random.h>

#include <algorithm>
#include <bit>
#include <cassert>
#include <cstring>

#include "dataplane/dataplane_limits.h"
#include "dataplane/invariant.h"
#include "dataplane/monotonic_clock.h"
#include "dataplane/packet_info.h"
#include "dataplane/uring.h"
#include "dataplane/user_data.h"

namespace shortline {
namespace {

// Room reserved for a datagram's source address in a received buffer; 32 rather than
// sizeof(sockaddr_in6) keeps the control messages after it 8-byte aligned.
constexpr uint32_t kNameBytes = 32;
// SO_RXQ_OVFL's drop count and the destination address (IP_PKTINFO / IPV6_PKTINFO).
constexpr uint32_t kListenControlBytes =
    (CMSG_SPACE(sizeof(uint32_t)) + kReplySourceControlBytes + 7u) & ~7u;
constexpr uint32_t kListenHeaderBytes =
    sizeof(io_uring_recvmsg_out) + kNameBytes + kListenControlBytes;

uint32_t buffer_bytes(uint32_t max_datagram_bytes) {
  // The payload area holds max_datagram_bytes: a larger datagram arrives with MSG_TRUNC.
  // Replies from servers carry no control messages, so their payload area is larger; a
  // reply longer than max_datagram_bytes is recognised by its length.
  const uint32_t bytes = kListenHeaderBytes + max_datagram_bytes;
  return (bytes + 63u) & ~63u;
}

uint64_t random_seed() {
  uint64_t seed = 0;
  if (getrandom(&seed, sizeof(seed), 0) != sizeof(seed)) seed = monotonic_ns();
  return seed;
}

SourceLimits source_limits(const LiveSettings& config, WorkerCapacity capacity) {
  SourceLimits limits;
  limits.requests_per_s = config.source_requests_per_s;
  limits.requests_burst = config.source_requests_burst;
  limits.sessions_per_s = config.source_sessions_per_s;
  limits.prefix_requests_per_s = config.prefix_requests_per_s;
  // A quarter of the table by default: one source address cannot take it all.
  limits.sessions_max = config.source_sessions_max != 0
                            ? config.source_sessions_max
                            : std::max(16u, capacity.sessions / 4);
  return limits;
}

uint64_t timer_interval_ns(const LiveSettings& config, uint32_t late_reply_quarantine_ms) {
  const uint64_t shortest_ms = std::min({config.request_timeout_ms, config.session_idle_timeout_ms,
                                         config.session_unreplied_timeout_ms,
                                         std::max(1u, late_reply_quarantine_ms)});
  return std::clamp<uint64_t>(shortest_ms * 250'000ULL, 1'000'000ULL, 100'000'000ULL);
}

}  // namespace

Worker::Worker(uint32_t id, const DataplaneConfig& config, WorkerCapacity capacity,
               ServerTable& table, WorkerStats& stats, std::unique_ptr<WorkerIo> io)
    : id_(id),
      config_(config),
      capacity_(capacity),
      table_(table),
      stats_(stats),
      io_(io ? std::move(io) : std::make_unique<KernelIo>()),
      sessions_(capacity.sessions, random_seed()),
      pool_(capacity.sockets, config.late_reply_quarantine_ms * 1'000'000ULL),
      // Four entries a session: every open session pins its source's entry, and an 8-way
      // set whose ways are all pinned refuses a new source (drop_source_table_full).
      limiter_(source_limits(live_settings_of(config), capacity), capacity.sessions * 4,
               random_seed()),
      picker_(config.policy, config.max_servers, id * 7919u + 1, config.responses_per_request == 0),
      deltas_(config.max_servers),
      estimates_(config.max_servers),
      socket_fds_(std::make_unique<int[]>(capacity.sockets)),
      socket_session_(std::make_unique<uint32_t[]>(capacity.sockets)),
      reply_from_local_(config.listen.is_wildcard()),
      timer_interval_ns_(timer_interval_ns(live_settings_of(config), config.late_reply_quarantine_ms)),
      request_timeout_ns_(config.request_timeout_ms * 1'000'000ULL),
      idle_timeout_ns_(config.session_idle_timeout_ms * 1'000'000ULL),
      unreplied_timeout_ns_(config.session_unreplied_timeout_ms * 1'000'000ULL),
      responses_(config.responses_per_request),
      completions_(std::make_unique<Completion[]>(config.batch_size_max)),
      requests_(std::make_unique<Request[]>(config.batch_size_max)),
      sends_(config.buffers_per_worker, derived_capacities(config).sends_per_iteration,
             derived_capacities(config).send_groups, config.udp_gso),
      rearm_(std::make_unique<uint32_t[]>(capacity.sockets)) {
  assert(capacity.sockets > 0 && capacity.sessions > 0 && capacity.sessions <= capacity.sockets);
  std::fill_n(socket_fds_.get(), capacity.sockets, -1);
  picker_.set_load_bound(config.maglev_load_bound);
  picker_.set_peer_balancers(config.peer_balancers);
  picker_.set_fail_open(config.fail_open);
  std::fill_n(socket_session_.get(), capacity.sockets, kNoSession);
}

Worker::~Worker() {
  close_all_sessions();
  for (uint32_t s = 0; s < capacity_.sockets; ++s)
    if (socket_fds_[s] >= 0) io_->close_socket(socket_fds_[s]);
}

std::string Worker::init(int listen_fd) {
  listen_fd_ = listen_fd;
  const DerivedCapacities derived = derived_capacities(config_);
  if (const int rc = io_->init(derived.submission_entries, derived.completion_entries,
                               config_.buffers_per_worker, buffer_bytes(config_.max_datagram_bytes));
      rc != 0)
    return "io_uring set-up: " + std::system_category().message(rc);
  listen_header_.msg_namelen = kNameBytes;
  listen_header_.msg_controllen = kListenControlBytes;
  upstream_header_.msg_namelen = kNameBytes;
  if (auto error = open_upstream_sockets(); !error.empty()) return error;
  arm_listen();
  for (uint32_t s = 0; s < capacity_.sockets; ++s)
    if (!arm_upstream(s)) return "arming the receive of upstream socket " + std::to_string(s + 1);
  io_->submit();
  return "";
}

// Every upstream socket is opened here, once: the batch path never opens or closes one.
std::string Worker::open_upstream_sockets() {
  for (uint32_t s = 0; s < capacity_.sockets; ++s) {
    int fd = io_->open_upstream_socket(upstream_family_);
    if (fd == -EAFNOSUPPORT && s == 0) {  // IPv6 disabled: an IPv4-only pool
      upstream_family_ = AF_INET;
      fd = io_->open_upstream_socket(upstream_family_);
    }
    if (fd < 0)
      return "opening upstream socket " + std::to_string(s + 1) + " of " +
             std::to_string(capacity_.sockets) + ": " + std::system_category().message(-fd);
    socket_fds_[s] = fd;
  }
  return "";
}

void Worker::arm_listen() {
  listen_armed_ =
      io_->recvmsg_multishot(listen_fd_, &listen_header_, UserData{OpKind::listen_receive, 0, 0}.encode());
}

bool Worker::arm_upstream(uint32_t socket) {
  return io_->recvmsg_multishot(socket_fds_[socket], &upstream_header_,
                                UserData{OpKind::upstream_receive, 0, socket}.encode());
}

void Worker::run(const RunControl& control) {
  while (iterate(control, monotonic_ns())) {
  }
  finish();
}

bool Worker::iterate(const RunControl& control, uint64_t now_ns) {
  now_ns_ = now_ns;
  const PoolSnapshot* pool = table_.enter_batch(id_);
  if (pool->settings_version != settings_version_) [[unlikely]] apply_settings(*pool);
  // Timers first: a session they close has no send queued in this iteration.
  if (now_ns_ >= next_timer_ns_) run_timers(now_ns_);
  const uint32_t reaped = io_->reap(completions_.get(), config_.batch_size_max);
  for (uint32_t c = 0; c < reaped; ++c) handle_completion(completions_[c]);
  if (batch_datagrams_ != 0) {
    stats_.add_batch(batch_datagrams_);
    batch_datagrams_ = 0;
  }
  // The replies just reaped leave the in-flight counts before the batch is placed: the
  // picker reads the table, and a count still holding them overstates every busy queue.
  deltas_.publish(table_);
  place_requests(*pool);
  flush_sends();
  deltas_.publish(table_);
  estimates_.publish(table_, id_);
  // Drain: no new requests, replies still flow. A cancel that found no submission slot is
  // tried again next iteration.
  if (control.stop_receiving.load(std::memory_order_relaxed) && listen_wanted_)
    listen_wanted_ = !io_->cancel(UserData{OpKind::listen_receive, 0, 0}.encode(),
                                  UserData{OpKind::cancel, 0, 0}.encode());
  // Until its final completion the multishot receive may still take datagrams off the
  // listen socket; in a takeover the successor reads the same socket and can answer only
  // what is left in its queue, so every datagram taken here must be answered here.
  const bool quiet = drained() && !listen_armed_;
  if (!listen_wanted_ &&
      (quiet || now_ns_ >= control.drain_deadline_ns.load(std::memory_order_relaxed)))
    return false;
  io_->commit_buffers();
  rearm_receives();
  publish_gauges();
  if (reaped == 0) io_->submit_and_wait(timer_interval_ns_);
  else io_->submit();
  return true;
}

// A reload's settings, between batches: nothing in flight depends on the old values
// except the timeouts, which the next timer pass measures against the new ones.
void Worker::apply_settings(const PoolSnapshot& pool) {
  settings_version_ = pool.settings_version;
  const LiveSettings& s = pool.settings;
  picker_.set_policy(s.policy);
  picker_.set_load_bound(s.maglev_load_bound);
  picker_.set_peer_balancers(s.peer_balancers);
  picker_.set_fail_open(s.fail_open);
  limiter_.set_limits(source_limits(s, capacity_));
  request_timeout_ns_ = s.request_timeout_ms * 1'000'000ULL;
  idle_timeout_ns_ = s.session_idle_timeout_ms * 1'000'000ULL;
  unreplied_timeout_ns_ = s.session_unreplied_timeout_ms * 1'000'000ULL;
  timer_interval_ns_ = timer_interval_ns(s, config_.late_reply_quarantine_ms);
  next_timer_ns_ = std::min(next_timer_ns_, now_ns_ + timer_interval_ns_);
}

void Worker::finish() {
  finish_sends();
  close_all_sessions();
  deltas_.publish(table_);
  publish_gauges();
  table_.go_offline(id_);
}

void Worker::publish_gauges() {
  stats_.sessions_open.store(sessions_.size(), std::memory_order_relaxed);
  stats_.sessions_pending.store(sessions_.pending_count(), std::memory_order_relaxed);
  stats_.sockets_busy.store(pool_.busy_count(), std::memory_order_relaxed);
  stats_.sockets_quarantined.store(pool_.quarantined_count(), std::memory_order_relaxed);
}

bool Worker::drained() const { return sessions_.pending_count() == 0; }

// The last replies of a drain were queued in the final iteration: send them and wait
// (briefly, bounded) for their completions so that no buffer is freed under the kernel.
void Worker::finish_sends() {
  const uint64_t deadline_ns = monotonic_ns() + kFinalSendWaitNs;
  io_->submit();
  while (sends_in_flight_ > 0 && monotonic_ns() < deadline_ns) {
    io_->submit_and_wait(1'000'000);
    const uint32_t reaped = io_->reap(completions_.get(), config_.batch_size_max);
    for (uint32_t c = 0; c < reaped; ++c) {
      const OpKind kind = UserData::decode(completions_[c].user_data).kind;
      if (kind != OpKind::listen_receive && kind != OpKind::upstream_receive)
        handle_completion(completions_[c]);
      else if (completions_[c].has_buffer())
        io_->recycle(completions_[c].buffer_id());
    }
  }
}

void Worker::handle_completion(const Completion& completion) {
  switch (UserData::decode(completion.user_data).kind) {
    case OpKind::listen_receive: on_listen_receive(completion); break;
    case OpKind::upstream_receive: on_upstream_receive(completion); break;
    case OpKind::upstream_send:
    case OpKind::client_send: on_send_done(completion, false); break;
    case OpKind::upstream_send_group:
    case OpKind::client_send_group: on_send_done(completion, true); break;
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
  auto* out = io_uring_recvmsg_validate(io_->buffer(bid), completion.result, &listen_header_);
  stats_.add(Counter::requests_received);
  ++batch_datagrams_;
  if (out == nullptr) [[unlikely]] {
    drop_request(bid, Counter::drop_datagram_oversize);
    return;
  }
  LocalAddress local;
  read_request_controls(out, local);
  const uint32_t length = io_uring_recvmsg_payload_length(out, completion.result, &listen_header_);
  // The buffer is rounded up, so a datagram slightly over the limit fits without MSG_TRUNC.
  if ((out->flags & MSG_TRUNC) != 0 || length > config_.max_datagram_bytes) [[unlikely]] {
    drop_request(bid, Counter::drop_datagram_oversize);
    return;
  }
  SHORTLINE_INVARIANT(request_count_ < config_.batch_size_max);  // reap is bounded by it
  requests_[request_count_++] = {
      bid,
      length,
      static_cast<const uint8_t*>(io_uring_recvmsg_payload(out, &listen_header_)),
      static_cast<const sockaddr*>(io_uring_recvmsg_name(out)),
      static_cast<socklen_t>(std::min<uint32_t>(out->namelen, kNameBytes)),
      local};
}

// SO_RXQ_OVFL carries the kernel's running count of datagrams dropped on this socket;
// IP_PKTINFO / IPV6_PKTINFO the address the client sent to.
void Worker::read_request_controls(io_uring_recvmsg_out* out, LocalAddress& local) {
  for (cmsghdr* c = io_uring_recvmsg_cmsg_firsthdr(out, &listen_header_); c != nullptr;
       c = io_uring_recvmsg_cmsg_nexthdr(out, &listen_header_, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL) {
      uint32_t dropped = 0;
      std::memcpy(&dropped, CMSG_DATA(c), sizeof(dropped));
      stats_.set(Counter::drop_kernel_receive_queue, dropped);
    } else if (reply_from_local_) {
      (void)read_local_address(*c, local);
    }
  }
}

void Worker::drop_request(uint16_t buffer_id, Counter reason) {
  stats_.add(reason);
  io_->recycle(buffer_id);
}

void Worker::on_upstream_receive(const Completion& completion) {
  const uint32_t socket = UserData::decode(completion.user_data).index;
  SHORTLINE_INVARIANT(socket < capacity_.sockets);  // only the worker arms these
  if (!completion.more()) rearm_[rearm_count_++] = socket;
  if (completion.result < 0) {
    on_upstream_error(socket, completion.result);
    return;  // ENOBUFS and the rest: the receive is re-armed after buffers return
  }
  if (!completion.has_buffer()) return;
  const uint16_t bid = completion.buffer_id();
  stats_.add(Counter::replies_received);
  ++batch_datagrams_;
  auto* out = io_uring_recvmsg_validate(io_->buffer(bid), completion.result, &upstream_header_);
  if (out == nullptr) [[unlikely]] {
    drop_request(bid, Counter::drop_datagram_oversize);
    return;
  }
  const uint32_t length = io_uring_recvmsg_payload_length(out, completion.result, &upstream_header_);
  if ((out->flags & MSG_TRUNC) != 0 || length > config_.max_datagram_bytes) [[unlikely]] {
    drop_request(bid, Counter::drop_datagram_oversize);
    return;
  }
  const uint32_t index = socket_session_[socket];
  if (index == kNoSession) {  // the exchange ended (or timed out) before this came
    drop_request(bid, Counter::drop_reply_no_session);
    return;
  }
  const auto* source = static_cast<const sockaddr*>(io_uring_recvmsg_name(out));
  if (!same_endpoint(source, std::min<uint32_t>(out->namelen, kNameBytes),
                     sessions_.at(index).server)) {
    drop_request(bid, Counter::drop_reply_wrong_source);  // e.g. a late reply from a past user's server
    return;
  }
  reply_arrived(index);
  send_reply(bid, index, io_uring_recvmsg_payload(out, &upstream_header_), length);
  complete_if_done(index);
}

void Worker::on_upstream_error(uint32_t socket, int32_t result) {
  if (result != -ECONNREFUSED) return;
  // IP_RECVERR queued the ICMP error too; reading it keeps the socket's buffer free.
  io_->drain_error_queue(socket_fds_[socket]);
  stats_.add(Counter::upstream_refused);
  const uint32_t index = socket_session_[socket];
  if (index == kNoSession) return;
  table_.slot(sessions_.at(index).server_slot)
      .passive_errors.fetch_add(1, std::memory_order_relaxed);
}

void Worker::send_request(const Request& request, uint32_t session_index) {
  Session& session = sessions_.at(session_index);
  sessions_.touch(session_index, now_ns_);
  if (reply_from_local_) session.local = request.local;
  SendState& state = sends_.state(request.buffer_id);
  std::memcpy(&state.name, &session.server.storage, sizeof(state.name));
  state.header.msg_name = &state.name;
  state.header.msg_namelen = session.server.length;
  state.header.msg_controllen = 0;
  state.vector.iov_base = const_cast<uint8_t*>(request.payload);
  state.vector.iov_len = request.length;
  state.session = session_index;
  state.session_generation = session.generation;
  state.to_upstream = true;
  stats_.add(Counter::requests_forwarded);
  deltas_.add_request(session.server_slot);
  if (responses_ != 0) {
    arm_service_sample(session);
    session.pending_replies += responses_;
    deltas_.add_in_flight(session.server_slot, 1);
    sessions_.mark_pending(session_index);
  }
  ++sends_in_flight_;
  // A failed send undoes the accounting above, as a failed completion would.
  if (!sends_.add(request.buffer_id, socket_fds_[session.socket], OpKind::upstream_send,
                  OpKind::upstream_send_group)) [[unlikely]]
    send_finished(request.buffer_id, -ENOBUFS);
}

void Worker::send_reply(uint16_t buffer_id, uint32_t session_index, const void* data,
                        uint32_t length) {
  const Session& session = sessions_.at(session_index);
  SendState& state = sends_.state(buffer_id);
  std::memcpy(&state.name, &session.client.storage, sizeof(state.name));
  state.header.msg_name = &state.name;
  state.header.msg_namelen = session.client.length;
  state.header.msg_controllen = reply_from_local_ ? write_reply_source(session.local, state.control) : 0;
  state.vector.iov_base = const_cast<void*>(data);
  state.vector.iov_len = length;
  state.session = session_index;
  state.session_generation = session.generation;
  state.to_upstream = false;
  ++sends_in_flight_;
  if (!sends_.add(buffer_id, listen_fd_, OpKind::client_send, OpKind::client_send_group))
      [[unlikely]]
    send_finished(buffer_id, -ENOBUFS);
}

void Worker::flush_sends() {
  // A send that found no submission slot fails like one the kernel refused.
  sends_.flush(*io_, [this](uint32_t state_index) { send_finished(state_index, -EAGAIN); });
}

void Worker::on_send_done(const Completion& completion, bool group) {
  const uint32_t index = UserData::decode(completion.user_data).index;
  if (!group) {
    send_finished(index, completion.result);
    return;
  }
  bool first = true;
  for (const uint32_t state_index : sends_.group_states(index)) {
    send_finished(state_index, completion.result, first);
    first = false;
  }
  sends_.release_group(index);
}

void Worker::send_finished(uint32_t state_index, int32_t result, bool blame) {
  --sends_in_flight_;
  io_->recycle(static_cast<uint16_t>(state_index));
  const SendState& state = sends_.state(state_index);
  if (result >= 0) [[likely]] {
    if (!state.to_upstream) stats_.add(Counter::replies_forwarded);
    return;
  }
  if (!state.to_upstream) {
    stats_.add(Counter::drop_client_send);
    return;
  }
  stats_.add(Counter::drop_upstream_send);
  undo_unsent_request(state, result, blame);
}

// No reply can come for a request that never left: stop counting it as in flight.
void Worker::undo_unsent_request(const SendState& state, int32_t result, bool blame) {
  if (state.session >= sessions_.capacity()) return;
  Session& session = sessions_.at(state.session);
  if (!session.open || session.generation != state.session_generation) return;
  if (result == -ECONNREFUSED && blame) {
    stats_.add(Counter::upstream_refused);
    table_.slot(session.server_slot).passive_errors.fetch_add(1, std::memory_order_relaxed);
  }
  if (responses_ != 0 && session.pending_replies >= responses_) {
    session.pending_replies -= responses_;
    deltas_.add_in_flight(session.server_slot, -1);
    if (session.pending_replies == 0) {
      sessions_.clear_pending(state.session);
      session.sample_armed = false;  // the timed request may be this one
    }
  }
  complete_if_done(state.session);
}

void Worker::rearm_receives() {
  // One that finds no submission slot stays on the list for the next iteration.
  uint32_t kept = 0;
  for (uint32_t r = 0; r < rearm_count_; ++r) {
    if (arm_upstream(rearm_[r])) stats_.add(Counter::receive_rearmed);
    else rearm_[kept++] = rearm_[r];
  }
  rearm_count_ = kept;
  if (listen_wanted_ && !listen_armed_) arm_listen();
}

}  // namespace shortline

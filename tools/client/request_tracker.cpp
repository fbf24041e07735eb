// Request ring and timer heap of the client.
#include "tools/client/request_tracker.h"

#include <cassert>

namespace shortline::tools {

namespace {
bool unfinished_state(RequestState state) {
  return state == RequestState::in_flight || state == RequestState::awaiting_retry;
}
}  // namespace

RequestTracker::RequestTracker(uint32_t capacity) {
  uint64_t size = 1;
  while (size < capacity) size *= 2;
  ring_.resize(size);
  mask_ = size - 1;
  std::vector<TimerEvent> storage;
  storage.reserve(2 * size);  // one live timer per request plus stale ones awaiting pop
  timers_ = decltype(timers_)(Later{}, std::move(storage));
}

bool RequestTracker::can_start(uint64_t request_id) const {
  return !unfinished_state(ring_[request_id & mask_].state);
}

void RequestTracker::start(uint64_t request_id, uint64_t now_ns, uint64_t timeout_ns) {
  assert(can_start(request_id));
  slot(request_id) = TrackedRequest{request_id, now_ns, 1, RequestState::in_flight};
  ++unfinished_;
  timers_.push({now_ns + timeout_ns, request_id, 1, TimerEvent::Kind::timeout});
}

void RequestTracker::schedule_retry(uint64_t request_id, uint64_t at_ns) {
  TrackedRequest& request = slot(request_id);
  assert(request.request_id == request_id && request.state == RequestState::in_flight);
  request.state = RequestState::awaiting_retry;
  timers_.push({at_ns, request_id, request.attempts, TimerEvent::Kind::resend});
}

void RequestTracker::resend(uint64_t request_id, uint64_t now_ns, uint64_t timeout_ns) {
  TrackedRequest& request = slot(request_id);
  assert(request.request_id == request_id && request.state == RequestState::awaiting_retry);
  request.state = RequestState::in_flight;
  ++request.attempts;
  timers_.push({now_ns + timeout_ns, request_id, request.attempts, TimerEvent::Kind::timeout});
}

void RequestTracker::fail(uint64_t request_id) {
  TrackedRequest& request = slot(request_id);
  assert(request.request_id == request_id && unfinished_state(request.state));
  request.state = RequestState::failed;
  --unfinished_;
}

ReplyOutcome RequestTracker::on_reply(uint64_t request_id, uint64_t now_ns,
                                      uint64_t& latency_ns) {
  TrackedRequest& request = slot(request_id);
  if (request.request_id != request_id || request.state == RequestState::free ||
      request.state == RequestState::failed) {
    return ReplyOutcome::late;  // forgotten (ring moved on), never sent, or given up
  }
  if (request.state == RequestState::answered) return ReplyOutcome::duplicate;
  request.state = RequestState::answered;
  --unfinished_;
  latency_ns = now_ns >= request.first_send_ns ? now_ns - request.first_send_ns : 0;
  return ReplyOutcome::answered;
}

bool RequestTracker::applies(const TimerEvent& event) const {
  const TrackedRequest& request = ring_[event.request_id & mask_];
  if (request.request_id != event.request_id || request.attempts != event.attempt) return false;
  return event.kind == TimerEvent::Kind::timeout ? request.state == RequestState::in_flight
                                                 : request.state == RequestState::awaiting_retry;
}

std::optional<TimerEvent> RequestTracker::pop_due(uint64_t now_ns) {
  while (!timers_.empty() && timers_.top().at_ns <= now_ns) {
    const TimerEvent event = timers_.top();
    timers_.pop();
    if (applies(event)) return event;
  }
  return std::nullopt;
}

std::optional<uint64_t> RequestTracker::next_timer_ns() const {
  if (timers_.empty()) return std::nullopt;
  return timers_.top().at_ns;
}

const TrackedRequest* RequestTracker::find(uint64_t request_id) const {
  const TrackedRequest& request = ring_[request_id & mask_];
  return request.request_id == request_id && request.state != RequestState::free ? &request
                                                                                  : nullptr;
}

uint64_t RequestTracker::fail_all_unfinished() {
  uint64_t failed = 0;
  for (auto& request : ring_) {
    if (!unfinished_state(request.state)) continue;
    request.state = RequestState::failed;
    ++failed;
  }
  unfinished_ = 0;
  while (!timers_.empty()) timers_.pop();
  return failed;
}

}  // namespace shortline::tools

// Outstanding requests of the client, in a ring of fixed capacity indexed by request id,
// and the timers (attempt timeouts and scheduled retries) in one min-heap reserved at start.
// A reply is matched by request id: the first reply to any attempt answers the request,
// later ones are duplicates, replies for finished or forgotten requests are late.
#pragma once

#include <cstdint>
#include <optional>
#include <queue>
#include <vector>

namespace shortline::tools {

enum class RequestState : uint8_t { free, in_flight, awaiting_retry, answered, failed };
enum class ReplyOutcome : uint8_t { answered, duplicate, late };

struct TrackedRequest {
  uint64_t request_id = 0;
  uint64_t first_send_ns = 0;
  uint32_t attempts = 0;
  RequestState state = RequestState::free;
};

struct TimerEvent {
  enum class Kind : uint8_t { timeout, resend };
  uint64_t at_ns = 0;
  uint64_t request_id = 0;
  uint32_t attempt = 0;  // the attempt the timer belongs to; stale once attempts moved on
  Kind kind = Kind::timeout;
};

class RequestTracker {
 public:
  // `capacity` (rounded up to a power of two) bounds the requests unfinished at once.
  explicit RequestTracker(uint32_t capacity);

  // Whether `request_id` can start: its ring slot holds no unfinished request.
  [[nodiscard]] bool can_start(uint64_t request_id) const;
  void start(uint64_t request_id, uint64_t now_ns, uint64_t timeout_ns);
  // The attempt timed out; its retry goes out at `at_ns` (the reply may still come first).
  void schedule_retry(uint64_t request_id, uint64_t at_ns);
  void resend(uint64_t request_id, uint64_t now_ns, uint64_t timeout_ns);
  void fail(uint64_t request_id);
  // Matches a reply; sets `latency_ns` (from the first attempt) when answered.
  ReplyOutcome on_reply(uint64_t request_id, uint64_t now_ns, uint64_t& latency_ns);

  // The next timer due at or before `now_ns` that still applies; stale ones are dropped.
  [[nodiscard]] std::optional<TimerEvent> pop_due(uint64_t now_ns);
  // When the earliest timer fires (it may turn out stale), if any.
  [[nodiscard]] std::optional<uint64_t> next_timer_ns() const;

  [[nodiscard]] const TrackedRequest* find(uint64_t request_id) const;
  [[nodiscard]] uint64_t unfinished() const { return unfinished_; }
  [[nodiscard]] uint32_t capacity() const { return static_cast<uint32_t>(ring_.size()); }
  // Request ids still unfinished (for the final count when a run is cut short).
  [[nodiscard]] uint64_t fail_all_unfinished();

 private:
  struct Later {
    bool operator()(const TimerEvent& a, const TimerEvent& b) const { return a.at_ns > b.at_ns; }
  };
  TrackedRequest& slot(uint64_t request_id) { return ring_[request_id & mask_]; }
  [[nodiscard]] bool applies(const TimerEvent& event) const;

  std::vector<TrackedRequest> ring_;
  uint64_t mask_;
  uint64_t unfinished_ = 0;
  std::priority_queue<TimerEvent, std::vector<TimerEvent>, Later> timers_;
};

}  // namespace shortline::tools

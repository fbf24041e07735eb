// The ADD window: see add_coalescer.h.
#include "control/controller/add_coalescer.h"

#include <algorithm>

namespace shortline::controller {

std::optional<wire::ScaleReply> AddCoalescer::recent(const ServerPool& pool, int64_t now_ms,
                                                     std::string_view sender) const {
  if (!last_ || window_ms_ == 0 || now_ms - last_ms_ >= window_ms_) return std::nullopt;
  if (sender == last_sender_) return std::nullopt;  // the same balancer's next decision
  const auto& members = pool.members();
  const auto member = std::find_if(members.begin(), members.end(), [this](const PoolMember& m) {
    return m.id == last_->server_id;
  });
  // Crashed, removed or stopping: it will not take the load, so a new ADD is a new decision.
  if (member == members.end() || member->state != MemberState::running) return std::nullopt;
  return last_;
}

void AddCoalescer::acted(const wire::ScaleReply& reply, int64_t now_ms,
                         std::string_view sender) {
  last_ = reply;
  last_ms_ = now_ms;
  last_sender_ = sender;
}

}  // namespace shortline::controller

// One scaling decision for several balancers. Each balancer in front of the pool sees the
// same queues and asks for a server at about the same moment; the controller must start
// one, not one per balancer. An ADD that arrives while the server started by the last ADD
// is still starting (younger than the window, load_balancer.scale_cooldown_ms) is answered
// with that server's reply, result ok, and starts nothing: the asker learns of the server
// from its reports like every other balancer. An ADD from the balancer whose ADD started
// that server is never coalesced: it has had its answer, so asking again is a new decision.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "control/controller/server_pool.h"
#include "control/wire/messages.h"

namespace shortline::controller {

class AddCoalescer {
 public:
  // window_ms 0 turns coalescing off (every ADD is acted on).
  explicit AddCoalescer(uint32_t window_ms) : window_ms_(window_ms) {}

  // The reply an ADD gets instead of a new server: the last ADD's, while its server is in
  // the pool, not stopping, and started less than window_ms ago. Sequence left to the caller.
  [[nodiscard]] std::optional<wire::ScaleReply> recent(const ServerPool& pool, int64_t now_ms,
                                                       std::string_view sender) const;
  // Remembers an ADD from `sender` that started a server.
  void acted(const wire::ScaleReply& reply, int64_t now_ms, std::string_view sender);

 private:
  uint32_t window_ms_;
  std::optional<wire::ScaleReply> last_;
  std::string last_sender_;
  int64_t last_ms_ = 0;
};

}  // namespace shortline::controller

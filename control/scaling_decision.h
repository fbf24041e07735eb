// The scaling decision as a pure function: (time, per-server loads, config, recent
// history) -> ADD, REMOVE(id) or nothing, plus the history to pass in next time. Built
// from the seed's rule (add when a queue passes 0.9 x server_scaling_threshold; remove a
// server whose queue is empty while more than one runs) with hysteresis (each condition
// must hold for a while), a cooldown after every action, and min/max bounds.
#pragma once

#include <cstdint>
#include <limits>
#include <span>
#include <vector>

#include "control/wire/messages.h"

namespace shortline {

struct ScalingConfig {
  double threshold = 5;          // load_balancer.server_scaling_threshold
  double add_fraction = 0.9;     // the seed's: add when a queue passes 0.9 x threshold
  // A server counts as empty while its smoothed queue stays at or below this. Not exactly
  // 0: shortest-queue spreads even light traffic over every server, so no queue is ever
  // empty for long while any traffic flows; 0.25 is about 20% utilisation.
  double idle_queue_max = 0.25;
  uint32_t min_servers = 1;      // never remove below this many UP servers (at least 1)
  uint32_t max_servers = 8;      // never add at or above this many servers
  int64_t scale_up_hold_ms = 500;     // a queue must stay above the add level this long
  int64_t scale_down_idle_ms = 5000;  // a server must stay empty this long
  int64_t scale_cooldown_ms = 2000;   // no action this long after the previous one
};

// One server as the decision sees it.
struct ScalingServer {
  uint32_t id = 0;          // reported server id
  bool removable = false;   // reported by a server the controller runs (not static)
  bool up = false;          // UP: takes new requests
  bool counted = false;     // counts towards max_servers (UP or DOWN; not draining/leaving)
  double queue = 0;         // smoothed load (the estimate shortest-queue uses)
};

inline constexpr int64_t kNever = std::numeric_limits<int64_t>::min();

struct ScalingHistory {
  int64_t high_since_ms = kNever;    // when some queue last rose above the add level
  struct Idle {
    uint32_t id = 0;
    int64_t since_ms = 0;            // when its queue last became empty
  };
  std::vector<Idle> idle;            // the UP removable servers that are empty now
  int64_t last_action_ms = kNever;
};

struct ScalingInput {
  int64_t now_ms = 0;
  std::span<const ScalingServer> servers;
  bool request_outstanding = false;  // a ScaleRequest awaits its reply: decide nothing new
};

struct ScalingDecision {
  enum class Kind : uint8_t { none, add, remove };
  Kind kind = Kind::none;
  uint32_t server_id = 0;  // for remove
  wire::ScaleReason reason = wire::ScaleReason::queue_high;
  wire::LoadSummary load;  // what the decision saw, for the ScaleRequest
};

struct ScalingStep {
  ScalingDecision decision;
  ScalingHistory history;
};

[[nodiscard]] ScalingStep decide_scaling(const ScalingInput& input, const ScalingConfig& config,
                                         const ScalingHistory& history);

}  // namespace shortline

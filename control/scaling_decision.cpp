// The scaling decision: history update, then cooldown, add and remove rules in that order.
#include "control/scaling_decision.h"

#include <algorithm>
#include <cassert>
#include <cmath>

namespace shortline {
namespace {

struct PoolView {
  uint32_t up = 0;
  uint32_t counted = 0;
  double queue_total_up = 0;
  double queue_max = 0;
  wire::LoadSummary summary;
};

PoolView view_of(std::span<const ScalingServer> servers) {
  PoolView view;
  for (const auto& s : servers) {
    if (s.counted) ++view.counted;
    if (!s.up) continue;
    ++view.up;
    view.queue_total_up += s.queue;
    view.queue_max = std::max(view.queue_max, s.queue);
  }
  const auto clamp_u32 = [](double value) {
    return static_cast<uint32_t>(std::clamp(std::round(value), 0.0, 4.0e9));
  };
  view.summary = {view.up, clamp_u32(view.queue_total_up), clamp_u32(view.queue_max)};
  return view;
}

// Carries each empty server's "since" over from the previous history.
std::vector<ScalingHistory::Idle> idle_servers(const ScalingInput& input,
                                               const ScalingConfig& config,
                                               const ScalingHistory& history) {
  std::vector<ScalingHistory::Idle> idle;
  for (const auto& s : input.servers) {
    if (!s.up || !s.removable || s.queue > config.idle_queue_max) continue;
    int64_t since = input.now_ms;
    for (const auto& previous : history.idle)
      if (previous.id == s.id) since = previous.since_ms;
    idle.push_back({s.id, since});
  }
  return idle;
}

// The empty server to remove: empty long enough, least loaded, then the highest id (the
// most recently added, when ids grow). nullptr when none qualifies.
const ScalingServer* removal_candidate(const ScalingInput& input, const ScalingConfig& config,
                                       const std::vector<ScalingHistory::Idle>& idle) {
  const ScalingServer* best = nullptr;
  for (const auto& s : input.servers) {
    const auto it = std::find_if(idle.begin(), idle.end(),
                                 [&s](const ScalingHistory::Idle& i) { return i.id == s.id; });
    if (it == idle.end() || input.now_ms - it->since_ms < config.scale_down_idle_ms) continue;
    if (best == nullptr || s.queue < best->queue || (s.queue == best->queue && s.id > best->id))
      best = &s;
  }
  return best;
}

// The most idle removable UP server, for shrinking a pool above its maximum.
const ScalingServer* least_loaded_removable(std::span<const ScalingServer> servers) {
  const ScalingServer* best = nullptr;
  for (const auto& s : servers) {
    if (!s.up || !s.removable) continue;
    if (best == nullptr || s.queue < best->queue || (s.queue == best->queue && s.id > best->id))
      best = &s;
  }
  return best;
}

ScalingStep act(ScalingStep step, ScalingDecision::Kind kind, uint32_t id,
                wire::ScaleReason reason, int64_t now_ms) {
  step.decision.kind = kind;
  step.decision.server_id = id;
  step.decision.reason = reason;
  step.history.last_action_ms = now_ms;
  step.history.high_since_ms = kNever;  // the condition must hold afresh after the action
  std::erase_if(step.history.idle, [id](const ScalingHistory::Idle& i) { return i.id == id; });
  return step;
}

}  // namespace

ScalingStep decide_scaling(const ScalingInput& input, const ScalingConfig& config,
                           const ScalingHistory& history) {
  assert(config.threshold > 0 && config.max_servers >= 1);
  const int64_t now = input.now_ms;
  const PoolView pool = view_of(input.servers);
  const double add_level = config.add_fraction * config.threshold;
  ScalingStep step;
  step.decision.load = pool.summary;
  step.history.last_action_ms = history.last_action_ms;
  step.history.idle = idle_servers(input, config, history);
  if (pool.up > 0 && pool.queue_max > add_level)
    step.history.high_since_ms = history.high_since_ms == kNever ? now : history.high_since_ms;

  if (input.request_outstanding) return step;
  if (history.last_action_ms != kNever && now - history.last_action_ms < config.scale_cooldown_ms)
    return step;
  if (pool.counted > config.max_servers) {
    const ScalingServer* extra = least_loaded_removable(input.servers);
    if (extra != nullptr && pool.up > std::max<uint32_t>(config.min_servers, 1))
      return act(step, ScalingDecision::Kind::remove, extra->id, wire::ScaleReason::above_max, now);
  }
  if (step.history.high_since_ms != kNever &&
      now - step.history.high_since_ms >= config.scale_up_hold_ms &&
      pool.counted < config.max_servers)
    return act(step, ScalingDecision::Kind::add, 0, wire::ScaleReason::queue_high, now);

  // Remove only while more than max(min_servers, 1) serve, and only when the others would
  // stay well below the add level without it (so a removal cannot trigger the next add).
  if (pool.up <= std::max<uint32_t>(config.min_servers, 1)) return step;
  if (pool.queue_total_up / (pool.up - 1) >= add_level / 2) return step;
  if (const ScalingServer* idle = removal_candidate(input, config, step.history.idle))
    return act(step, ScalingDecision::Kind::remove, idle->id, wire::ScaleReason::queue_empty, now);
  return step;
}

}  // namespace shortline

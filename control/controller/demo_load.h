// The demo's load: client.count shortline-client processes, each open loop at an equal share
// of the peak rate, started one after another over the ramp up and stopped one after
// another over the ramp down, so the offered load rises in steps, holds, falls, and leaves
// an idle tail in which the pool shrinks back. Pure arithmetic over the demo's duration.
#pragma once

#include <cstdint>
#include <vector>

namespace shortline::controller {

struct ClientPlan {
  uint32_t id = 0;
  double start_s = 0;     // after the demo's start
  double duration_s = 0;  // how long it sends (its --duration)
  double rate_rps = 0;    // its --rate
};

// Shares of the demo's duration: idle, ramp up, hold, ramp down; the rest is idle.
struct DemoShape {
  double warmup = 0.05;
  double ramp_up = 0.30;
  double hold = 0.10;
  double ramp_down = 0.20;
};

// One plan per client, ids from start_id. Client i starts at warmup + ramp_up * i / n and
// stops at warmup + ramp_up + hold + ramp_down * (n - i) / n, so the last to start is the
// first to stop, and every client sends for a positive time.
[[nodiscard]] std::vector<ClientPlan> plan_demo_load(uint32_t clients, uint32_t start_id,
                                                     double duration_s, double peak_rps,
                                                     const DemoShape& shape = {});

// The total rate the plans offer `at_s` seconds after the start.
[[nodiscard]] double offered_rps(const std::vector<ClientPlan>& plans, double at_s);

}  // namespace shortline::controller

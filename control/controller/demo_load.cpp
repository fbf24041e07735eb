// The demo's rising and falling load, as start times, durations and rates of its clients.
#include "control/controller/demo_load.h"

#include <cassert>

namespace shortline::controller {

std::vector<ClientPlan> plan_demo_load(uint32_t clients, uint32_t start_id, double duration_s,
                                       double peak_rps, const DemoShape& shape) {
  assert(duration_s > 0 && peak_rps > 0);
  assert(shape.warmup + shape.ramp_up + shape.hold + shape.ramp_down <= 1.0);
  std::vector<ClientPlan> plans;
  plans.reserve(clients);
  const double n = clients;
  const double peak_end_s = (shape.warmup + shape.ramp_up + shape.hold) * duration_s;
  for (uint32_t i = 0; i < clients; ++i) {
    ClientPlan plan;
    plan.id = start_id + i;
    plan.start_s = (shape.warmup + shape.ramp_up * i / n) * duration_s;
    const double stop_s = peak_end_s + shape.ramp_down * (n - i) / n * duration_s;
    plan.duration_s = stop_s - plan.start_s;
    plan.rate_rps = peak_rps / n;
    assert(plan.duration_s > 0);
    plans.push_back(plan);
  }
  return plans;
}

double offered_rps(const std::vector<ClientPlan>& plans, double at_s) {
  double total = 0;
  for (const auto& plan : plans) {
    if (at_s >= plan.start_s && at_s < plan.start_s + plan.duration_s) total += plan.rate_rps;
  }
  return total;
}

}  // namespace shortline::controller

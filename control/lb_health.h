// The balancer's own health, for GET /healthz and `shortline-ctl health`: what a routing
// daemon (BIRD, FRR) checks before it announces the service address from this host.
// Healthy means that a packet routed here now would be served: the workers run (the admin
// endpoint only answers between start-up and the first step of a stop), none has stalled
// (WorkerLiveness), and at least one server is UP. Otherwise the reason says what is
// missing, so that the operator sees why the route was withdrawn.
#pragma once

#include <string>

#include "control/lb_status.h"

namespace shortline {

struct HealthVerdict {
  bool healthy = false;
  std::string reason;  // "ok", or one line: "no server up (3 servers: 2 down, 1 draining)"
};

[[nodiscard]] HealthVerdict health_verdict(const LbStatus& status);

}  // namespace shortline

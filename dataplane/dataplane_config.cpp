// Names of the data plane's enumerations, as written in config.json and on the CLI.
#include "dataplane/dataplane_config.h"

namespace shortline {

std::string_view policy_name(Policy policy) {
  switch (policy) {
    case Policy::shortest_queue: return "shortest-queue";
    case Policy::power_of_two: return "power-of-two";
    case Policy::round_robin: return "round-robin";
    case Policy::random: return "random";
    case Policy::maglev: return "maglev";
  }
  return "unknown";
}

std::string_view affinity_name(Affinity affinity) {
  return affinity == Affinity::flow ? "flow" : "packet";
}

}  // namespace shortline

// Checks a DataplaneConfig against the limits table (see dataplane_limits.h). No JSON here:
// control/ reports errors by config path; this names the bare key.
#include "dataplane/dataplane_limits.h"

#include <algorithm>
#include <bit>

namespace shortline {
namespace {

std::string not_allowed(std::string_view key, uint64_t value, std::string_view allowed) {
  std::string message(key);
  message.append(": ").append(std::to_string(value)).append(" is not allowed: expected ");
  return message.append(allowed);
}

}  // namespace

std::string limit_allowed(const DataplaneLimit& limit) {
  std::string text(limit.rule == LimitRule::power_of_two ? "a power of two from "
                                                         : "an integer from ");
  return text.append(std::to_string(limit.min)).append(" to ").append(std::to_string(limit.max));
}

DerivedCapacities derived_capacities(const DataplaneConfig& config) {
  DerivedCapacities derived{};
  derived.submission_entries = std::bit_ceil(std::max<uint32_t>(64, config.batch_size_max * 4));
  derived.completion_entries = derived.submission_entries * 8;
  derived.sends_per_iteration = config.batch_size_max * 2;
  derived.send_groups = std::max<uint32_t>(64, config.buffers_per_worker / 4);
  return derived;
}

std::string validate_limits(const DataplaneConfig& config) {
  for (const DataplaneLimit& limit : kDataplaneLimits) {
    const uint32_t value = config.*limit.field;
    if (!limit_allows(limit, value)) return not_allowed(limit.key, value, limit_allowed(limit));
  }
  // The server table holds the static backends as well as the servers that report.
  if (config.backends.size() > config.max_servers) {
    std::string allowed("at least the number of backends (");
    allowed.append(std::to_string(config.backends.size())).append(")");
    return not_allowed("max_servers", config.max_servers, allowed);
  }
  return {};
}

}  // namespace shortline

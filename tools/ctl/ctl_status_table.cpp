// The status table: one row per server, fixed columns.
#include "tools/ctl/ctl_status_table.h"

#include <cstdio>

#include <nlohmann/json.hpp>

namespace shortline::ctl {
namespace {

using Json = nlohmann::json;

std::string row(const Json& s) {
  // The queue is what the server reported; without reports, this balancer's in-flight.
  const int64_t reported = s.value("reported_queue", int64_t{-1});
  const int64_t queue = reported >= 0 ? reported : s.value("in_flight", int64_t{0});
  char line[256];
  std::snprintf(line, sizeof(line), "%-12llu %6lld  %-9s %6.2f %12llu  %-16s %s\n",
                static_cast<unsigned long long>(s.value("id", uint64_t{0})),
                static_cast<long long>(queue), s.value("state", std::string("?")).c_str(),
                s.value("speed", 0.0), static_cast<unsigned long long>(s.value("requests", uint64_t{0})),
                s.value("health", std::string("?")).c_str(),
                s.value("address", std::string("?")).c_str());
  return line;
}

}  // namespace

std::string status_table(std::string_view json_body, std::string& error) {
  const Json status = Json::parse(json_body, nullptr, false);
  if (status.is_discarded() || !status.is_object() || !status.contains("servers") ||
      !status["servers"].is_array()) {
    error = "the admin endpoint's answer is not a shortline status";
    return {};
  }
  std::string text;
  char head[256];
  std::snprintf(head, sizeof(head), "balancer %s, workers %u, policy %s, affinity %s\n",
                status.value("listen_address", std::string("?")).c_str(),
                status.value("workers", 0u), status.value("policy", std::string("?")).c_str(),
                status.value("affinity", std::string("?")).c_str());
  text.append(head);
  text.append("id            queue  state      speed     requests  health           address\n");
  try {
    for (const Json& server : status["servers"]) text.append(row(server));
  } catch (const Json::exception&) {  // a field of the wrong type
    error = "the admin endpoint's answer has a malformed server entry";
    return {};
  }
  if (status["servers"].empty()) text.append("(no servers)\n");
  return text;
}

}  // namespace shortline::ctl

// Reading the clients' JSON summaries and adding them up.
#include "control/controller/demo_report.h"

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>

namespace shortline::controller {
namespace {

using Json = nlohmann::json;

uint64_t count_of(const Json& object, const char* key) {
  const auto it = object.find(key);
  return it != object.end() && it->is_number_unsigned() ? it->get<uint64_t>() : 0;
}

double real_of(const Json& object, const char* key) {
  const auto it = object.find(key);
  return it != object.end() && it->is_number() ? it->get<double>() : 0;
}

std::string ms(double us) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.1f ms", us / 1000.0);
  return text;
}

std::optional<ClientResult> from_json(const Json& object) {
  if (!object.is_object() || !object.contains("client_id")) return std::nullopt;
  ClientResult result;
  result.client_id = static_cast<uint32_t>(count_of(object, "client_id"));
  result.requests = count_of(object, "requests");
  result.sent = count_of(object, "sent");
  result.answered = count_of(object, "answered");
  result.retried = count_of(object, "retried");
  result.failed = count_of(object, "failed");
  if (const auto latency = object.find("latency_us"); latency != object.end()) {
    result.p50_us = real_of(*latency, "p50");
    result.p99_us = real_of(*latency, "p99");
    result.p999_us = real_of(*latency, "p999");
    result.max_us = real_of(*latency, "max");
    result.mean_us = real_of(*latency, "mean");
  }
  if (const auto servers = object.find("servers"); servers != object.end() && servers->is_object())
    for (const auto& item : servers->items())
      if (item.value().is_number_unsigned())
        result.answered_by_server[item.key()] = item.value().get<uint64_t>();
  return result;
}

}  // namespace

std::optional<ClientResult> parse_client_output(std::string_view output) {
  std::optional<ClientResult> last;
  std::size_t start = 0;
  while (start < output.size()) {
    const std::size_t end = std::min(output.find('\n', start), output.size());
    const std::string_view line = output.substr(start, end - start);
    if (line.starts_with("{")) {
      const Json object = Json::parse(line.begin(), line.end(), nullptr, false);
      if (!object.is_discarded())
        if (auto result = from_json(object)) last = std::move(result);
    }
    start = end + 1;
  }
  return last;
}

std::string format_client_totals(const std::vector<ClientResult>& results,
                                 uint32_t clients_started) {
  ClientResult total;
  std::vector<double> p50s;
  double weighted_mean_us = 0;
  for (const auto& r : results) {
    total.requests += r.requests;
    total.sent += r.sent;
    total.answered += r.answered;
    total.retried += r.retried;
    total.failed += r.failed;
    total.p99_us = std::max(total.p99_us, r.p99_us);
    total.p999_us = std::max(total.p999_us, r.p999_us);
    total.max_us = std::max(total.max_us, r.max_us);
    weighted_mean_us += r.mean_us * static_cast<double>(r.answered);
    if (r.answered > 0) p50s.push_back(r.p50_us);
    for (const auto& [server, answers] : r.answered_by_server)
      total.answered_by_server[server] += answers;
  }
  std::string text("clients: ");
  text.append(std::to_string(results.size()))
      .append(" of ")
      .append(std::to_string(clients_started));
  text.append(" reported; requests ").append(std::to_string(total.requests));
  text.append(", sent ").append(std::to_string(total.sent));
  text.append(", answered ").append(std::to_string(total.answered));
  text.append(", retried ").append(std::to_string(total.retried));
  text.append(", failed ").append(std::to_string(total.failed)).append("\n");
  std::sort(p50s.begin(), p50s.end());
  const double median_p50 = p50s.empty() ? 0 : p50s[p50s.size() / 2];
  const double mean_us =
      total.answered == 0 ? 0 : weighted_mean_us / static_cast<double>(total.answered);
  text.append("  latency: mean ").append(ms(mean_us));
  text.append(", p50 ").append(ms(median_p50)).append(" (median client)");
  text.append(", p99 ").append(ms(total.p99_us));
  text.append(", p999 ").append(ms(total.p999_us));
  text.append(", max ").append(ms(total.max_us)).append(" (worst client)\n");
  text.append("  answered by server:");
  std::vector<std::pair<std::string, uint64_t>> by_server(total.answered_by_server.begin(),
                                                          total.answered_by_server.end());
  std::sort(by_server.begin(), by_server.end(), [](const auto& a, const auto& b) {
    return a.first.size() != b.first.size() ? a.first.size() < b.first.size() : a.first < b.first;
  });
  for (const auto& [server, answers] : by_server)
    text.append(" ").append(server).append("=").append(std::to_string(answers));
  if (by_server.empty()) text.append(" none");
  return text.append("\n");
}

}  // namespace shortline::controller

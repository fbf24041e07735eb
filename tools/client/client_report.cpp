// Formatting of the client's summary. Built by append: gcc 12 warns falsely (-Wrestrict)
// on chained std::string operator+ at -O3.
#include "tools/client/client_report.h"

#include <charconv>
#include <cstdio>

namespace shortline::tools {
namespace {

std::string number(double value, int decimals) {
  char text[48];
  const int n = std::snprintf(text, sizeof(text), "%.*f", decimals, value);
  return std::string(text, static_cast<std::size_t>(std::max(n, 0)));
}

std::string us(uint64_t ns) { return number(static_cast<double>(ns) / 1000.0, 1); }

double seconds(const ClientSummary& s) { return static_cast<double>(s.elapsed_ns) / 1e9; }

double throughput(const ClientSummary& s) {
  return s.elapsed_ns == 0 ? 0.0 : static_cast<double>(s.answered) / seconds(s);
}

std::string mean_us(uint64_t total_us, uint64_t count) {
  return number(count == 0 ? 0.0 : static_cast<double>(total_us) / static_cast<double>(count), 1);
}

struct Field {
  const char* name;
  uint64_t value;
};

std::vector<Field> counts(const ClientSummary& s) {
  return {{"requests", s.requests},     {"sent", s.sent},
          {"answered", s.answered},     {"retried", s.retried},
          {"failed", s.failed},         {"retry_denied", s.retry_denied},
          {"duplicates", s.duplicates}, {"late", s.late},
          {"skipped", s.skipped},       {"send_errors", s.send_errors},
          {"foreign", s.foreign},       {"echo_answers", s.echo_answers}};
}

struct Quantile {
  const char* name;
  double q;
};
constexpr Quantile kQuantiles[] = {{"p50", 0.5}, {"p90", 0.9}, {"p99", 0.99}, {"p999", 0.999}};

}  // namespace

std::string format_summary_text(const ClientOptions& o, const ClientSummary& s) {
  std::string text;
  text.append("shortline-client ").append(std::to_string(o.client_id)).append(" -> ");
  text.append(o.target.to_string()).append(": ");
  if (o.rate > 0) {
    text.append("open loop at ").append(number(o.rate, 1));
    text.append(o.poisson ? " req/s, Poisson arrivals\n" : " req/s, evenly spaced\n");
  } else {
    text.append("closed loop, concurrency ").append(std::to_string(o.concurrency)).append("\n");
  }
  for (const auto& field : counts(s)) {
    text.append(field.name).append(" ").append(std::to_string(field.value)).append("  ");
  }
  text.append("\nlatency us: min ").append(us(s.latency.min_ns()));
  for (const auto& quantile : kQuantiles) {
    text.append(" ").append(quantile.name).append(" ").append(us(s.latency.percentile_ns(quantile.q)));
  }
  text.append(" max ").append(us(s.latency.max_ns()));
  text.append(" mean ").append(number(s.latency.mean_ns() / 1000.0, 1)).append("\n");
  text.append("server-side means us: queue wait ").append(mean_us(s.queue_wait_us_total, s.timed_responses));
  text.append(" service ").append(mean_us(s.service_us_total, s.timed_responses));
  text.append("; wait + service p50 ").append(us(s.server_side.percentile_ns(0.5)));
  text.append(" p99 ").append(us(s.server_side.percentile_ns(0.99))).append("\n");
  text.append("throughput ").append(number(throughput(s), 1)).append(" req/s over ");
  text.append(number(seconds(s), 3)).append(" s\nservers:");
  if (s.servers.empty() && s.echo_answers == 0) text.append(" none");
  for (const auto& entry : s.servers) {
    text.append(" ").append(std::to_string(entry.server_id)).append("=").append(std::to_string(entry.answered));
  }
  if (s.servers_other != 0) text.append(" other=").append(std::to_string(s.servers_other));
  if (s.echo_answers != 0) text.append(" echo=").append(std::to_string(s.echo_answers));
  text.append("\n");
  return text;
}

std::string format_summary_json(const ClientOptions& o, const ClientSummary& s) {
  std::string json = "{";
  json.append("\"client_id\":").append(std::to_string(o.client_id));
  json.append(",\"target\":\"").append(o.target.to_string()).append("\"");
  json.append(",\"mode\":\"").append(o.rate > 0 ? "open" : "closed").append("\"");
  json.append(",\"rate\":").append(number(o.rate, 3));
  json.append(",\"arrivals\":\"").append(o.poisson ? "poisson" : "even").append("\"");
  json.append(",\"concurrency\":").append(std::to_string(o.concurrency));
  for (const auto& field : counts(s)) {
    json.append(",\"").append(field.name).append("\":").append(std::to_string(field.value));
  }
  json.append(",\"elapsed_s\":").append(number(seconds(s), 6));
  json.append(",\"throughput_rps\":").append(number(throughput(s), 3));
  json.append(",\"latency_us\":{\"min\":").append(us(s.latency.min_ns()));
  for (const auto& quantile : kQuantiles) {
    json.append(",\"").append(quantile.name).append("\":").append(us(s.latency.percentile_ns(quantile.q)));
  }
  json.append(",\"max\":").append(us(s.latency.max_ns()));
  json.append(",\"mean\":").append(number(s.latency.mean_ns() / 1000.0, 1)).append("}");
  json.append(",\"queue_wait_us_mean\":").append(mean_us(s.queue_wait_us_total, s.timed_responses));
  json.append(",\"service_time_us_mean\":").append(mean_us(s.service_us_total, s.timed_responses));
  json.append(",\"server_side_us\":{\"p50\":").append(us(s.server_side.percentile_ns(0.5)));
  json.append(",\"p99\":").append(us(s.server_side.percentile_ns(0.99))).append("}");
  json.append(",\"servers\":{");
  bool first = true;
  for (const auto& entry : s.servers) {
    json.append(first ? "\"" : ",\"").append(std::to_string(entry.server_id)).append("\":");
    json.append(std::to_string(entry.answered));
    first = false;
  }
  if (s.servers_other != 0) {
    json.append(first ? "\"other\":" : ",\"other\":").append(std::to_string(s.servers_other));
  }
  json.append("}}");
  return json;
}

std::string format_summary_line(const ClientSummary& s) {
  std::string line = "finished:";
  for (const auto& field : counts(s)) {
    line.append(" ").append(field.name).append(" ").append(std::to_string(field.value));
  }
  line.append(", p99 ").append(us(s.latency.percentile_ns(0.99))).append(" us over ");
  line.append(number(seconds(s), 3)).append(" s");
  return line;
}

}  // namespace shortline::tools

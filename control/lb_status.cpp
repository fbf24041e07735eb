// Renders LbStatus as JSON (nlohmann) and as Prometheus text exposition (by hand: the format
// is a few line shapes, and escaping label values is the only subtle part).
#include "control/lb_status.h"

#include <charconv>
#include <cmath>
#include <nlohmann/json.hpp>
#include <string_view>

#include "control/control_counters.h"

namespace shortline {
namespace {

using Json = nlohmann::ordered_json;

Json server_json(const ServerStatus& s) {
  return Json{{"id", s.id},
              {"address", s.address},
              {"state", s.state},
              {"static_backend", s.static_backend},
              {"reported_queue", s.reported_queue},
              {"report_age_ms", s.report_age_ms},
              {"in_flight", s.in_flight},
              {"load", s.load},
              {"speed", s.speed},
              {"weight", s.weight},
              {"requests", s.requests},
              {"replies", s.replies},
              {"timeouts", s.timeouts},
              {"errors", s.errors},
              {"health", s.health},
              {"speed_source", s.speed_source},
              {"service_ms", s.service_ms},
              {"learnt_service_ms", s.learnt_service_ms},
              {"expected_delay_ms", s.expected_delay_ms},
              {"slow_start", s.slow_start},
              {"ejections", s.ejections},
              {"probes", s.probes},
              {"check", s.check},
              {"check_failure", s.check_failure},
              {"check_rtt_ms", s.check_rtt_ms}};
}

double seconds_or_unknown(double ms) { return ms < 0 ? -1.0 : ms / 1e3; }

// A number as Prometheus reads it: integers exactly, others shortest round-trip, NaN/Inf
// spelt the way the format wants them.
std::string number(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char text[32];
  const auto result = std::to_chars(text, text + sizeof(text), value);
  return std::string(text, result.ptr);
}
std::string number(uint64_t value) { return std::to_string(value); }
// A bucket bound in plain decimals ("0.00005", "2.5"), as client libraries write le.
std::string bound(double value) {
  if (std::isinf(value)) return "+Inf";
  char text[64];
  const auto result = std::to_chars(text, text + sizeof(text), value, std::chars_format::fixed);
  return std::string(text, result.ptr);
}
std::string number(int64_t value) { return std::to_string(value); }

// Label values escape backslash, double quote and newline.
std::string label_value(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    if (c == '\\')
      out.append("\\\\");
    else if (c == '"')
      out.append("\\\"");
    else if (c == '\n')
      out.append("\\n");
    else
      out.push_back(c);
  }
  return out;
}

// HELP text escapes backslash and newline.
std::string help_text(std::string_view text) {
  std::string out;
  for (const char c : text) {
    if (c == '\\')
      out.append("\\\\");
    else if (c == '\n')
      out.append("\\n");
    else
      out.push_back(c);
  }
  return out;
}

class Exposition {
 public:
  void family(std::string_view name, std::string_view type, std::string_view help) {
    text_.append("# HELP ").append(name).append(" ").append(help_text(help)).append("\n");
    text_.append("# TYPE ").append(name).append(" ").append(type).append("\n");
  }
  void sample(std::string_view name, std::string_view labels, const std::string& value) {
    text_.append(name);
    if (!labels.empty()) text_.append("{").append(labels).append("}");
    text_.append(" ").append(value).append("\n");
  }
  void single(std::string_view name, std::string_view type, std::string_view help,
              const std::string& value) {
    family(name, type, help);
    sample(name, "", value);
  }
  [[nodiscard]] std::string take() { return std::move(text_); }

 private:
  std::string text_;
};

std::string_view control_help(std::string_view name) {
  for (const auto& info : kControlCounterInfo)
    if (info.name == name) return info.help;
  return "control-plane counter";
}

// Event counters one family each; drops one family with the reason as a label, so that
// sum(rate(shortline_drops_total[1m])) is every drop and no reason is left out.
void write_counters(Exposition& out, const LbStatus& status) {
  for (std::size_t c = 0; c < kCounterCount; ++c) {
    if (kCounterInfo[c].is_drop) continue;
    const std::string name = std::string("shortline_").append(kCounterInfo[c].name) + "_total";
    out.single(name, "counter", kCounterInfo[c].help, number(status.dataplane.values[c]));
  }
  constexpr std::string_view kDrops = "shortline_drops_total";
  out.family(kDrops, "counter",
             "datagrams dropped, by reason (README: Counters; drop_<reason> in /api/status)");
  for (std::size_t c = 0; c < kCounterCount; ++c) {
    if (!kCounterInfo[c].is_drop) continue;
    std::string_view reason = kCounterInfo[c].name;
    reason.remove_prefix(std::string_view("drop_").size());
    out.sample(kDrops, std::string("reason=\"").append(reason) + "\"",
               number(status.dataplane.values[c]));
  }
  out.single("shortline_sessions_open", "gauge", "sessions open",
             number(status.dataplane.sessions_open));
  out.single("shortline_sessions_pending", "gauge", "sessions awaiting replies",
             number(status.dataplane.sessions_pending));
  out.single("shortline_sockets_busy", "gauge", "upstream sockets held by sessions",
             number(status.dataplane.sockets_busy));
  out.single("shortline_sockets_quarantined", "gauge",
             "upstream sockets waiting out late replies before reuse",
             number(status.dataplane.sockets_quarantined));
  for (const auto& [name, value] : status.control) {
    const std::string metric = std::string("shortline_control_").append(name) + "_total";
    out.single(metric, "counter", control_help(name), number(value));
  }
}

struct WorkerMetric {
  std::string_view name;
  std::string_view type;
  std::string_view help;
  uint64_t (*value)(const StatsTotals&);
};

// clang-format off
constexpr WorkerMetric kWorkerMetrics[] = {
  {"shortline_worker_requests_received_total", "counter", "datagrams received from clients",
   [](const StatsTotals& t) { return t[Counter::requests_received]; }},
  {"shortline_worker_requests_forwarded_total", "counter", "requests sent to servers",
   [](const StatsTotals& t) { return t[Counter::requests_forwarded]; }},
  {"shortline_worker_replies_received_total", "counter", "datagrams received from servers",
   [](const StatsTotals& t) { return t[Counter::replies_received]; }},
  {"shortline_worker_replies_forwarded_total", "counter", "replies sent to clients",
   [](const StatsTotals& t) { return t[Counter::replies_forwarded]; }},
  {"shortline_worker_drops_total", "counter", "datagrams dropped, all reasons",
   [](const StatsTotals& t) { return t.drops(); }},
  {"shortline_worker_batches_total", "counter",
   "loop iterations that received datagrams (datagrams per batch: batch_datagrams / batches)",
   [](const StatsTotals& t) { return t.batches; }},
  {"shortline_worker_batch_datagrams_total", "counter", "datagrams received in those batches",
   [](const StatsTotals& t) { return t.batch_datagrams; }},
  {"shortline_worker_sessions_open", "gauge", "sessions open",
   [](const StatsTotals& t) { return t.sessions_open; }},
  {"shortline_worker_sessions_pending", "gauge", "sessions awaiting replies",
   [](const StatsTotals& t) { return t.sessions_pending; }},
};
// clang-format on

void write_workers(Exposition& out, const LbStatus& status) {
  for (const auto& metric : kWorkerMetrics) {
    out.family(metric.name, metric.type, metric.help);
    for (std::size_t w = 0; w < status.worker_stats.size(); ++w)
      out.sample(metric.name, "worker=\"" + std::to_string(w) + "\"",
                 number(metric.value(status.worker_stats[w])));
  }
}

// One histogram's samples: cumulative buckets with le, then _sum and _count.
void write_histogram(Exposition& out, std::string_view name, const std::string& labels,
                     const LatencyHistogram& histogram) {
  const std::string bucket = std::string(name) + "_bucket";
  const std::string prefix = labels.empty() ? labels : labels + ",";
  uint64_t cumulative = 0;
  for (std::size_t b = 0; b < kReplyLatencyBuckets; ++b) {
    cumulative += histogram.counts[b];
    out.sample(bucket, prefix + "le=\"" + bound(histogram.upper_bounds_seconds[b]) + "\"",
               number(cumulative));
  }
  out.sample(std::string(name) + "_sum", labels, number(histogram.sum_seconds));
  out.sample(std::string(name) + "_count", labels, number(cumulative));
}

// The compiler that built this binary, for shortline_build_info.
std::string compiler() {
#if defined(__clang__)
  return "clang " + std::to_string(__clang_major__) + "." + std::to_string(__clang_minor__);
#elif defined(__GNUC__)
  return "gcc " + std::to_string(__GNUC__) + "." + std::to_string(__GNUC_MINOR__);
#else
  return "unknown";
#endif
}

void write_build_info(Exposition& out, const LbStatus& status) {
  constexpr std::string_view kName = "shortline_build_info";
  out.family(kName, "gauge", "always 1; the labels say which build is running");
  std::string labels("version=\"");
  labels.append(label_value(status.version)).append("\",compiler=\"");
  labels.append(label_value(compiler())).append("\"");
  out.sample(kName, labels, "1");
}

struct ServerMetric {
  std::string_view name;
  std::string_view type;
  std::string_view help;
  std::string (*value)(const ServerStatus&);
};

// clang-format off
constexpr ServerMetric kServerMetrics[] = {
  {"shortline_server_up", "gauge", "1 when the server takes new requests (state up)",
   [](const ServerStatus& s) { return std::string(s.state == "up" ? "1" : "0"); }},
  {"shortline_server_reported_queue", "gauge", "last queue length the server reported (-1: none)",
   [](const ServerStatus& s) { return number(s.reported_queue); }},
  {"shortline_server_report_age_seconds", "gauge", "age of the last report (-1: none)",
   [](const ServerStatus& s) {
     return number(s.report_age_ms < 0 ? -1.0 : s.report_age_ms / 1e3); }},
  {"shortline_server_in_flight", "gauge", "this balancer's requests awaiting replies there",
   [](const ServerStatus& s) { return number(s.in_flight); }},
  {"shortline_server_load", "gauge", "load shortest-queue compares (before weighting)",
   [](const ServerStatus& s) { return number(s.load); }},
  {"shortline_server_speed", "gauge", "service rate relative to the fastest server",
   [](const ServerStatus& s) { return number(s.speed); }},
  {"shortline_server_weight", "gauge", "weight the data plane uses",
   [](const ServerStatus& s) { return number(uint64_t{s.weight}); }},
  {"shortline_server_requests_total", "counter", "requests this balancer sent there",
   [](const ServerStatus& s) { return number(s.requests); }},
  {"shortline_server_replies_total", "counter", "replies received from there",
   [](const ServerStatus& s) { return number(s.replies); }},
  {"shortline_server_timeouts_total", "counter", "requests there that timed out",
   [](const ServerStatus& s) { return number(s.timeouts); }},
  {"shortline_server_errors_total", "counter", "passive errors (ECONNREFUSED, send failures)",
   [](const ServerStatus& s) { return number(uint64_t{s.errors}); }},
  {"shortline_server_service_seconds", "gauge",
   "per-request service time the weight follows, reported or learnt (-1: unknown)",
   [](const ServerStatus& s) { return number(seconds_or_unknown(s.service_ms)); }},
  {"shortline_server_learnt_service_seconds", "gauge",
   "per-request service time learnt from replies (-1: none yet)",
   [](const ServerStatus& s) { return number(seconds_or_unknown(s.learnt_service_ms)); }},
  {"shortline_server_expected_delay_seconds", "gauge",
   "(load + 1) x service time: what shortest-queue ranks by (-1: unknown)",
   [](const ServerStatus& s) { return number(seconds_or_unknown(s.expected_delay_ms)); }},
  {"shortline_server_slow_start_ratio", "gauge", "share of its weight a ramping server has",
   [](const ServerStatus& s) { return number(s.slow_start); }},
  {"shortline_server_ejections_total", "counter", "times ejected as an outlier",
   [](const ServerStatus& s) { return number(uint64_t{s.ejections}); }},
  {"shortline_server_probes_total", "counter", "half-open probes allowed while DOWN",
   [](const ServerStatus& s) { return number(s.probes); }},
  {"shortline_server_check_healthy", "gauge",
   "active health check: 1 healthy, 0 unhealthy, -1 no check",
   [](const ServerStatus& s) {
     return std::string(s.check.empty() ? "-1" : s.check == "healthy" ? "1" : "0"); }},
};
// The health reasons, one 0/1 sample each per server, so that a reason's series never
// starts or stops with a state change.
constexpr std::string_view kHealthReasons[] = {
    "up", "draining", "leaving", "down: silent", "down: refused", "down: timeouts",
    "ejected: outlier", "down: health check"};
// clang-format on

// The states a slot can be in, one 0/1 sample each per server: a state change moves the 1,
// it never starts a series (nor resets a counter's, which carry only id and address).
constexpr std::string_view kServerStates[] = {"up", "draining", "down", "probing"};

void write_server_states(Exposition& out, const LbStatus& status,
                         const std::vector<std::string>& labels) {
  constexpr std::string_view kState = "shortline_server_state";
  out.family(kState, "gauge",
             "1 for the server's state (up, draining, down, probing: half-open), 0 for the others");
  for (std::size_t i = 0; i < status.servers.size(); ++i) {
    for (const auto state : kServerStates) {
      std::string text(labels[i]);
      text.append(",state=\"").append(state).append("\"");
      out.sample(kState, text, std::string(status.servers[i].state == state ? "1" : "0"));
    }
  }
}

void write_servers(Exposition& out, const LbStatus& status) {
  std::vector<std::string> labels;
  labels.reserve(status.servers.size());
  for (const auto& s : status.servers) {
    std::string text("id=\"");
    text.append(std::to_string(s.id)).append("\",address=\"").append(label_value(s.address));
    labels.push_back(text.append("\""));
  }
  for (const auto& metric : kServerMetrics) {
    out.family(metric.name, metric.type, metric.help);
    for (std::size_t i = 0; i < status.servers.size(); ++i)
      out.sample(metric.name, labels[i], metric.value(status.servers[i]));
  }
  constexpr std::string_view kHealth = "shortline_server_health";
  out.family(kHealth, "gauge", "1 for the server's health reason, 0 for the others");
  for (std::size_t i = 0; i < status.servers.size(); ++i) {
    for (const auto reason : kHealthReasons) {
      std::string text(labels[i]);
      text.append(",reason=\"").append(reason).append("\"");
      out.sample(kHealth, text, std::string(status.servers[i].health == reason ? "1" : "0"));
    }
  }
  write_server_states(out, status, labels);
  constexpr std::string_view kLatency = "shortline_server_reply_latency_seconds";
  out.family(kLatency, "histogram",
             "seconds from a request to each of its replies, this server (all workers)");
  for (std::size_t i = 0; i < status.servers.size(); ++i)
    write_histogram(out, kLatency, labels[i], status.servers[i].reply_latency);
}

void write_histogram_family(Exposition& out, const LbStatus& status) {
  constexpr std::string_view kLatency = "shortline_reply_latency_seconds";
  out.family(kLatency, "histogram", "seconds from a request to each of its replies, all servers");
  write_histogram(out, kLatency, "", status.reply_latency);
}

}  // namespace

std::string_view build_version() { return SHORTLINE_VERSION; }

std::string to_json(const LbStatus& status) {
  Json counters = Json::object();
  for (std::size_t c = 0; c < kCounterCount; ++c)
    counters[std::string(kCounterInfo[c].name)] = status.dataplane.values[c];
  counters["drops_total"] = status.dataplane.drops();
  counters["sessions_open"] = status.dataplane.sessions_open;
  counters["sessions_pending"] = status.dataplane.sessions_pending;
  counters["sockets_busy"] = status.dataplane.sockets_busy;
  counters["sockets_quarantined"] = status.dataplane.sockets_quarantined;
  Json control = Json::object();
  for (const auto& [name, value] : status.control) control[name] = value;
  Json servers = Json::array();
  for (const auto& s : status.servers) servers.push_back(server_json(s));
  const auto& scaling = status.scaling;
  const Json document{{"version", status.version},
                      {"uptime_ms", status.uptime_ms},
                      {"listen_address", status.listen_address},
                      {"workers", status.workers},
                      {"workers_stalled", status.workers_stalled},
                      {"policy", status.policy},
                      {"affinity", status.affinity},
                      {"servers", std::move(servers)},
                      {"counters", std::move(counters)},
                      {"control", std::move(control)},
                      {"scaling",
                       {{"last_action", scaling.last_action},
                        {"last_reason", scaling.last_reason},
                        {"last_action_age_ms", scaling.last_action_age_ms},
                        {"requests_unacknowledged", scaling.requests_unacknowledged}}}};
  // Replace invalid UTF-8 rather than throw: addresses and names are ours, but a status
  // page must never fail on one odd byte.
  return document.dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::string to_prometheus(const LbStatus& status) {
  Exposition out;
  out.single("shortline_uptime_seconds", "gauge", "seconds since the balancer started",
             number(static_cast<double>(status.uptime_ms) / 1e3));
  out.single("shortline_workers", "gauge", "data-plane worker threads",
             number(uint64_t{status.workers}));
  out.single("shortline_workers_stalled", "gauge",
             "data-plane workers that have taken no batch for 2 s or more (unhealthy)",
             number(static_cast<uint64_t>(status.workers_stalled.size())));
  write_build_info(out, status);
  write_counters(out, status);
  write_workers(out, status);
  write_histogram_family(out, status);
  write_servers(out, status);
  out.single("shortline_scale_requests_unacknowledged", "gauge",
             "ScaleRequests sent and not yet answered by the controller",
             number(uint64_t{status.scaling.requests_unacknowledged}));
  return out.take();
}

}  // namespace shortline

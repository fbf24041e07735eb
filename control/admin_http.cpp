// The admin HTTP endpoint on cpp-httplib: three GET routes over a status provider, served by
// a small pool of its own threads. httplib is included here only, so its heavy header and
// its OpenSSL defines stay out of every other translation unit.
#include "control/admin_http.h"

#include <httplib.h>
#include <sys/socket.h>

#include <cassert>
#include <chrono>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

namespace shortline {
namespace {

constexpr size_t kAdminThreads = 4;               // browsers, a scraper, curl: a handful
constexpr time_t kKeepAliveTimeoutS = 1;           // also bounds how long stop() waits
constexpr time_t kReadWriteTimeoutS = 5;
constexpr size_t kPayloadBytesMax = 4096;          // actions take query parameters, no body
constexpr auto kStartWaitMax = std::chrono::seconds(5);
constexpr auto kStartPoll = std::chrono::milliseconds(1);

constexpr const char* kPrometheusType = "text/plain; version=0.0.4; charset=utf-8";
constexpr const char* kJsonType = "application/json";
constexpr const char* kHtmlType = "text/html; charset=utf-8";
constexpr const char* kTextType = "text/plain; charset=utf-8";


// SO_REUSEADDR only. httplib's default adds SO_REUSEPORT, which would let a second balancer
// bind the same admin port silently and split the scrapes between the two.
void admin_socket_options(int socket_fd) {
  const int yes = 1;
  (void)::setsockopt(socket_fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
}

}  // namespace

struct AdminServer::State {
  httplib::Server server;
  StatusProvider provider;
  AdminActions actions;
  std::mutex provider_mutex;  // the provider is never called twice at once
  std::thread thread;

  // The provider's status, or nullopt after writing a 500 when it threw.
  std::optional<LbStatus> status(httplib::Response& response) {
    try {
      const std::scoped_lock lock(provider_mutex);
      return provider();
    } catch (const std::exception& error) {
      response.status = 500;
      response.set_content(std::string("status unavailable: ") + error.what() + "\n", kTextType);
    }
    return std::nullopt;
  }

  void install_routes() {
    server.Get("/metrics", [this](const httplib::Request&, httplib::Response& response) {
      if (const auto current = status(response))
        response.set_content(to_prometheus(*current), kPrometheusType);
    });
    server.Get("/api/status", [this](const httplib::Request&, httplib::Response& response) {
      if (const auto current = status(response)) {
        response.set_header("Cache-Control", "no-store");
        response.set_content(to_json(*current), kJsonType);
      }
    });
    server.Get("/", [](const httplib::Request&, httplib::Response& response) {
      response.set_content(std::string(admin_page_html()), kHtmlType);
    });
    // Routing misses (404) and bad methods get a short text body instead of an empty one.
    install_admin_actions(server, actions);
    server.set_error_handler([](const httplib::Request&, httplib::Response& response) {
      if (!response.body.empty()) return;
      std::string text = std::to_string(response.status);
      if (response.status == 404) text.append(" not found: try /, /metrics or /api/status\n");
      else if (response.status == 400) text.append(" bad request (a POST needs Content-Length)\n");
      else text.append(" error\n");
      response.set_content(text, kTextType);
    });
  }

  void configure() {
    server.new_task_queue = [] { return new httplib::ThreadPool(kAdminThreads); };
    server.set_socket_options(admin_socket_options);
    server.set_keep_alive_timeout(kKeepAliveTimeoutS);
    server.set_read_timeout(kReadWriteTimeoutS);
    server.set_write_timeout(kReadWriteTimeoutS);
    server.set_payload_max_length(kPayloadBytesMax);
    install_routes();
  }
};

AdminServer::AdminServer() = default;

AdminServer::~AdminServer() { stop(); }

std::string AdminServer::start(const NetAddress& address, StatusProvider provider,
                               AdminActions actions) {
  assert(!state_ && "AdminServer::start is called once");
  assert(provider);
  if (address.family() != AF_INET && address.family() != AF_INET6)
    return "admin: no address to bind";
  auto state = std::make_unique<State>();
  state->provider = std::move(provider);
  state->actions = std::move(actions);
  state->configure();
  const std::string host = address.host();
  int port = address.port();
  if (port == 0) {
    port = state->server.bind_to_any_port(host);
  } else if (!state->server.bind_to_port(host, port)) {
    port = -1;
  }
  if (port <= 0) return "admin: cannot bind " + address.to_string() + " (in use or not local)";
  bound_ = address;
  bound_.set_port(static_cast<uint16_t>(port));
  httplib::Server& server = state->server;
  state->thread = std::thread([&server] { (void)server.listen_after_bind(); });
  // stop() only takes effect once the loop runs, so start() returns when it does.
  const auto deadline = std::chrono::steady_clock::now() + kStartWaitMax;
  while (!server.is_running() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(kStartPoll);
  state_ = std::move(state);
  if (!server.is_running()) {
    stop();
    const std::string where = bound_.to_string();
    bound_ = NetAddress{};  // empty again: nothing serves there
    return "admin: the HTTP loop did not start on " + where;
  }
  return {};
}

void AdminServer::stop() {
  if (!state_) return;
  state_->server.stop();
  if (state_->thread.joinable()) state_->thread.join();
  state_.reset();
}

}  // namespace shortline

// ---- The live page ----------------------------------------------------------------------
// One request a second to /api/status; the table is rebuilt from it with textContent (never
// innerHTML, so no reported string can inject markup), and the last kHistoryMax samples of
// the server count and the total load are drawn as two SVG polylines.
namespace shortline {
namespace {

constexpr std::string_view kPage = R"HTML(<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>shortline-lb</title>
<style>
body{font:14px system-ui,sans-serif;margin:1.2em;color:#222;background:#fafafa}
h1{font-size:1.3em;margin:0 0 .2em}
#meta{color:#555}#stale{color:#b00;font-weight:bold;margin-left:1em}
.cards{display:flex;gap:.8em;margin:.8em 0;flex-wrap:wrap}
.card{background:#fff;border:1px solid #ddd;border-radius:6px;padding:.4em .8em;min-width:7em}
.card b{display:block;font-size:1.4em}
svg{background:#fff;border:1px solid #ddd;border-radius:6px;width:100%;max-width:900px}
table{border-collapse:collapse;background:#fff;margin-top:.8em}
th,td{border:1px solid #ddd;padding:.25em .6em;text-align:right}
th{background:#eee}td.l,th.l{text-align:left}
tr.down td{color:#999}tr.draining td{color:#a60}
.bar{display:inline-block;height:.7em;background:#4a7;vertical-align:middle;margin-right:.3em}
</style></head><body>
<h1>shortline-lb</h1><span id="meta">connecting...</span><span id="stale"></span>
<div class="cards">
<div class="card">servers up<b id="c_up">-</b></div>
<div class="card">total load<b id="c_load">-</b></div>
<div class="card">in flight<b id="c_inflight">-</b></div>
<div class="card">requests/s<b id="c_rate">-</b></div>
<div class="card">drops<b id="c_drops">-</b></div>
<div class="card">last scaling<b id="c_scale">-</b></div>
</div>
<svg id="plot" viewBox="0 0 900 260" role="img" aria-label="server count and total load">
<text x="8" y="16" font-size="12">total load (queue + in flight), max
<tspan id="max_load">0</tspan></text>
<polyline id="line_load" fill="none" stroke="#c33" stroke-width="2" points=""/>
<line x1="0" y1="125" x2="900" y2="125" stroke="#ddd"/>
<text x="8" y="146" font-size="12">servers up, max <tspan id="max_up">0</tspan></text>
<polyline id="line_up" fill="none" stroke="#36c" stroke-width="2" points=""/>
<text x="892" y="254" font-size="11" text-anchor="end" fill="#777">
last 5 minutes, one sample a second</text>
</svg>
<table><thead><tr><th>id</th><th class="l">address</th><th class="l">state</th>
<th class="l">health</th><th>queue</th><th>in flight</th><th>load</th><th>speed</th>
<th class="l">from</th><th>service ms</th><th>expected delay ms</th><th>weight</th>
<th>requests</th><th>replies</th><th>timeouts</th><th>errors</th><th>report age ms</th>
</tr></thead><tbody id="rows"></tbody></table>
<script>
"use strict";
const kHistoryMax = 300;
const history = [];
let previous = null;
const $ = (id) => document.getElementById(id);
const num = (v) => (typeof v === "number" && isFinite(v)) ? v : 0;

function cell(row, text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  row.appendChild(td);
  return td;
}

function renderRows(servers, maxLoad) {
  const body = $("rows");
  body.replaceChildren();
  for (const s of servers) {
    const row = document.createElement("tr");
    row.className = s.state || "";
    cell(row, s.id);
    cell(row, s.address, "l");
    cell(row, (s.state || "?") + (s.static_backend ? " (static)" : ""), "l");
    cell(row, (s.health || "") + (s.check ? " / check " + s.check : ""), "l");
    cell(row, num(s.reported_queue) < 0 ? "-" : s.reported_queue);
    cell(row, num(s.in_flight));
    const load = cell(row, num(s.load));
    const bar = document.createElement("span");
    bar.className = "bar";
    bar.style.width = (maxLoad > 0 ? 60 * num(s.load) / maxLoad : 0) + "px";
    load.prepend(bar);
    cell(row, num(s.speed).toFixed(2));
    cell(row, s.speed_source || "", "l");
    cell(row, num(s.service_ms) < 0 ? "-" : num(s.service_ms).toFixed(3));
    cell(row, num(s.expected_delay_ms) < 0 ? "-" : num(s.expected_delay_ms).toFixed(2));
    cell(row, num(s.weight));
    cell(row, num(s.requests));
    cell(row, num(s.replies));
    cell(row, num(s.timeouts));
    cell(row, num(s.errors));
    cell(row, num(s.report_age_ms) < 0 ? "-" : Math.round(s.report_age_ms));
    body.appendChild(row);
  }
}

function line(id, values, top, height) {
  const max = Math.max(1, ...values);
  const step = 900 / (kHistoryMax - 1);
  const offset = kHistoryMax - values.length;
  const point = (v, i) =>
    ((offset + i) * step).toFixed(1) + "," + (top + height - height * v / max).toFixed(1);
  $(id).setAttribute("points", values.map(point).join(" "));
  return max;
}

function counter(status, name) {
  return status.counters ? num(status.counters[name]) : 0;
}

function render(status) {
  const servers = Array.isArray(status.servers) ? status.servers : [];
  const up = servers.filter((s) => s.state === "up").length;
  const load = servers.reduce((sum, s) => sum + Math.max(0, num(s.load)), 0);
  const inFlight = servers.reduce((sum, s) => sum + Math.max(0, num(s.in_flight)), 0);
  const now = num(status.uptime_ms);
  const received = counter(status, "requests_received");
  let rate = "-";
  if (previous && now > previous.time) {
    rate = Math.round(1000 * (received - previous.received) / (now - previous.time));
  }
  previous = { time: now, received: received };
  history.push({ up: up, load: load });
  if (history.length > kHistoryMax) history.shift();
  $("meta").textContent = (status.listen_address || "") + "  policy " + (status.policy || "?") +
    ", affinity " + (status.affinity || "?") + ", workers " + num(status.workers) +
    ", up " + Math.round(now / 1000) + " s";
  $("c_up").textContent = up + " / " + servers.length;
  $("c_load").textContent = load;
  $("c_inflight").textContent = inFlight;
  $("c_rate").textContent = rate;
  $("c_drops").textContent = counter(status, "drops_total");
  const scaling = status.scaling || {};
  $("c_scale").textContent = scaling.last_action ? scaling.last_action + " (" +
    (scaling.last_reason || "?") + ", " + Math.round(num(scaling.last_action_age_ms) / 1000) +
    " s ago)" : "none";
  $("max_load").textContent = line("line_load", history.map((h) => h.load), 24, 96);
  $("max_up").textContent = line("line_up", history.map((h) => h.up), 154, 86);
  renderRows(servers, Math.max(1, ...servers.map((s) => num(s.load))));
}

async function poll() {
  try {
    const response = await fetch("/api/status", { cache: "no-store" });
    if (!response.ok) throw new Error("HTTP " + response.status);
    render(await response.json());
    $("stale").textContent = "";
  } catch (error) {
    $("stale").textContent = "no answer from the balancer (" + error.message + ")";
  } finally {
    setTimeout(poll, 1000);
  }
}
poll();
</script></body></html>
)HTML";

}  // namespace

std::string_view admin_page_html() { return kPage; }

}  // namespace shortline

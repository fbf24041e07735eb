// The live page served at "/": one self-contained string (HTML, CSS, script; no external
// asset, no network but the balancer's own endpoint). On load it fetches /api/history, so a
// page opened now shows the last 15 minutes; then, once a second, /api/status (cards and the
// server table) and /api/history?since=<last sample> (the new samples, appended). Charts are
// inline SVG built with createElementNS and textContent, never innerHTML, so no reported
// string can inject markup. Each chart carries data-samples (points drawn) for tests.
#include "control/admin_http.h"

namespace shortline {
namespace {

constexpr std::string_view kPage = R"HTML(<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>shortline-lb</title>
<style>
body{font:14px system-ui,sans-serif;margin:1.2em;color:#222;background:#fafafa}
h1{font-size:1.3em;margin:0 0 .2em}h2{font-size:1em;margin:.9em 0 .2em}
#meta{color:#555}#stale{color:#b00;font-weight:bold;margin-left:1em}
.cards{display:flex;gap:.8em;margin:.8em 0;flex-wrap:wrap}
.card{background:#fff;border:1px solid #ddd;border-radius:6px;padding:.4em .8em;min-width:7em}
.card b{display:block;font-size:1.4em}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(560px,1fr));gap:.6em;
max-width:1800px}
svg.chart{background:#fff;border:1px solid #ddd;border-radius:6px;width:100%}
svg.chart text{font-size:11px;fill:#555}svg.chart text.now{font-size:13px;fill:#222}
svg.chart text.title{font-size:12px;fill:#222;font-weight:bold}
.legend{font-size:12px;color:#444}.legend span{margin-right:1em;white-space:nowrap}
.legend i{display:inline-block;width:.9em;height:.9em;margin-right:.3em;vertical-align:-1px}
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
<div class="card">reply p99<b id="c_p99">-</b></div>
<div class="card">drops<b id="c_drops">-</b></div>
<div class="card">last scaling<b id="c_scale">-</b></div>
</div>
<div id="span" class="legend">history: none yet</div>
<div class="charts">
<div><svg id="chart_rate" class="chart" viewBox="0 0 640 240" role="img"
 aria-label="requests per second"></svg></div>
<div><svg id="chart_p99" class="chart" viewBox="0 0 640 240" role="img"
 aria-label="reply p99 in milliseconds"></svg></div>
<div><svg id="chart_servers" class="chart" viewBox="0 0 640 240" role="img"
 aria-label="servers up and in the pool"></svg>
<div id="legend_servers" class="legend"></div></div>
<div><svg id="chart_load" class="chart" viewBox="0 0 640 240" role="img"
 aria-label="load per server"></svg>
<div id="legend_load" class="legend"></div></div>
</div>
<h2>servers</h2>
<table><thead><tr><th>id</th><th class="l">address</th><th class="l">state</th>
<th class="l">health</th><th>queue</th><th>in flight</th><th>load</th><th>speed</th>
<th class="l">from</th><th>service ms</th><th>expected delay ms</th><th>weight</th>
<th>requests</th><th>replies</th><th>timeouts</th><th>errors</th><th>report age ms</th>
</tr></thead><tbody id="rows"></tbody></table>
<script>
"use strict";
const kWindowMs = 15 * 60 * 1000;   // what the balancer keeps
const kSpanMinMs = 10 * 1000;        // a young history still gets a 10 s wide axis
const kPalette = ["#36c", "#c33", "#2a2", "#e80", "#93c", "#0aa", "#a52", "#777", "#c3a",
                  "#680"];
const kSvg = "http://www.w3.org/2000/svg";
const samples = [];                  // {t, rate, p99, up, total, load, servers: {id: load}}
const addresses = new Map();         // server id -> last address
let lastTime = 0;
const $ = (id) => document.getElementById(id);
const num = (v) => (typeof v === "number" && isFinite(v)) ? v : 0;
const value = (v) => (typeof v === "number" && isFinite(v)) ? v : null;

// ---- history ----

function addHistory(h) {
  const times = Array.isArray(h.time_unix_ms) ? h.time_unix_ms : [];
  const servers = Array.isArray(h.servers) ? h.servers : [];
  for (const s of servers) addresses.set(s.id, s.address);
  const at = (series, i) => Array.isArray(series) ? value(series[i]) : null;
  for (let i = 0; i < times.length; i++) {
    if (times[i] <= lastTime) continue;
    const loads = {};
    for (const s of servers) {
      const load = at(s.load, i);
      if (load !== null) loads[s.id] = load;
    }
    samples.push({ t: times[i], rate: at(h.requests_per_s, i), p99: at(h.reply_p99_ms, i),
                   up: at(h.servers_up, i), total: at(h.servers_total, i),
                   load: at(h.load_total, i), servers: loads });
    lastTime = times[i];
  }
  while (samples.length && samples[0].t < lastTime - kWindowMs) samples.shift();
}

// ---- charts ----

function el(parent, name, attributes, text) {
  const node = document.createElementNS(kSvg, name);
  for (const [key, v] of Object.entries(attributes)) node.setAttribute(key, v);
  if (text !== undefined) node.textContent = text;
  parent.appendChild(node);
  return node;
}

// A round step for about `count` ticks up to max (1, 2 or 5 times a power of ten).
function niceStep(max, count) {
  const raw = max / count;
  const power = Math.pow(10, Math.floor(Math.log10(raw)));
  for (const m of [1, 2, 5, 10]) if (m * power >= raw) return m * power;
  return 10 * power;
}

function fmt(v) {
  if (v === null) return "\u2014";
  if (Math.abs(v) >= 100 || Number.isInteger(v)) return String(Math.round(v));
  return v.toFixed(Math.abs(v) >= 10 ? 1 : 2);
}

function clock(t) {
  const d = new Date(t);
  const two = (n) => String(n).padStart(2, "0");
  return two(d.getHours()) + ":" + two(d.getMinutes()) + ":" + two(d.getSeconds());
}

// Draws series [{name, color, points: [[t, v|null], ...]}] over the shared time span with
// a y axis from 0, tick values, clock times below and the newest value of the first series.
function drawChart(svg, title, unit, series, span) {
  svg.replaceChildren();
  const L = 50, R = 630, T = 28, B = 212;
  let max = 0, drawn = 0;
  for (const s of series) for (const [, v] of s.points) if (v !== null) max = Math.max(max, v);
  const step = niceStep(Math.max(max, 1), 4);
  const top = step * Math.ceil(Math.max(max, 1) / step);
  const x = (t) => L + (R - L) * (t - span.from) / (span.to - span.from);
  const y = (v) => B - (B - T) * v / top;
  el(svg, "text", { x: 8, y: 16, class: "title" }, title + " (" + unit + ")");
  for (let v = 0; v <= top + step / 2; v += step) {
    el(svg, "line", { x1: L, y1: y(v), x2: R, y2: y(v), stroke: v ? "#eee" : "#999" });
    el(svg, "text", { x: L - 6, y: y(v) + 4, "text-anchor": "end", class: "tick" }, fmt(v));
  }
  el(svg, "line", { x1: L, y1: T, x2: L, y2: B, stroke: "#999" });
  const tStep = [1, 5, 10, 15, 30, 60, 120, 180, 300].map((s) => s * 1000)
      .find((s) => (span.to - span.from) / s <= 6) || 300000;
  for (let t = Math.ceil(span.from / tStep) * tStep; t <= span.to; t += tStep) {
    el(svg, "line", { x1: x(t), y1: B, x2: x(t), y2: B + 4, stroke: "#999" });
    el(svg, "text", { x: x(t), y: B + 16, "text-anchor": "middle", class: "tick" }, clock(t));
  }
  for (const s of series) {
    let d = "", pen = false;
    for (const [t, v] of s.points) {
      if (v === null) { pen = false; continue; }
      d += (pen ? "L" : "M") + x(t).toFixed(1) + "," + y(v).toFixed(1);
      pen = true;
      drawn++;
    }
    el(svg, "path", { d: d, fill: "none", stroke: s.color, "stroke-width": 2,
                      "data-series": s.name });
  }
  const newest = series.length && series[0].points.length ?
      series[0].points[series[0].points.length - 1][1] : null;
  el(svg, "text", { x: R, y: 16, "text-anchor": "end", class: "now" },
     "now " + fmt(newest) + " " + unit);
  svg.setAttribute("data-samples", String(drawn));
}

function legend(id, entries) {
  const box = $(id);
  box.replaceChildren();
  for (const e of entries) {
    const item = document.createElement("span");
    item.className = "key";
    if (e.server !== undefined) item.dataset.server = String(e.server);
    const swatch = document.createElement("i");
    swatch.style.background = e.color;
    item.append(swatch, e.text);
    box.appendChild(item);
  }
}

function drawCharts() {
  if (!samples.length) return;
  const to = lastTime, from = Math.min(samples[0].t, to - kSpanMinMs);
  const span = { from: Math.max(from, to - kWindowMs), to: to };
  const series = (key) => samples.map((s) => [s.t, s[key]]);
  $("span").textContent = "history: " + samples.length + " samples from " +
      clock(samples[0].t) + " to " + clock(lastTime) + " (the balancer keeps 15 minutes)";
  drawChart($("chart_rate"), "requests", "/s",
            [{ name: "rate", color: kPalette[0], points: series("rate") }], span);
  drawChart($("chart_p99"), "reply p99", "ms",
            [{ name: "p99", color: kPalette[1], points: series("p99") }], span);
  const counts = [{ name: "up", color: kPalette[2], points: series("up") },
                  { name: "total", color: kPalette[7], points: series("total") }];
  drawChart($("chart_servers"), "servers", "up", counts, span);
  legend("legend_servers", counts.map((c) => ({ color: c.color, text: c.name })));
  const ids = [...addresses.keys()].filter((id) => samples.some((s) => id in s.servers))
      .sort((a, b) => a - b);
  const loads = ids.map((id, i) => ({
    name: String(id), color: kPalette[i % kPalette.length], server: id,
    points: samples.map((s) => [s.t, id in s.servers ? s.servers[id] : null]) }));
  drawChart($("chart_load"), "load per server", "queue + in flight",
            [{ name: "total", color: "#bbb", points: series("load") }, ...loads], span);
  legend("legend_load", [{ color: "#bbb", text: "all servers" }, ...loads.map((l) => {
    const newest = samples[samples.length - 1].servers[l.server];
    return { color: l.color, server: l.server, text: "server " + l.server + " " +
             (addresses.get(l.server) || "") + ": " + fmt(newest === undefined ? null : newest) };
  })]);
}

// ---- cards and the server table ----

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

function counter(status, name) {
  return status.counters ? num(status.counters[name]) : 0;
}

function render(status) {
  const servers = Array.isArray(status.servers) ? status.servers : [];
  const up = servers.filter((s) => s.state === "up").length;
  const load = servers.reduce((sum, s) => sum + Math.max(0, num(s.load)), 0);
  const inFlight = servers.reduce((sum, s) => sum + Math.max(0, num(s.in_flight)), 0);
  const newest = samples.length ? samples[samples.length - 1] : null;
  $("meta").textContent = (status.listen_address || "") + "  policy " + (status.policy || "?") +
    ", affinity " + (status.affinity || "?") + ", workers " + num(status.workers) +
    ", up " + Math.round(num(status.uptime_ms) / 1000) + " s";
  $("c_up").textContent = up + " / " + servers.length;
  $("c_load").textContent = load;
  $("c_inflight").textContent = inFlight;
  $("c_rate").textContent = newest ? fmt(newest.rate) : "-";
  $("c_p99").textContent = newest ? (newest.p99 === null ? "\u2014" : fmt(newest.p99) + " ms")
                                  : "-";
  $("c_drops").textContent = counter(status, "drops_total");
  const scaling = status.scaling || {};
  $("c_scale").textContent = scaling.last_action ? scaling.last_action + " (" +
    (scaling.last_reason || "?") + ", " + Math.round(num(scaling.last_action_age_ms) / 1000) +
    " s ago)" : "none";
  renderRows(servers, Math.max(1, ...servers.map((s) => num(s.load))));
}

async function fetchJson(path) {
  const response = await fetch(path, { cache: "no-store" });
  if (!response.ok) throw new Error(path + ": HTTP " + response.status);
  return response.json();
}

async function poll() {
  try {
    addHistory(await fetchJson("/api/history?since=" + lastTime));
    drawCharts();
    render(await fetchJson("/api/status"));
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

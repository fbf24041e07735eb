// Rendering of the demo's live view and parsing of the balancer's /api/status.
#include "control/controller/live_view.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

namespace shortline::controller {
namespace {

using Json = nlohmann::json;

constexpr std::size_t kSparklineWidthMax = 60;
// U+2581..U+2588, lowest to full; index 0 (nothing) is a space.
constexpr std::array<std::string_view, 9> kBlocks = {
    " ", "\u2581", "\u2582", "\u2583", "\u2584", "\u2585", "\u2586", "\u2587", "\u2588"};

template <typename T>
T field_or(const Json& object, const char* key, T fallback) {
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) return fallback;
  if constexpr (std::is_same_v<T, std::string>) {
    return it->is_string() ? it->template get<std::string>() : fallback;
  } else {
    return it->is_number() ? it->template get<T>() : fallback;
  }
}

std::string unknown_or(int64_t value) { return value < 0 ? "-" : std::to_string(value); }

// `text` padded with spaces to `width`, on the left (right-aligned) or on the right.
std::string pad(std::string_view text, std::size_t width, bool right_align) {
  std::string out;
  if (right_align && text.size() < width) out.append(width - text.size(), ' ');
  out.append(text);
  if (!right_align && text.size() < width) out.append(width - text.size(), ' ');
  return out;
}

std::string fixed2(double value) {
  std::array<char, 32> text{};
  std::snprintf(text.data(), text.size(), "%.2f", value);
  return text.data();
}

std::string row(std::string_view id, std::string_view address, std::string_view state,
                std::string_view queue, std::string_view in_flight, std::string_view speed,
                std::string_view requests) {
  std::string line("  ");
  line.append(pad(id, 6, true)).append("  ").append(pad(address, 22, false)).append(" ");
  line.append(pad(state, 10, false)).append(pad(queue, 6, true)).append(" ");
  line.append(pad(in_flight, 9, true)).append(" ").append(pad(speed, 6, true)).append(" ");
  return line.append(pad(requests, 10, true)).append("\n");
}

std::string header_line(const ViewFrame& frame) {
  std::string line("shortline  t=");
  line.append(std::to_string(static_cast<int64_t>(frame.elapsed_s))).append("s");
  if (frame.duration_s > 0)
    line.append("/").append(std::to_string(static_cast<int64_t>(frame.duration_s))).append("s");
  if (frame.offered_rps >= 0)
    line.append("  offered ")
        .append(std::to_string(std::lround(frame.offered_rps)))
        .append(" req/s");
  line.append("  servers ").append(std::to_string(frame.servers_running));
  line.append(" (min ").append(std::to_string(frame.servers_min));
  line.append(", max ").append(std::to_string(frame.servers_max)).append(")");
  if (!frame.source.empty()) line.append("  [").append(frame.source).append("]");
  return line.append("\n");
}

std::string server_rows(const std::vector<ViewServer>& servers) {
  std::string text = row("id", "address", "state", "queue", "in-flight", "speed", "requests");
  for (const auto& server : servers) {
    text.append(row(std::to_string(server.id), server.address, server.state,
                    unknown_or(server.queue), unknown_or(server.in_flight),
                    server.speed < 0 ? "-" : fixed2(server.speed), unknown_or(server.requests)));
  }
  if (servers.empty()) text.append("  (no servers)\n");
  return text;
}

}  // namespace

std::optional<std::vector<ViewServer>> parse_status_servers(std::string_view json) {
  const Json document = Json::parse(json.begin(), json.end(), nullptr, false);
  if (document.is_discarded() || !document.is_object()) return std::nullopt;
  const auto list = document.find("servers");
  if (list == document.end() || !list->is_array()) return std::nullopt;
  std::vector<ViewServer> servers;
  for (const auto& entry : *list) {
    if (!entry.is_object()) continue;
    ViewServer server;
    server.id = field_or<uint32_t>(entry, "id", 0);
    server.address = field_or<std::string>(entry, "address", "");
    server.state = field_or<std::string>(entry, "state", "?");
    server.queue = field_or<int64_t>(entry, "reported_queue", -1);
    server.in_flight = field_or<int64_t>(entry, "in_flight", -1);
    server.speed = field_or<double>(entry, "speed", -1);
    server.requests = field_or<int64_t>(entry, "requests", -1);
    servers.push_back(std::move(server));
  }
  std::sort(servers.begin(), servers.end(),
            [](const ViewServer& a, const ViewServer& b) { return a.id < b.id; });
  return servers;
}

std::string sparkline(const std::vector<uint32_t>& values, uint32_t top, std::size_t width_max) {
  std::string line;
  const std::size_t first = values.size() > width_max ? values.size() - width_max : 0;
  for (std::size_t i = first; i < values.size(); ++i) {
    const uint32_t value = std::min(values[i], top);
    const std::size_t level =
        top == 0 ? 0 : (static_cast<std::size_t>(value) * 8 + top - 1) / top;  // round up
    line.append(kBlocks[std::min<std::size_t>(level, 8)]);
  }
  return line;
}

std::string render_frame(const ViewFrame& frame) {
  std::string text = header_line(frame);
  text.append(server_rows(frame.servers));
  const auto& history = frame.server_count_history;
  const uint32_t peak = history.empty() ? 0 : *std::max_element(history.begin(), history.end());
  const uint32_t top = std::max(peak, 1u);
  text.append("  server count, one column a second: |");
  text.append(sparkline(history, top, kSparklineWidthMax)).append("|");
  text.append(" now ").append(std::to_string(history.empty() ? 0 : history.back()));
  text.append(", peak ").append(std::to_string(peak)).append("\n");
  if (!frame.events.empty()) text.append("  recent events:\n");
  for (const auto& event : frame.events) text.append("    ").append(event).append("\n");
  return text;
}

}  // namespace shortline::controller

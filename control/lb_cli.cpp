// The shortline-lb command line. Each flag's value is checked by the config loader itself
// (as a one-key config), so a flag and its config.json key accept exactly the same values.
#include "control/lb_cli.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

namespace shortline {
namespace {

using Json = nlohmann::json;

// A flag. Those with a load_balancer key are validated as that key and copied by apply.
struct Flag {
  std::string_view name;        // "--workers"
  std::string_view value_name;  // "N"; empty for a switch, which means "true" when bare
  std::string_view key;         // load_balancer key it overrides; empty when handled apart
  std::string_view help;
  std::string (*shown_default)(const Config&);  // null: no default to show
  void (*apply)(const Config& from, Config& to);
};

template <typename T>
std::string number_text(T value) {
  return std::to_string(value);
}
// 2 as "2", 1.25 as "1.25": the way a user writes it.
std::string real_text(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", value);
  return text;
}
std::string bool_text(bool value) { return value ? "on" : "off"; }
const DataplaneConfig& dp(const Config& config) { return config.load_balancer.dataplane; }
DataplaneConfig& dp(Config& config) { return config.load_balancer.dataplane; }

// clang-format off
constexpr Flag kFlags[] = {
  {"--config", "FILE", "", "load this config.json first",
   [](const Config&) { return std::string("./config.json when it exists"); }, nullptr},
  {"--log-dir", "DIR", "", "also write the event lines to DIR/balancer/balancer.log",
   [](const Config&) { return std::string("none: stdout only"); }, nullptr},
  {"--listen", "HOST:PORT", "", "where clients send; port 0 = any free port",
   [](const Config& c) { return dp(c).listen.to_string(); }, nullptr},
  {"--control-port", "PORT", "", "where servers report (server_side_port); 0 = any free port",
   [](const Config& c) { return number_text(c.load_balancer.server_side_port); }, nullptr},
  {"--control-address", "HOST", "control_address",
   "the control port's host (each balancer's unicast address); \"\" = the --listen host",
   [](const Config& c) {
     const auto& balancer = c.load_balancer;
     return balancer.control_address.empty() ? std::string("the --listen host")
                                             : balancer.control_address; },
   [](const Config& from, Config& to) {
     to.load_balancer.control_address = from.load_balancer.control_address; }},
  {"--controller-port", "PORT", "", "ScaleRequests go to controller.address:PORT; 0 = send none",
   [](const Config& c) { return number_text(c.controller.port); }, nullptr},
  {"--admin", "HOST:PORT|off", "", "admin HTTP endpoint (/metrics, /api/status, /); port 0 = any",
   [](const Config& c) {
     const auto& balancer = c.load_balancer;
     return balancer.admin_enabled ? balancer.admin_listen.to_string() : std::string("off"); },
   nullptr},
  {"--backend", "HOST:PORT[@W]", "",
   "static servers: a comma list, repeatable; @W other than 1 fixes the weight, else the "
   "speed is learnt from replies",
   [](const Config&) { return std::string("none"); }, nullptr},
  {"--workers", "N", "workers", "worker threads, 0 = one per online CPU",
   [](const Config& c) { return number_text(dp(c).workers); },
   [](const Config& from, Config& to) { dp(to).workers = dp(from).workers; }},
  {"--pin-workers", "", "pin_workers", "pin worker i to CPU i; =false turns it off",
   [](const Config& c) { return bool_text(dp(c).pin_workers); },
   [](const Config& from, Config& to) { dp(to).pin_workers = dp(from).pin_workers; }},
  {"--udp-gso", "", "udp_gso", "send runs of equal-size datagrams as one GSO send; =false: one by one",
   [](const Config& c) { return bool_text(dp(c).udp_gso); },
   [](const Config& from, Config& to) { dp(to).udp_gso = dp(from).udp_gso; }},
  {"--policy", "NAME", "policy", "shortest-queue|power-of-two|round-robin|random|maglev",
   [](const Config& c) { return std::string(policy_name(dp(c).policy)); },
   [](const Config& from, Config& to) { dp(to).policy = dp(from).policy; }},
  {"--affinity", "NAME", "affinity", "packet|flow (flow: a client stays on one server)",
   [](const Config& c) { return std::string(affinity_name(dp(c).affinity)); },
   [](const Config& from, Config& to) { dp(to).affinity = dp(from).affinity; }},
  {"--maglev-load-bound", "C", "maglev_load_bound",
   "maglev: a new flow skips a server over C x the mean load per server (0 = off)",
   [](const Config& c) { return real_text(dp(c).maglev_load_bound); },
   [](const Config& from, Config& to) {
     dp(to).maglev_load_bound = dp(from).maglev_load_bound; }},
  {"--peer-balancers", "N", "peer_balancers",
   "other balancers in front of the same reporting servers (0 = alone)",
   [](const Config& c) { return number_text(dp(c).peer_balancers); },
   [](const Config& from, Config& to) { dp(to).peer_balancers = dp(from).peer_balancers; }},
  {"--responses", "N", "responses_per_request", "replies expected per request, 0 = one-way",
   [](const Config& c) { return number_text(dp(c).responses_per_request); },
   [](const Config& from, Config& to) {
     dp(to).responses_per_request = dp(from).responses_per_request; }},
  {"--request-timeout-ms", "N", "request_timeout_ms",
   "unanswered requests stop counting as in flight (and end their packet session)",
   [](const Config& c) { return number_text(dp(c).request_timeout_ms); },
   [](const Config& from, Config& to) {
     dp(to).request_timeout_ms = dp(from).request_timeout_ms; }},
  {"--idle-timeout-ms", "N", "session_idle_timeout_ms", "flow affinity: answered sessions idle this long expire",
   [](const Config& c) { return number_text(dp(c).session_idle_timeout_ms); },
   [](const Config& from, Config& to) {
     dp(to).session_idle_timeout_ms = dp(from).session_idle_timeout_ms; }},
  {"--max-sessions", "N", "max_sessions", "session table size, all workers together (at most the upstream sockets)",
   [](const Config& c) { return number_text(dp(c).max_sessions); },
   [](const Config& from, Config& to) { dp(to).max_sessions = dp(from).max_sessions; }},
  {"--upstream-sockets", "N", "upstream_sockets",
   "upstream sockets opened at start; 0 = derived from RLIMIT_NOFILE",
   [](const Config& c) { return number_text(dp(c).upstream_sockets); },
   [](const Config& from, Config& to) { dp(to).upstream_sockets = dp(from).upstream_sockets; }},
  {"--max-datagram-bytes", "N", "max_datagram_bytes", "larger datagrams are dropped and counted",
   [](const Config& c) { return number_text(dp(c).max_datagram_bytes); },
   [](const Config& from, Config& to) {
     dp(to).max_datagram_bytes = dp(from).max_datagram_bytes; }},
  {"--takeover-socket", "PATH", "takeover_socket",
   "offer the sockets to a successor on this unix socket (mode 0600); \"\" = off",
   [](const Config& c) {
     const auto& path = c.load_balancer.takeover_socket;
     return path.empty() ? std::string("off") : path; },
   [](const Config& from, Config& to) {
     to.load_balancer.takeover_socket = from.load_balancer.takeover_socket; }},
  {"--fd-store", "", "fd_store",
   "under systemd (FileDescriptorStoreMax=): keep the sockets in the service manager across "
   "restarts; =false: off",
   [](const Config& c) { return bool_text(c.load_balancer.fd_store); },
   [](const Config& from, Config& to) { to.load_balancer.fd_store = from.load_balancer.fd_store; }},
  {"--take-over", "PATH", "",
   "take the sockets over from the shortline-lb offering them at PATH, which then drains "
   "and exits", nullptr, nullptr},
  {"--help", "", "", "print this help and exit (also -h)", nullptr, nullptr},
  {"--version", "", "", "print the version and exit", nullptr, nullptr},
};
// clang-format on

struct Occurrence {
  const Flag* flag;
  std::string value;
};

// "--workers: MESSAGE"; the program adds its own name when it prints the line.
std::string cli_error(std::string_view flag, std::string_view message) {
  std::string error(flag);
  return error.append(": ").append(message);
}

const Flag* find_flag(std::string_view name) {
  if (name == "-h") name = "--help";
  for (const Flag& flag : kFlags)
    if (flag.name == name) return &flag;
  return nullptr;
}

std::string unknown_flag_message() {
  std::string message("unknown flag (allowed:");
  for (const Flag& flag : kFlags) message.append(" ").append(flag.name);
  return message.append(", -h)");
}

// Splits argv into flags and their values; checks names and presence of values only.
std::optional<std::string> scan(std::span<const char* const> args, std::vector<Occurrence>& out) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string_view arg = args[i] == nullptr ? "" : args[i];
    const auto equals = arg.find('=');
    const std::string_view name = arg.substr(0, equals);
    const Flag* flag = find_flag(name);
    if (flag == nullptr) {
      if (!arg.starts_with("-")) return cli_error(arg, "unexpected argument (flags only)");
      return cli_error(name, unknown_flag_message());
    }
    if (equals != std::string_view::npos) {
      if (flag->key.empty() && flag->value_name.empty()) return cli_error(name, "takes no value");
      out.push_back({flag, std::string(arg.substr(equals + 1))});
    } else if (flag->value_name.empty()) {
      out.push_back({flag, "true"});
    } else if (i + 1 < args.size() && args[i + 1] != nullptr &&
               !std::string_view(args[i + 1]).starts_with("--")) {
      out.push_back({flag, args[++i]});
    } else {
      return cli_error(name,
                       std::string("missing value (expected ").append(flag->value_name) + ")");
    }
  }
  return std::nullopt;
}

// Checks a one-key load_balancer config; on failure, rewords the loader's message for the
// flag: "config: load_balancer.workers: REST" becomes "--workers: REST".
ConfigResult check_as_config(std::string_view flag, std::string_view key, Json value) {
  Json document = {{"load_balancer", Json::object()}};
  document["load_balancer"][std::string(key)] = std::move(value);
  ConfigResult result = parse_config(document.dump());
  if (result.error.empty()) return result;
  const auto rest = result.error.find(": ", std::string_view("config: ").size());
  result.error =
      cli_error(flag, rest == std::string::npos ? result.error : result.error.substr(rest + 2));
  return result;
}

// "HOST:PORT" or "HOST:PORT@W" as a config.json backends entry.
Json backend_entry(std::string_view item) {
  const auto at = item.rfind('@');
  if (at == std::string_view::npos) return std::string(item);
  return {{"address", std::string(item.substr(0, at))},
          {"weight", std::string(item.substr(at + 1))}};
}

std::optional<std::string> apply_backends(const std::vector<Occurrence>& occurrences,
                                          Config& config) {
  Json entries = Json::array();
  for (const auto& occurrence : occurrences) {
    if (occurrence.flag->name != "--backend") continue;
    std::string_view list = occurrence.value;
    while (true) {
      const auto comma = list.find(',');
      entries.push_back(backend_entry(list.substr(0, comma)));
      if (comma == std::string_view::npos) break;
      list.remove_prefix(comma + 1);
    }
  }
  if (entries.empty()) return std::nullopt;  // no --backend: the file's list stands
  const size_t count = entries.size();
  auto checked = check_as_config("--backend", "backends", std::move(entries));
  if (!checked.config) return checked.error;
  dp(config).backends = std::move(dp(*checked.config).backends);
  if (count <= dp(config).max_servers) return std::nullopt;
  std::string message(std::to_string(count));
  message.append(" backends is more than load_balancer.max_servers (");
  return cli_error("--backend", message.append(std::to_string(dp(config).max_servers) + ")"));
}

// The message for a --listen or --admin value NetAddress::parse refused.
std::string not_an_address(std::string_view value, std::string_view alternatives) {
  std::string message("\"");
  message.append(value).append("\" is not allowed: expected ").append(alternatives);
  return message.append(
      "HOST:PORT with HOST an IPv4 literal, [IPv6] or localhost, PORT 0 to 65535");
}

// --listen sets the listen address and the config keys it is made of. Port 0 is allowed
// here (the kernel picks one), which tests use; config.json wants a real port.
std::optional<std::string> apply_listen(std::string_view value, Config& config) {
  const auto address = NetAddress::parse(value);
  if (!address) return cli_error("--listen", not_an_address(value, ""));
  auto& balancer = config.load_balancer;
  balancer.dataplane.listen = *address;
  balancer.client_side_port = address->port();
  balancer.listen_address = address->host();
  return std::nullopt;
}

// --admin HOST:PORT sets the admin address and the keys it is made of (port 0 allowed, as
// in config.json); --admin off turns the endpoint off.
std::optional<std::string> apply_admin(std::string_view value, Config& config) {
  auto& balancer = config.load_balancer;
  if (value == "off") {
    balancer.admin_enabled = false;
    return std::nullopt;
  }
  const auto address = NetAddress::parse(value);
  if (!address) return cli_error("--admin", not_an_address(value, "off or "));
  balancer.admin_enabled = true;
  balancer.admin_listen = *address;
  balancer.admin_port = address->port();
  balancer.admin_address = address->host();
  return std::nullopt;
}

// --control-port and --controller-port: a port from 0 to 65535 (0 has a meaning for each,
// so these bypass their config keys, which start at 1).
std::optional<std::string> apply_port(std::string_view flag, std::string_view value,
                                      uint16_t& port) {
  unsigned number = 0;
  const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), number);
  if (value.empty() || error != std::errc{} || end != value.data() + value.size() ||
      number > 65535) {
    std::string message("\"");
    return cli_error(flag, message.append(value).append("\" is not allowed: expected 0 to 65535"));
  }
  port = static_cast<uint16_t>(number);
  return std::nullopt;
}

std::optional<std::string> apply_flags(const std::vector<Occurrence>& occurrences, Config& config) {
  for (const auto& occurrence : occurrences) {
    const Flag& flag = *occurrence.flag;
    if (flag.name == "--listen") {
      if (auto error = apply_listen(occurrence.value, config)) return error;
    } else if (flag.name == "--admin") {
      if (auto error = apply_admin(occurrence.value, config)) return error;
    } else if (flag.name == "--control-port") {
      auto& port = config.load_balancer.server_side_port;
      if (auto error = apply_port(flag.name, occurrence.value, port)) return error;
    } else if (flag.name == "--controller-port") {
      auto& port = config.controller.port;
      if (auto error = apply_port(flag.name, occurrence.value, port)) return error;
    } else if (flag.apply != nullptr) {
      const auto checked = check_as_config(flag.name, flag.key, occurrence.value);
      if (!checked.config) return checked.error;
      flag.apply(*checked.config, config);
    }
  }
  return apply_backends(occurrences, config);
}

}  // namespace

LbCliResult parse_lb_command_line(int argc, const char* const* argv) {
  std::vector<Occurrence> occurrences;
  const std::span<const char* const> args(argv, argc > 0 ? static_cast<size_t>(argc) : 0);
  if (auto error = scan(args.empty() ? args : args.subspan(1), occurrences)) return {{}, *error};
  LbCommandLine line;
  const Occurrence* config_file = nullptr;  // the last --config wins
  for (const auto& occurrence : occurrences) {
    if (occurrence.flag->name == "--help") line.show_help = true;
    if (occurrence.flag->name == "--version") line.show_version = true;
    if (occurrence.flag->name == "--config") config_file = &occurrence;
    if (occurrence.flag->name == "--take-over") line.take_over_from = occurrence.value;
  }
  ConfigResult base = parse_config("{}");
  if (line.show_help || line.show_version) {
    line.config = std::move(*base.config);
    return {std::move(line), {}};
  }
  // Like the seed, a config.json in the working folder is read without being named.
  std::error_code ec;
  if (config_file == nullptr && std::filesystem::exists(kDefaultConfigPath, ec))
    line.config_path = kDefaultConfigPath;
  if (config_file != nullptr) line.config_path = config_file->value;
  if (!line.config_path.empty()) base = load_config_file(line.config_path);
  if (!base.config) return {{}, base.error};
  for (const auto& occurrence : occurrences) {
    if (occurrence.flag->name != "--log-dir") continue;
    if (occurrence.value.empty()) return {{}, cli_error("--log-dir", "empty")};
    line.log_dir = occurrence.value;
  }
  line.config = std::move(*base.config);
  if (auto error = apply_flags(occurrences, line.config)) return {{}, *error};
  return {std::move(line), {}};
}

std::string lb_help_text() {
  const Config defaults = *parse_config("{}").config;
  std::string text(
      "usage: shortline-lb [--config FILE] [flags]\n"
      "A shortest-queue UDP load balancer. Flags override the config file, in any order;\n"
      "both \"--flag value\" and \"--flag=value\" work. --backend replaces the file's list.\n"
      "Without --config, ./config.json is read when it exists.\n\n");
  constexpr size_t kColumn = 26;
  for (const Flag& flag : kFlags) {
    std::string usage("  ");
    usage.append(flag.name);
    if (!flag.value_name.empty()) usage.append(" ").append(flag.value_name);
    usage.resize(std::max(usage.size() + 1, kColumn), ' ');
    text.append(usage).append(flag.help);
    if (flag.shown_default != nullptr)
      text.append(" (default: ").append(flag.shown_default(defaults)).append(")");
    text.append("\n");
  }
  text.append(
      "\nExit status 2 means a bad config file or command line; the message names the key\n"
      "or flag, the value given and what is allowed.\n");
  return text;
}

}  // namespace shortline

// shortline-ctl: flags, commands and their requests.
#include "tools/ctl/ctl_options.h"

#include <map>

#include "control/peer_config.h"

namespace shortline::ctl {
namespace {

constexpr const char* kDefaultAdmin = "127.0.0.1:54080";

struct CommandShape {
  std::size_t args_min;
  std::size_t args_max;
  const char* usage;
};

const std::map<std::string, CommandShape, std::less<>>& commands() {
  static const std::map<std::string, CommandShape, std::less<>> table = {
      {"status", {0, 0, "status"}},
      {"health", {0, 0, "health"}},
      {"drain", {1, 1, "drain SERVER (an id or HOST:PORT)"}},
      {"undrain", {1, 1, "undrain SERVER"}},
      {"add", {1, 2, "add HOST:PORT [WEIGHT]"}},
      {"remove", {1, 1, "remove HOST:PORT"}},
      {"reload", {0, 0, "reload"}},
  };
  return table;
}

// Defaults from config.json where the flags leave them out.
std::string apply_config_defaults(CtlOptions& o, const std::string& config_path, bool admin_given,
                                  bool token_given) {
  const PeerConfig peer = load_peer_config(config_path, !admin_given || !token_given);
  if (!peer.error.empty()) return peer.error;
  if (!peer.config) {
    if (!admin_given) {
      o.admin = kDefaultAdmin;
      o.chosen = "the default (no config.json here)";
    }
    return {};
  }
  const LoadBalancerConfig& lb = peer.config->load_balancer;
  if (!admin_given) {
    o.admin = lb.admin_listen.to_string();
    if (lb.admin_listen.is_wildcard()) o.admin = "127.0.0.1:" + std::to_string(lb.admin_port);
    o.chosen = peer.path + " (load_balancer.admin_address, admin_port)";
  }
  if (!token_given) o.token_file = lb.admin_token_file;
  return {};
}

}  // namespace

CtlParse parse_ctl_command_line(int argc, const char* const* argv) {
  CtlOptions o;
  std::string config_path;
  bool admin_given = false, token_given = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (!o.command.empty() || arg.rfind("--", 0) != 0) {
      (o.command.empty() ? o.command : o.args.emplace_back()) = arg;
      continue;
    }
    if (arg == "--help" || arg == "-h") {
      o.show_help = true;
      return {o, {}};
    }
    if (arg == "--json") {
      o.json = true;
      continue;
    }
    std::string value;
    const auto equals = arg.find('=');
    if (equals != std::string::npos) {
      value = arg.substr(equals + 1);
      arg.resize(equals);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      return {std::nullopt, arg + " needs a value"};
    }
    if (arg == "--admin") {
      o.admin = value;
      admin_given = true;
    } else if (arg == "--token-file") {
      o.token_file = value;
      token_given = true;
    } else if (arg == "--config") {
      config_path = value;
    } else {
      return {std::nullopt, "unknown flag " + arg};
    }
  }
  if (o.command.empty()) return {std::nullopt, "no command given"};
  const auto shape = commands().find(o.command);
  if (shape == commands().end()) return {std::nullopt, "unknown command \"" + o.command + "\""};
  if (o.args.size() < shape->second.args_min || o.args.size() > shape->second.args_max)
    return {std::nullopt, std::string("usage: shortline-ctl ") + shape->second.usage};
  if (admin_given) o.chosen = "--admin";
  if (auto error = apply_config_defaults(o, config_path, admin_given, token_given); !error.empty())
    return {std::nullopt, error};
  return {o, {}};
}

std::string percent_encode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char c : text) {
    const auto b = static_cast<unsigned char>(c);
    const bool plain = (b >= 'A' && b <= 'Z') || (b >= 'a' && b <= 'z') || (b >= '0' && b <= '9') ||
                       b == '-' || b == '.' || b == '_' || b == '~';
    if (plain) out.push_back(c);
    else out.append({'%', kHex[b >> 4], kHex[b & 15]});
  }
  return out;
}

CtlRequest request_for(const CtlOptions& o) {
  const auto arg = [&o](std::size_t i) { return percent_encode(o.args.at(i)); };
  if (o.command == "status") return {"GET", "/api/status"};
  if (o.command == "health") return {"GET", "/healthz"};
  if (o.command == "drain") return {"POST", "/api/servers/drain?server=" + arg(0)};
  if (o.command == "undrain") return {"POST", "/api/servers/undrain?server=" + arg(0)};
  if (o.command == "add") {
    std::string path = "/api/backends?address=" + arg(0);
    if (o.args.size() > 1) path.append("&weight=").append(arg(1));
    return {"POST", path};
  }
  if (o.command == "remove") return {"POST", "/api/backends/remove?address=" + arg(0)};
  return {"POST", "/api/reload"};
}

std::string ctl_help_text() {
  return R"(usage: shortline-ctl [--admin HOST:PORT] [--token-file FILE] [--config FILE] COMMAND
Talks to a running shortline-lb's admin endpoint.

commands:
  status                 the servers: id, queue, state, speed, requests (--json: raw JSON)
  health                 exit 0 while the balancer serves (a server UP), else 1 and why;
                         for a routing daemon's check (answers within 2 s)
  drain SERVER           no new requests to SERVER (an id or HOST:PORT); placed flows finish
  undrain SERVER         SERVER takes new requests again
  add HOST:PORT [W]      add a static backend (weight W, 1 to 1000; default 1), or reweight it
  remove HOST:PORT       drain a static backend, then remove it
  reload                 re-read the balancer's config file (as SIGHUP does)

flags:
  --admin HOST:PORT      the admin endpoint (default: load_balancer.admin_address and
                         admin_port from ./config.json, else 127.0.0.1:54080)
  --token-file FILE      send this file's token (default: load_balancer.admin_token_file)
  --config FILE          read the defaults from FILE instead of ./config.json
  --json                 status: print the JSON the endpoint returned

Changes made here last until the balancer's next reload or restart: write them into its
config file to keep them. Exit status: 0 done, 1 refused or failed (health: not healthy),
2 usage, 3 unreachable.
)";
}

}  // namespace shortline::ctl

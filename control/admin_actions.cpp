// Admin actions: who may change things, the routes, and their JSON answers.
#include "control/admin_actions.h"

#include <httplib.h>
#include <sodium.h>

#include <charconv>
#include <fstream>

#include <nlohmann/json.hpp>

namespace shortline {
namespace {

constexpr const char* kJsonType = "application/json";
constexpr std::size_t kTokenFileBytesMax = 4096;

void answer(httplib::Response& response, const AdminAnswer& a) {
  response.status = a.http_status;
  response.set_header("Cache-Control", "no-store");
  const nlohmann::json body = {{"ok", a.http_status == 200}, {"message", a.message}};
  response.set_content(body.dump() + "\n", kJsonType);
}

bool tokens_equal(std::string_view given, std::string_view expected) {
  return given.size() == expected.size() &&
         sodium_memcmp(given.data(), expected.data(), given.size()) == 0;
}

// Why the request may not change anything, or "" when it may.
std::string refusal(const httplib::Request& request, const AdminActions& actions, int& status) {
  if (actions.token.empty()) {
    if (is_loopback_peer(request.remote_addr)) return {};
    status = 403;
    return "runtime changes from " + request.remote_addr +
           " are refused: off loopback they need load_balancer.admin_token_file";
  }
  constexpr std::string_view kBearer = "Bearer ";
  const std::string header = request.get_header_value("Authorization");
  status = 401;
  if (header.empty()) return "this needs \"Authorization: Bearer TOKEN\" (admin_token_file)";
  if (header.rfind(kBearer, 0) != 0 ||
      !tokens_equal(std::string_view(header).substr(kBearer.size()), actions.token))
    return "wrong admin token";
  return {};
}

// Runs `action` if the request may change things; answers either way.
template <typename Action>
void guarded(const httplib::Request& request, httplib::Response& response,
             const AdminActions& actions, Action action) {
  int status = 200;
  if (std::string why = refusal(request, actions, status); !why.empty()) {
    answer(response, {status, why});
    return;
  }
  answer(response, action());
}

AdminAnswer missing(const char* parameter) {
  return {400, std::string("missing parameter \"").append(parameter).append("\"")};
}

std::optional<uint32_t> parse_weight(const std::string& text) {
  uint32_t weight = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), weight);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return weight;
}

void install_server_routes(httplib::Server& server, const AdminActions& actions) {
  const auto on_server = [&actions](const auto& handler) {
    return [&actions, handler](const httplib::Request& request, httplib::Response& response) {
      guarded(request, response, actions, [&] {
        if (!request.has_param("server")) return missing("server");
        return handler(request.get_param_value("server"));
      });
    };
  };
  server.Post("/api/servers/drain", on_server([&actions](const std::string& s) { return actions.drain(s); }));
  server.Post("/api/servers/undrain",
              on_server([&actions](const std::string& s) { return actions.undrain(s); }));
}

void install_backend_routes(httplib::Server& server, const AdminActions& actions) {
  server.Post("/api/backends", [&actions](const httplib::Request& request, httplib::Response& response) {
    guarded(request, response, actions, [&] {
      if (!request.has_param("address")) return missing("address");
      uint32_t weight = 1;
      if (request.has_param("weight")) {
        const auto parsed = parse_weight(request.get_param_value("weight"));
        if (!parsed) return AdminAnswer{400, "weight must be an integer from 1 to 1000"};
        weight = *parsed;
      }
      return actions.add_backend(request.get_param_value("address"), weight);
    });
  });
  const auto remove = [&actions](const httplib::Request& request, httplib::Response& response) {
    guarded(request, response, actions, [&] {
      if (!request.has_param("address")) return missing("address");
      return actions.remove_backend(request.get_param_value("address"));
    });
  };
  server.Post("/api/backends/remove", remove);
  server.Delete("/api/backends", remove);
}

}  // namespace

bool is_loopback_peer(std::string_view address) {
  return address.starts_with("127.") || address == "::1" || address.starts_with("::ffff:127.");
}

std::optional<std::string> load_admin_token(const std::string& path, std::string& error) {
  std::ifstream file(path);
  std::string line;
  if (!file || !std::getline(file, line)) {
    error = "load_balancer.admin_token_file: cannot read \"" + path + "\"";
    return std::nullopt;
  }
  if (line.size() > kTokenFileBytesMax) line.resize(kTokenFileBytesMax);
  const auto first = line.find_first_not_of(" \t\r");
  const auto last = line.find_last_not_of(" \t\r");
  const std::string token = first == std::string::npos ? "" : line.substr(first, last - first + 1);
  if (token.size() < kTokenCharsMin) {
    error = "load_balancer.admin_token_file: the token in \"" + path + "\" is shorter than " +
            std::to_string(kTokenCharsMin) + " characters";
    return std::nullopt;
  }
  return token;
}

void install_admin_actions(httplib::Server& server, const AdminActions& actions) {
  if (!actions.enabled()) return;
  install_server_routes(server, actions);
  install_backend_routes(server, actions);
  server.Post("/api/reload", [&actions](const httplib::Request& request, httplib::Response& response) {
    guarded(request, response, actions, [&] { return actions.reload(); });
  });
}

}  // namespace shortline

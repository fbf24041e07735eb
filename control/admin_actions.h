// The admin endpoint's runtime changes: POST /api/servers/drain and /undrain (?server=ID
// or ADDRESS), POST /api/backends (?address=A&weight=W) and POST /api/backends/remove
// (?address=A; DELETE /api/backends too), POST /api/reload. Each answers JSON
// {"ok":bool,"message":"..."} with 200, 400, 401, 403, 404, 409 or 500. With a token every
// change needs "Authorization: Bearer TOKEN"; without one, only loopback peers may change
// anything (reads stay open to whoever reaches the port).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace httplib {
class Server;
}

namespace shortline {

struct AdminAnswer {
  int http_status = 200;  // 200 ok, 400 bad request, 404 not found, 409 conflict, 500 failed
  std::string message;
};

struct AdminActions {
  std::function<AdminAnswer(std::string_view server)> drain;
  std::function<AdminAnswer(std::string_view server)> undrain;
  std::function<AdminAnswer(std::string_view address, uint32_t weight)> add_backend;
  std::function<AdminAnswer(std::string_view address)> remove_backend;
  std::function<AdminAnswer()> reload;
  std::string token;  // "" = changes only from loopback peers
  [[nodiscard]] bool enabled() const { return static_cast<bool>(reload); }
};

// Reads an admin token file: the first line, surrounding white space trimmed, at least
// kTokenCharsMin characters. nullopt and `error` set when unreadable or too short.
inline constexpr std::size_t kTokenCharsMin = 16;
[[nodiscard]] std::optional<std::string> load_admin_token(const std::string& path,
                                                          std::string& error);
// Whether an HTTP peer address (as the server reports it, no port) is loopback.
[[nodiscard]] bool is_loopback_peer(std::string_view address);

// Installs the routes above (admin_http.cpp calls it).
void install_admin_actions(httplib::Server& server, const AdminActions& actions);

}  // namespace shortline

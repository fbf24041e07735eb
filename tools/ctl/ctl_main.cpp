// shortline-ctl: one command to a running balancer's admin endpoint, its answer printed.
#include <httplib.h>

#include <cstdio>
#include <fstream>

#include <nlohmann/json.hpp>

#include "dataplane/net_address.h"
#include "tools/ctl/ctl_options.h"
#include "tools/ctl/ctl_status_table.h"

namespace {

constexpr int kExitRefused = 1;
constexpr int kExitUsage = 2;
constexpr int kExitUnreachable = 3;
constexpr time_t kTimeoutS = 10;
// health: a routing daemon's check runs every few seconds and must not hang on a balancer
// that accepts connections but does not answer; no answer in time counts as unreachable.
constexpr time_t kHealthTimeoutS = 2;

int usage_error(const std::string& error) {
  std::fprintf(stderr, "shortline-ctl: %s\n(see shortline-ctl --help)\n", error.c_str());
  return kExitUsage;
}

// The token file's first line, trimmed ("" and `error` set when unreadable).
std::string read_token(const std::string& path, std::string& error) {
  std::ifstream file(path);
  std::string line;
  if (!file || !std::getline(file, line)) {
    error = "cannot read the token file \"" + path + "\"";
    return {};
  }
  const auto first = line.find_first_not_of(" \t\r");
  const auto last = line.find_last_not_of(" \t\r");
  return first == std::string::npos ? "" : line.substr(first, last - first + 1);
}

// The message of an action's JSON answer, or the body as it came.
std::string answer_message(const std::string& body) {
  const auto json = nlohmann::json::parse(body, nullptr, false);
  if (json.is_object() && json.contains("message") && json["message"].is_string())
    return json["message"].get<std::string>();
  return body;
}

// 200: "ok" on stdout, exit 0. 503 (or anything else): the reason on stderr, exit 1.
int print_health(const httplib::Result& result) {
  std::string reason = result->body;
  while (!reason.empty() && (reason.back() == '\n' || reason.back() == '\r')) reason.pop_back();
  if (result->status == 200) {
    std::printf("%s\n", reason.c_str());
    return 0;
  }
  std::fprintf(stderr, "shortline-ctl: not healthy (HTTP %d): %s\n", result->status,
               reason.c_str());
  return kExitRefused;
}

int print_status(const std::string& body, bool raw) {
  if (raw) {
    std::printf("%s\n", body.c_str());
    return 0;
  }
  std::string error;
  const std::string table = shortline::ctl::status_table(body, error);
  if (!error.empty()) {
    std::fprintf(stderr, "shortline-ctl: %s\n", error.c_str());
    return kExitRefused;
  }
  std::printf("%s", table.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const auto parsed = shortline::ctl::parse_ctl_command_line(argc, argv);
  if (!parsed.options) return usage_error(parsed.error);
  const auto& o = *parsed.options;
  if (o.show_help) {
    std::printf("%s", shortline::ctl::ctl_help_text().c_str());
    return 0;
  }
  const auto admin = shortline::NetAddress::parse(o.admin);
  if (!admin || admin->port() == 0) return usage_error("--admin: \"" + o.admin + "\" is not HOST:PORT");
  httplib::Client client(admin->host(), admin->port());
  const time_t timeout_s = o.command == "health" ? kHealthTimeoutS : kTimeoutS;
  client.set_connection_timeout(timeout_s);
  client.set_read_timeout(timeout_s);
  if (!o.token_file.empty()) {
    std::string error;
    const std::string token = read_token(o.token_file, error);
    if (!error.empty()) return usage_error(error);
    client.set_bearer_token_auth(token);
  }
  const auto request = shortline::ctl::request_for(o);
  const auto result = request.method == "GET" ? client.Get(request.path)
                                              : client.Post(request.path, "", "text/plain");
  if (!result) {
    std::fprintf(stderr, "shortline-ctl: cannot reach the admin endpoint at %s (from %s): %s\n",
                 o.admin.c_str(), o.chosen.c_str(), httplib::to_string(result.error()).c_str());
    return kExitUnreachable;
  }
  if (o.command == "health") return print_health(result);
  if (o.command == "status" && result->status == 200) return print_status(result->body, o.json);
  const std::string message = answer_message(result->body);
  std::fprintf(result->status == 200 ? stdout : stderr, "%s%s\n",
               result->status == 200 ? "" : "shortline-ctl: refused: ", message.c_str());
  return result->status == 200 ? 0 : kExitRefused;
}

// StatusPoller: the one place the controller speaks HTTP (cpp-httplib's client).
#include <httplib.h>

#include "control/controller/live_view.h"

namespace shortline::controller {

namespace {
constexpr time_t kConnectTimeoutUs = 200'000;
constexpr time_t kReadTimeoutUs = 500'000;

// "127.0.0.1" or "::1" (httplib wants the host without brackets).
std::string host_of(const NetAddress& address) {
  std::string text = address.to_string();
  const auto colon = text.rfind(':');
  text = text.substr(0, colon);
  if (text.size() > 2 && text.front() == '[') text = text.substr(1, text.size() - 2);
  return text;
}
}  // namespace

struct StatusPoller::Client {
  explicit Client(const NetAddress& admin) : http(host_of(admin), admin.port()) {
    http.set_connection_timeout(0, kConnectTimeoutUs);
    http.set_read_timeout(0, kReadTimeoutUs);
    http.set_keep_alive(true);
  }
  httplib::Client http;
};

StatusPoller::StatusPoller(const NetAddress& admin)
    : client_(std::make_unique<Client>(admin)), endpoint_(admin.to_string()) {}

StatusPoller::~StatusPoller() = default;

std::optional<std::string> StatusPoller::fetch() {
  const auto result = client_->http.Get("/api/status");
  if (!result || result->status != 200) return std::nullopt;
  return result->body;
}

}  // namespace shortline::controller

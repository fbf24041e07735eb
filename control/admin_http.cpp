// The admin HTTP endpoint on cpp-httplib: GET routes over a status provider, the action
// routes (admin_actions.cpp), a small pool of threads of its own, and the history sampler
// (status_history.h) beside them. httplib is included here and in admin_actions.cpp only,
// so its heavy header and its OpenSSL defines stay out of every other translation unit.
#include "control/admin_http.h"
#include "control/lb_health.h"

#include <httplib.h>
#include <sys/socket.h>

#include <cassert>
#include <charconv>
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
  explicit State(const HistoryLimits& limits) : history(limits) {}

  httplib::Server server;
  StatusProvider provider;
  AdminActions actions;
  std::mutex provider_mutex;  // the provider is never called twice at once
  std::thread thread;
  StatusHistory history;      // the last 15 minutes, for /api/history and the live page
  HistorySampler sampler;     // feeds it once a second through the same provider

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
    server.Get("/api/history", [this](const httplib::Request& request,
                                      httplib::Response& response) {
      response.set_header("Cache-Control", "no-store");
      response.set_content(history.to_json(since_unix_ms(request)), kJsonType);
    });
    install_health_route();
    server.Get("/", [](const httplib::Request&, httplib::Response& response) {
      response.set_content(std::string(admin_page_html()), kHtmlType);
    });
    // Routing misses (404) and bad methods get a short text body instead of an empty one.
    install_admin_actions(server, actions);
    server.set_error_handler([](const httplib::Request&, httplib::Response& response) {
      if (!response.body.empty()) return;
      std::string text = std::to_string(response.status);
      if (response.status == 404)
        text.append(" not found: try /, /metrics, /api/status, /api/history or /healthz\n");
      else if (response.status == 400) text.append(" bad request (a POST needs Content-Length)\n");
      else text.append(" error\n");
      response.set_content(text, kTextType);
    });
  }

  // GET /healthz: 200 "ok" while this balancer would serve a packet routed to it, else 503
  // and the reason (control/lb_health.h), for a routing daemon's check.
  void install_health_route() {
    server.Get("/healthz", [this](const httplib::Request&, httplib::Response& response) {
      const auto current = status(response);
      if (!current) return;
      const HealthVerdict verdict = health_verdict(*current);
      response.status = verdict.healthy ? 200 : 503;
      response.set_header("Cache-Control", "no-store");
      response.set_content(verdict.reason + "\n", kTextType);
    });
  }

  // The samples a page already has are skipped: /api/history?since=<newest time it holds>.
  // A missing or malformed value asks for everything.
  static int64_t since_unix_ms(const httplib::Request& request) {
    const std::string text = request.get_param_value("since");
    int64_t since = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), since);
    return error == std::errc{} && end == text.data() + text.size() ? since : 0;
  }

  void start_sampler() {
    sampler.start(history, [this] {
      const std::scoped_lock lock(provider_mutex);
      return provider();
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
                               AdminActions actions, std::optional<HistoryLimits> history) {
  assert(!state_ && "AdminServer::start is called once");
  assert(provider);
  if (address.family() != AF_INET && address.family() != AF_INET6)
    return "admin: no address to bind";
  // Without history the ring is a single slot that stays empty.
  auto state = std::make_unique<State>(history.value_or(HistoryLimits{1, 0, 1000}));
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
  if (history) state_->start_sampler();
  return {};
}

void AdminServer::stop() {
  if (!state_) return;
  state_->sampler.stop();  // before the server: it calls the same provider
  state_->server.stop();
  if (state_->thread.joinable()) state_->thread.join();
  state_.reset();
}

}  // namespace shortline

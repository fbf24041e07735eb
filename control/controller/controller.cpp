// The controller's start-up, main loop and shutdown.
#include "control/controller/controller.h"

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "control/controller/command_template.h"
#include "control/service_notify.h"

namespace shortline::controller {
namespace {

constexpr int64_t kTickMs = 1000;          // live view and history: once a second
constexpr std::size_t kHistoryMax = 3600;  // server count samples kept: an hour
constexpr int kPollMsMax = 100;            // the loop wakes at least this often
constexpr int64_t kBalancerStartWaitMs = 10'000;
constexpr double kDemoPeakServers = 3.5;  // default demo peak: this many servers' capacity

// At most three decimals, trailing zeros dropped: "87.5", "4.8", "10".
std::string number_text(double value) {
  char text[48];
  const auto result = std::to_chars(text, text + sizeof(text), value, std::chars_format::fixed, 3);
  std::string out(text, result.ptr);
  while (out.find('.') != std::string::npos && (out.back() == '0' || out.back() == '.'))
    out.pop_back();
  return out;
}

// The loopback address of a wildcard listen address, so that children can reach it.
NetAddress reachable(NetAddress address) {
  const std::string text = address.to_string();
  if (text.starts_with("0.0.0.0:"))
    return *NetAddress::parse("127.0.0.1:" + std::to_string(address.port()));
  if (text.starts_with("[::]:"))
    return *NetAddress::parse("[::1]:" + std::to_string(address.port()));
  return address;
}

std::string read_from(const std::string& path, std::uintmax_t offset) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return {};
  file.seekg(static_cast<std::streamoff>(offset));
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
}

std::uintmax_t size_of(const std::string& path) {
  std::error_code error;
  const auto size = std::filesystem::file_size(path, error);
  return error ? 0 : size;
}

// Where the servers started here reach this controller's balancer: its control_address,
// else loopback (the balancer runs on this host) in the listen address's family.
std::string own_balancer_address(const LoadBalancerConfig& balancer) {
  std::string host = balancer.listen_address == "::1" ? "::1" : "127.0.0.1";
  if (!balancer.control_address.empty()) host = balancer.control_address;
  const auto address = compose_address(host, balancer.server_side_port);
  return address ? address->to_string() : host;  // the loader has checked the host
}

}  // namespace

std::string make_pool_settings(const Config& config, const ControllerOptions& options,
                               PoolSettings& settings) {
  const auto& controller = config.controller;
  const std::string& key_file = config.load_balancer.auth_key_file;
  settings.command = controller.server_command;
  if (settings.command.empty()) {
    settings.command = kDefaultServerCommand;
    if (!key_file.empty()) settings.command.append(kAuthArguments);
    // The other balancers in front of this pool: a server reports to each of them.
    for (const NetAddress& other : controller.balancers)
      settings.command.append(" --balancer ").append(other.to_string());
  }
  if (const auto problem = check_command_template(settings.command); !problem.empty()) {
    return "config: controller.server_command: \"" + controller.server_command +
           "\" is not allowed: expected a command with known {placeholders} (" + problem + ")";
  }
  settings.host = controller.server_host;
  settings.values = {
      {"bin_dir", options.bin_dir},
      {"balancer", own_balancer_address(config.load_balancer)},
      {"host", settings.host},
      {"log_dir", options.log_dir},
      {"service_ms", number_text(controller.server_service_ms)},
      {"service_dist", controller.server_service_distribution},
      {"workers", std::to_string(controller.server_workers)},
      {"auth_key_file", key_file}};
  settings.output_dir = options.log_dir + "/servers";
  settings.backoff.base_ms = controller.restart_backoff_ms;
  settings.backoff.max_ms = controller.restart_backoff_max_ms;
  settings.stop_timeout_ms = controller.stop_timeout_ms;
  // The balancers' own cooldown: each waits this long after a reply, so only a second
  // balancer asking for the same load lands inside it.
  settings.add_window_ms = config.load_balancer.scale_cooldown_ms;
  return {};
}

std::string load_auth_key(const Config& config, std::optional<wire::AuthKey>& key) {
  const std::string& path = config.load_balancer.auth_key_file;
  if (path.empty()) return {};
  std::string error;
  key = wire::AuthKey::load_file(path, error);
  return key ? std::string() : "config: load_balancer.auth_key_file: " + error;
}

Controller::Controller(const Config& config, ControllerOptions options, PoolSettings pool_settings,
                       std::optional<wire::AuthKey> auth_key, ControllerLog& log)
    : config_(config),
      options_(std::move(options)),
      log_(log),
      auth_key_(std::move(auth_key)),
      pool_(ServerPool({config.server.start_id, config.server.port_range_start,
                        config.server.port_range_end, config.load_balancer.min_servers,
                        config.load_balancer.max_servers_running},
                       [host = config.controller.server_host](uint16_t port) {
                         return udp_port_bindable(host, port);
                       }),
            pool_settings, supervisor_, log),
      balancer_backoff_(pool_settings.backoff) {
  listener_ = std::make_unique<ScaleListener>(auth_key_ ? &*auth_key_ : nullptr);
  const auto& balancer = config_.load_balancer;
  if (options_.demo && balancer.admin_enabled && balancer.admin_port != 0)
    poller_ = std::make_unique<StatusPoller>(reachable(balancer.admin_listen));
  is_tty_ = isatty(STDOUT_FILENO) == 1;
}

double Controller::elapsed_s(int64_t now_ms) const {
  return static_cast<double>(now_ms - start_ms_) / 1000.0;
}

std::string Controller::client_target() const {
  return reachable(config_.load_balancer.dataplane.listen).to_string();
}

std::string Controller::start_balancer(int64_t now_ms) {
  ChildSpec spec;
  spec.role = ChildRole::balancer;
  // Its events land in <log dir>/balancer/balancer.log beside its stdout.
  spec.argv = {options_.bin_dir + "/shortline-lb", "--config", options_.config_path,
               "--log-dir", options_.log_dir};
  spec.output_path = options_.log_dir + "/balancer/shortline-lb.out";
  const auto offset = size_of(spec.output_path);
  std::string error;
  balancer_pid_ = supervisor_.spawn(spec, now_ms, error);
  if (balancer_pid_ < 0) return "cannot start shortline-lb: " + error;
  // Wait until it listens, so that servers report to a balancer that is there.
  const int64_t give_up_ms = monotonic_ms() + kBalancerStartWaitMs;
  while (monotonic_ms() < give_up_ms) {
    if (read_from(spec.output_path, offset).find("listening on") != std::string::npos) {
      log_.write("started shortline-lb (pid " + std::to_string(balancer_pid_) +
                 "), clients send to " + client_target());
      return {};
    }
    for (const auto& exit : supervisor_.reap(monotonic_ms())) {
      if (exit.pid != balancer_pid_) {  // a server or client: handled by the main loop
        pending_exits_.push_back(exit);
        continue;
      }
      balancer_pid_ = -1;
      std::string output = read_from(spec.output_path, offset);
      while (!output.empty() && output.back() == '\n') output.pop_back();
      return "shortline-lb exited at start (" + describe_status(exit.status) + "): " + output;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  // Stop the one that never listened, so that a restart does not start a second beside it.
  const uint32_t stop_timeout_ms = config_.controller.stop_timeout_ms;
  for (const auto& exit : supervisor_.stop_role(ChildRole::balancer, stop_timeout_ms))
    if (exit.role != ChildRole::balancer) pending_exits_.push_back(exit);  // for the main loop
  balancer_pid_ = -1;
  return "shortline-lb did not start listening within 10 s (see " + spec.output_path + ")";
}

std::string Controller::start() {
  start_ms_ = monotonic_ms();
  next_tick_ms_ = start_ms_ + kTickMs;
  std::string error;
  if (!listener_->open(controller_endpoint(config_.controller), error)) return error;
  if (error = start_balancer(start_ms_); !error.empty()) return error;
  const auto& limits = config_.load_balancer;
  const uint32_t count =
      std::clamp(config_.server.count, limits.min_servers, limits.max_servers_running);
  if (count != config_.server.count)
    log_.write("server.count " + std::to_string(config_.server.count) + " is outside " +
               "load_balancer.min_servers..max_servers_running: starting " + std::to_string(count));
  if (error = pool_.start(count, monotonic_ms()); !error.empty()) return error;
  if (options_.demo) {
    const double capacity_rps =
        1000.0 / config_.controller.server_service_ms * config_.controller.server_workers;
    const double peak_rps =
        options_.demo_rate_rps > 0 ? options_.demo_rate_rps : kDemoPeakServers * capacity_rps;
    for (const auto& plan : plan_demo_load(config_.client.count, config_.client.start_id,
                                           options_.duration_s, peak_rps)) {
      clients_.push_back(
          {plan, false, false,
           options_.log_dir + "/clients/client-" + std::to_string(plan.id) + ".json"});
    }
    log_.write("demo: " + std::to_string(clients_.size()) + " clients, peak " +
               number_text(peak_rps) + " req/s (one server serves about " +
               number_text(capacity_rps) + "), " + number_text(options_.duration_s) + " s");
  }
  log_.write("listening for ScaleRequests on " +
             controller_endpoint(config_.controller).to_string());
  return {};
}

void Controller::start_due_clients(int64_t now_ms) {
  for (auto& client : clients_) {
    if (client.started || elapsed_s(now_ms) < client.plan.start_s) continue;
    client.started = true;
    std::error_code ignored;
    std::filesystem::remove(client.output_path, ignored);
    ChildSpec spec;
    spec.role = ChildRole::client;
    spec.id = client.plan.id;
    spec.argv = {options_.bin_dir + "/shortline-client",
                 "--target",
                 client_target(),
                 "--rate",
                 number_text(client.plan.rate_rps),
                 "--duration",
                 number_text(client.plan.duration_s),
                 "--timeout-ms",
                 "1000",
                 "--retries",
                 "3",
                 "--id",
                 std::to_string(client.plan.id),
                 "--json",
                 "--log-dir",
                 options_.log_dir};
    spec.output_path = client.output_path;
    std::string error;
    const pid_t pid = supervisor_.spawn(spec, now_ms, error);
    client.finished = pid < 0;
    log_.write(pid < 0 ? "cannot start client " + std::to_string(spec.id) + ": " + error
                       : "started client " + std::to_string(spec.id) + " at " +
                             number_text(client.plan.rate_rps) + " req/s for " +
                             number_text(client.plan.duration_s) + " s");
  }
}

void Controller::on_balancer_exit(const ChildExit& exit, int64_t now_ms) {
  balancer_pid_ = -1;
  schedule_balancer_restart("shortline-lb crashed (" + describe_status(exit.status) + ")",
                            exit.ran_ms, now_ms);
}

void Controller::schedule_balancer_restart(const std::string& why, int64_t ran_ms,
                                           int64_t now_ms) {
  const uint32_t attempt = balancer_backoff_.next_attempt(balancer_restart_attempt_, ran_ms);
  const uint32_t delay_ms = balancer_backoff_.delay_ms(attempt);
  balancer_restart_attempt_ = attempt + 1;
  balancer_restart_at_ms_ = now_ms + delay_ms;
  listener_->forget_replies();  // a new balancer counts its sequences from the start
  log_.write(why + "; restart in " + std::to_string(delay_ms) + " ms");
}

void Controller::handle_exits(const std::vector<ChildExit>& exits, int64_t now_ms) {
  for (const auto& exit : exits) {
    if (exit.role == ChildRole::server) {
      pool_.on_exit(exit, now_ms);
    } else if (exit.role == ChildRole::balancer) {
      on_balancer_exit(exit, now_ms);
    } else {
      for (auto& client : clients_)
        if (client.plan.id == exit.id) client.finished = true;
      log_.write("client " + std::to_string(exit.id) + " finished (" +
                 describe_status(exit.status) + ")");
    }
  }
  if (balancer_restart_at_ms_ >= 0 && now_ms >= balancer_restart_at_ms_) {
    balancer_restart_at_ms_ = -1;
    ++balancer_restarts_;
    if (const auto error = start_balancer(now_ms); !error.empty())
      schedule_balancer_restart(error, 0, monotonic_ms());
  }
}

void Controller::tick_second(int64_t now_ms) {
  next_tick_ms_ += kTickMs;
  if (next_tick_ms_ <= now_ms) next_tick_ms_ = now_ms + kTickMs;  // after a long stall
  if (server_count_history_.size() == kHistoryMax)
    server_count_history_.erase(server_count_history_.begin());
  server_count_history_.push_back(pool_.pool().active());
  if (options_.demo) render_view(now_ms);
}

void Controller::render_view(int64_t now_ms) {
  ViewFrame frame;
  frame.elapsed_s = elapsed_s(now_ms);
  frame.duration_s = options_.duration_s;
  std::vector<ClientPlan> plans;
  for (const auto& client : clients_) plans.push_back(client.plan);
  frame.offered_rps = offered_rps(plans, frame.elapsed_s);
  frame.servers_min = config_.load_balancer.min_servers;
  frame.servers_max = config_.load_balancer.max_servers_running;
  frame.servers_running = pool_.pool().active();
  std::optional<std::vector<ViewServer>> servers;
  if (poller_)
    if (const auto body = poller_->fetch()) servers = parse_status_servers(*body);
  frame.source = servers ? "from the balancer at " + poller_->endpoint()
                         : std::string("the controller's view; balancer status unreachable");
  frame.servers = servers ? std::move(*servers) : pool_.view();
  frame.server_count_history = server_count_history_;
  frame.events = log_.recent();
  const std::string text = render_frame(frame);
  std::fputs(is_tty_ ? "\x1b[H\x1b[J" : "\n", stdout);
  std::fputs(text.c_str(), stdout);
  std::fflush(stdout);
}

int Controller::run(const volatile std::sig_atomic_t& stop_requested) {
  const auto execute = [this](const wire::ScaleRequest& request, std::string_view sender) {
    return pool_.execute(request, monotonic_ms(), sender);
  };
  while (stop_requested == 0) {
    int64_t now_ms = monotonic_ms();
    if (options_.duration_s > 0 && elapsed_s(now_ms) >= options_.duration_s) break;
    pollfd socket{listener_->fd(), POLLIN, 0};
    const int wait_ms =
        static_cast<int>(std::clamp<int64_t>(next_tick_ms_ - now_ms, 0, kPollMsMax));
    if (poll(&socket, 1, wait_ms) > 0) listener_->drain(execute);
    now_ms = monotonic_ms();
    auto exits = supervisor_.reap(now_ms);
    exits.insert(exits.end(), pending_exits_.begin(), pending_exits_.end());
    pending_exits_.clear();
    handle_exits(exits, now_ms);
    supervisor_.enforce_deadlines(now_ms);
    pool_.restart_due(now_ms);
    start_due_clients(now_ms);
    if (now_ms >= next_tick_ms_) tick_second(now_ms);
  }
  log_.write(stop_requested != 0 ? "stop requested" : "duration reached");
  shut_down();
  print_summary(monotonic_ms());
  return 0;
}

void Controller::shut_down() {
  service::notify_stopping();
  log_.write("stopping " + std::to_string(supervisor_.running(ChildRole::client)) + " clients, " +
             std::to_string(supervisor_.running(ChildRole::server)) + " servers and " +
             std::to_string(supervisor_.running(ChildRole::balancer)) + " balancer");
  for (const auto& exit : supervisor_.stop_all(config_.controller.stop_timeout_ms)) {
    std::string line(role_name(exit.role));  // by append: gcc 12 -Wrestrict false positive
    if (exit.role != ChildRole::balancer) line.append(" ").append(std::to_string(exit.id));
    line.append(" stopped (").append(describe_status(exit.status));
    log_.write(line.append(exit.killed ? ", killed)" : ")"));
  }
  log_.write(supervisor_.running() == 0
                 ? "every child stopped"
                 : std::to_string(supervisor_.running()) + " children did not exit");
}

}  // namespace shortline::controller

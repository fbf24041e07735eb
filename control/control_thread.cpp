// The control thread's sockets, loop and status picture.
#include "control/control_thread.h"

#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <utility>

#include "dataplane/monotonic_clock.h"

namespace shortline {
namespace {

constexpr int kPollTimeoutMs = 1;               // the tick: health checks run at least this often
constexpr int kReceivesPerWakeMax = 256;        // bounded work per wake-up
// Wake-ups further apart than this mean the thread was not scheduled (the tick is 1 ms).
constexpr int64_t kUnwatchedGapMs = 10;
constexpr int64_t kReclaimIntervalMs = 100;     // frees retired pool snapshots
constexpr int kReceiveBufferBytes = 1 << 20;    // reports from many servers every few ms
constexpr uint32_t kSenderIdTag = 0x4C420000u;  // "LB": auth sender id = tag | control port

int64_t steady_ms() { return static_cast<int64_t>(monotonic_ns() / 1'000'000); }

std::string_view state_name(ServerState state) {
  switch (state) {
    case ServerState::up:
      return "up";
    case ServerState::draining:
      return "draining";
    case ServerState::down:
    case ServerState::silent:  // health says why
      return "down";
    case ServerState::probing:
      return "probing";
  }
  return "unknown";
}

// The auth sender id of this balancer's ScaleRequests. The controller's replay guard keeps
// one sequence per id, so balancers on several hosts need ids of their own: with a
// control_address (the host's unicast address) the id is a hash of it and the port, else
// (one host) the tag and the port.
uint32_t scale_sender_id(const LoadBalancerConfig& lb) {
  if (lb.control_address.empty()) return kSenderIdTag | lb.server_side_port;
  uint32_t hash = 2166136261u;  // FNV-1a
  for (const char c : lb.control_address + ":" + std::to_string(lb.server_side_port))
    hash = (hash ^ static_cast<uint8_t>(c)) * 16777619u;
  return hash;
}

void set_scaling(const LoadBalancerConfig& lb, ScalingConfig& scaling) {
  scaling.threshold = lb.server_scaling_threshold;
  scaling.min_servers = lb.min_servers;
  scaling.max_servers = lb.max_servers_running;
  scaling.scale_up_hold_ms = lb.scale_up_hold_ms;
  scaling.scale_down_idle_ms = lb.scale_down_idle_ms;
  scaling.scale_cooldown_ms = lb.scale_cooldown_ms;
}

}  // namespace

std::optional<ControlThreadConfig> make_control_config(const Config& config, std::string& error) {
  const LoadBalancerConfig& lb = config.load_balancer;
  ControlThreadConfig c;
  c.bind = lb.dataplane.listen;  // the listen address's family and host, unless set apart
  if (!lb.control_address.empty()) {
    const auto control = compose_address(lb.control_address, lb.server_side_port);
    if (!control) {
      error = std::string("load_balancer.control_address: cannot be composed");
      return std::nullopt;
    }
    c.bind = *control;
  }
  c.bind.set_port(lb.server_side_port);
  c.control_port_optional = !lb.dataplane.backends.empty();
  c.ingest.report_interval_ms = lb.report_interval_ms;
  c.ingest.missed_reports = lb.missed_reports;
  c.ingest.allowed_sources = lb.control_allowed_sources;
  c.ingest.one_way = lb.dataplane.responses_per_request == 0;
  c.ingest.learn_speed = lb.learn_speed;
  c.ingest.slow_start_ms = lb.slow_start_ms;
  PassiveHealthConfig& passive = c.ingest.passive;
  passive.timeouts_down = lb.timeouts_down;
  passive.probe_interval_ms = lb.health_probe_interval_ms;
  passive.request_timeout_ms = lb.dataplane.request_timeout_ms;
  passive.outlier_failure_ratio = lb.outlier_failure_ratio;
  passive.outlier_interval_ms = lb.outlier_interval_ms;
  passive.outlier_ejection_ms = lb.outlier_ejection_ms;
  passive.outlier_max_ejected_percent = lb.outlier_max_ejected_percent;
  if (!lb.auth_key_file.empty()) {
    std::string reason;
    c.ingest.key = wire::AuthKey::load_file(lb.auth_key_file, reason);
    if (!c.ingest.key) {
      error = std::string("load_balancer.auth_key_file: ").append(reason);
      return std::nullopt;
    }
  }
  c.health_check = lb.health_check;
  set_scaling(lb, c.scaling);
  c.scale.controller_port = config.controller.port;
  c.scale.controller_host = config.controller.address;
  c.scale.key = c.ingest.key;
  c.scale.sender_id = scale_sender_id(lb);
  return c;
}

ControlThread::ControlThread(Balancer& balancer, ControlThreadConfig config)
    : balancer_(balancer),
      config_(std::move(config)),
      started_ms_(steady_ms()),
      ingest_(balancer.servers(), config_.ingest, counters_),
      scale_(config_.scale, counters_) {}

ControlThread::~ControlThread() {
  stop();
  if (control_fd_ >= 0) ::close(control_fd_);
  if (adopted_fd_ >= 0) ::close(adopted_fd_);
}

std::string ControlThread::start() {
  std::string error;
  const NetAddress& bind = config_.bind;
  const bool adopted = adopted_fd_ >= 0;  // bound already, and its queue comes with it
  if (adopted) control_fd_ = std::exchange(adopted_fd_, -1);
  else control_fd_ = ::socket(bind.family(), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (control_fd_ < 0 ||
      (!adopted && ::bind(control_fd_, bind.sockaddr_ptr(), bind.length) != 0)) {
    const int failure = errno;  // to_string() below may overwrite errno
    error = std::string("control port ").append(bind.to_string()).append(": ");
    error.append(std::strerror(failure));
    if (control_fd_ >= 0) ::close(control_fd_);
    control_fd_ = -1;
    if (!config_.control_port_optional) return error;
  } else {
    (void)::setsockopt(control_fd_, SOL_SOCKET, SO_RCVBUF, &kReceiveBufferBytes,
                       sizeof(kReceiveBufferBytes));
    socklen_t length = sizeof(control_address_.storage);
    ::getsockname(control_fd_, control_address_.sockaddr_ptr(), &length);
    control_address_.length = length;
  }
  if (auto scale_error = scale_.open(); !scale_error.empty()) return scale_error;
  {
    std::lock_guard lock(mutex_);
    ingest_.adopt_static_backends(steady_ms());
    if (auto check_error = start_health_checks(steady_ms()); !check_error.empty())
      return check_error;
  }
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "sl-control");
    run();
  });
  return error;
}

// Caller holds mutex_. Every static backend is checked (servers that report have reports).
std::string ControlThread::start_health_checks(int64_t now_ms) {
  if (!config_.health_check.enabled()) return {};
  checker_.emplace(config_.health_check);
  for (const uint32_t slot : ingest_.slots()) {
    const ServerEntry& e = ingest_.entry(slot);
    if (!e.is_static || e.retiring) continue;
    if (auto failure = checker_->add_target(slot, e.address, now_ms); !failure.empty())
      return failure;
  }
  return {};
}

// Caller holds mutex_.
void ControlThread::run_health_checks(int64_t now_ms) {
  if (!checker_) return;
  checker_->tick(now_ms);
  for (const auto& t : checker_->take_transitions())
    ingest_.on_health_check(t.slot, t.healthy, t.reason, now_ms);
}

// Caller holds mutex_. Logs a stall when it is first seen and again when it ends.
void ControlThread::check_workers(int64_t now_ms, std::vector<std::string>& events) {
  liveness_.check(balancer_.servers(), now_ms);
  const bool stalled = !liveness_.stalled().empty();
  if (stalled == workers_stalled_) return;
  workers_stalled_ = stalled;
  if (!stalled) {
    events.emplace_back("workers: every worker takes batches again");
    return;
  }
  std::string line("workers: stalled, no batch for ");
  line.append(std::to_string(liveness_.stalled_for_ms())).append(" ms:");
  for (uint32_t w : liveness_.stalled()) line.append(" worker ").append(std::to_string(w));
  events.push_back(std::move(line));
}

std::vector<std::pair<std::string, uint64_t>> ControlThread::counters() const {
  auto out = counters_.named();
  std::lock_guard lock(mutex_);
  for (std::size_t c = 0; c < kHealthCheckCounterCount; ++c)
    out.emplace_back(std::string(kHealthCheckCounterInfo[c].name),
                     checker_ ? checker_->counter(static_cast<HealthCheckCounter>(c)) : 0);
  return out;
}

void ControlThread::stop() {
  stop_.store(true, std::memory_order_release);
  if (thread_.joinable()) thread_.join();
}

void ControlThread::run() {
  std::array<pollfd, 2> fds{};
  nfds_t count = 0;
  if (control_fd_ >= 0) fds[count++] = {control_fd_, POLLIN, 0};
  if (scale_.fd() >= 0) fds[count++] = {scale_.fd(), POLLIN, 0};
  std::vector<std::string> events;
  int64_t woke_ms = steady_ms();
  while (!stop_.load(std::memory_order_acquire)) {
    (void)::poll(fds.data(), count, kPollTimeoutMs);  // also the tick when nothing arrives
    const int64_t now_ms = steady_ms();
    {
      std::lock_guard lock(mutex_);
      // On a stalled host the servers were paused too: their reports are due only now.
      if (now_ms - woke_ms > kUnwatchedGapMs) ingest_.discount_unwatched(now_ms - woke_ms);
      step(now_ms, events);
    }
    woke_ms = now_ms;
    if (event_sink_)
      for (const auto& line : events) event_sink_(line);
    events.clear();
  }
}

void ControlThread::step(int64_t now_ms, std::vector<std::string>& events) {
  if (control_fd_ >= 0) receive_reports(now_ms);
  if (const auto reply = scale_.on_readable(now_ms)) {
    std::string line("scale: reply ");
    line.append(wire::name(reply->result));
    if (reply->server_id != 0) line.append(", server ").append(std::to_string(reply->server_id));
    if (reply->address.family() != 0) line.append(" at ").append(reply->address.to_string());
    events.push_back(std::move(line));
  }
  run_health_checks(now_ms);
  check_workers(now_ms, events);
  ingest_.tick(now_ms);
  for (auto& line : ingest_.take_events()) events.push_back(std::move(line));
  if (now_ms - scaling_at_ms_ >= config_.scaling_interval_ms) {
    scaling_at_ms_ = now_ms;
    decide(now_ms, events);
  }
  if (scale_.tick(now_ms)) events.emplace_back("scale: no reply from the controller; gave up");
  if (now_ms - reclaim_at_ms_ >= kReclaimIntervalMs) {
    reclaim_at_ms_ = now_ms;
    (void)balancer_.servers().reclaim();
  }
}

void ControlThread::receive_reports(int64_t now_ms) {
  std::array<uint8_t, 2048> buffer{};  // larger than any control message: oversize is bad_length
  for (int i = 0; i < kReceivesPerWakeMax; ++i) {
    NetAddress source;
    socklen_t length = sizeof(source.storage);
    const ssize_t n = ::recvfrom(control_fd_, buffer.data(), buffer.size(), MSG_DONTWAIT,
                                 source.sockaddr_ptr(), &length);
    if (n < 0) return;  // EAGAIN: drained (other errors: nothing to read either)
    source.length = length;
    ingest_.on_datagram(std::span(buffer.data(), static_cast<std::size_t>(n)), source, now_ms);
  }
}

void ControlThread::decide(int64_t now_ms, std::vector<std::string>& events) {
  const auto view = ingest_.scaling_view();
  // Only static backends: the controller runs nothing here, so there is nothing to scale.
  if (std::none_of(view.begin(), view.end(), [](const ScalingServer& s) { return s.removable; }))
    return;
  const ScalingStep step = decide_scaling({now_ms, view, scale_.busy()}, config_.scaling, history_);
  history_ = step.history;
  const ScalingDecision& d = step.decision;
  if (d.kind == ScalingDecision::Kind::none) return;
  const bool add = d.kind == ScalingDecision::Kind::add;
  counters_.add(add ? ControlCounter::scale_decisions_add : ControlCounter::scale_decisions_remove);
  last_action_ =
      add ? std::string("add") : std::string("remove ").append(std::to_string(d.server_id));
  last_reason_ = std::string(wire::name(d.reason));
  last_action_ms_ = now_ms;
  std::string line("scale: ");
  line.append(last_action_).append(" (").append(last_reason_).append(", servers ");
  line.append(std::to_string(d.load.servers)).append(", max queue ");
  events.push_back(line.append(std::to_string(d.load.queue_max)).append(")"));
  if (!scale_.enabled()) return;
  wire::ScaleRequest request;
  request.action = add ? wire::ScaleAction::add : wire::ScaleAction::remove;
  request.server_id = d.server_id;
  request.reason = d.reason;
  request.load = d.load;
  (void)scale_.request(request, now_ms);
}

LbStatus ControlThread::status() const {
  LbStatus s;
  s.listen_address = balancer_.listen_address().to_string();
  s.workers = balancer_.worker_count();
  s.policy = std::string(policy_name(balancer_.live_settings().policy));
  s.affinity = std::string(affinity_name(balancer_.config().affinity));
  s.dataplane = balancer_.totals();
  for (uint32_t w = 0; w < balancer_.worker_count(); ++w)
    s.worker_stats.push_back(balancer_.worker_totals(w));
  s.reply_latency = balancer_.servers().reply_latency().whole();
  s.control = counters();
  std::lock_guard lock(mutex_);
  // Read under the lock: a clock read before it could precede a report the control thread
  // took meanwhile, and its age would come out negative (-1 reads as "never").
  const int64_t now = steady_ms();
  s.uptime_ms = static_cast<uint64_t>(std::max<int64_t>(now - started_ms_, 0));
  s.servers = server_statuses(now);
  s.workers_stalled = liveness_.stalled();
  s.worker_stall_ms = liveness_.stalled_for_ms();
  s.scaling.last_action = last_action_;
  s.scaling.last_reason = last_reason_;
  s.scaling.last_action_age_ms =
      last_action_ms_ == kNever ? -1.0 : static_cast<double>(now - last_action_ms_);
  s.scaling.requests_unacknowledged = scale_.busy() ? 1 : 0;
  return s;
}

// Caller holds mutex_.
void ControlThread::add_check_status(ServerStatus& status, uint32_t slot) const {
  if (!checker_) return;
  const auto check = checker_->status(slot);
  if (!check) return;
  status.check = check->healthy ? "healthy" : "unhealthy";
  status.check_failure = check->last_failure;
  status.check_rtt_ms = check->last_rtt_ms;
}

// Caller holds mutex_. Sorted by id (static backends, from 2^31, come last).
std::vector<ServerStatus> ControlThread::server_statuses(int64_t now_ms) const {
  std::vector<ServerStatus> out;
  const ServerTable& table = balancer_.servers();
  for (const uint32_t slot_index : ingest_.slots()) {
    const ServerEntry& e = ingest_.entry(slot_index);
    const ServerSlot& slot = table.slot(slot_index);
    ServerStatus st;
    st.id = e.id;
    st.address = e.address.to_string();
    st.state = std::string(state_name(slot.state.load(std::memory_order_relaxed)));
    st.static_backend = e.is_static;
    st.reported_queue = e.reported_queue;
    st.report_age_ms = e.last_report_ms < 0 ? -1.0 : static_cast<double>(now_ms - e.last_report_ms);
    st.in_flight = slot.in_flight.load(std::memory_order_relaxed);
    st.load = ingest_.load_of(slot_index);
    st.speed = e.speed;
    st.weight = slot.weight.load(std::memory_order_relaxed);
    st.health = std::string(health_name(e.health));
    st.speed_source = std::string(speed_source_name(e.speed_source));
    st.service_ms = e.service_per_request_us < 0 ? -1.0 : e.service_per_request_us / 1e3;
    st.learnt_service_ms = e.learnt_service_us < 0 ? -1.0 : e.learnt_service_us / 1e3;
    // What shortest-queue ranks by: the wait a new request should expect there.
    st.expected_delay_ms =
        st.service_ms < 0 ? -1.0 : static_cast<double>(st.load + 1) * st.service_ms;
    st.slow_start = e.ramp;
    st.ejections = e.ejections;
    st.probes = e.probe.probes();
    add_check_status(st, slot_index);
    st.requests = slot.requests_total.load(std::memory_order_relaxed);
    st.replies = slot.replies_total.load(std::memory_order_relaxed);
    st.timeouts = slot.timeouts_total.load(std::memory_order_relaxed);
    st.errors = slot.passive_errors.load(std::memory_order_relaxed);
    st.reply_latency = table.reply_latency().server(
        slot_index, slot.generation.load(std::memory_order_relaxed));
    out.push_back(std::move(st));
  }
  std::sort(out.begin(), out.end(),
            [](const ServerStatus& a, const ServerStatus& b) { return a.id < b.id; });
  return out;
}

}  // namespace shortline

// Pool operations: start, ADD, REMOVE, crash handling with backoff.
#include "control/controller/pool_manager.h"

#include <algorithm>
#include <cassert>

namespace shortline::controller {
namespace {

const char* state_name(MemberState state) {
  switch (state) {
    case MemberState::running:
      return "running";
    case MemberState::restarting:
      return "restarting";
    case MemberState::stopping:
      return "stopping";
  }
  return "?";
}

std::string scale_text(const wire::ScaleRequest& request) {
  std::string text(wire::name(request.action));
  if (request.action == wire::ScaleAction::remove)
    text.append(" ").append(std::to_string(request.server_id));
  text.append(" (").append(wire::name(request.reason));
  text.append(", seq ").append(std::to_string(request.sequence)).append(")");
  return text;
}

}  // namespace

PoolManager::PoolManager(ServerPool pool, PoolSettings settings, ProcessSupervisor& supervisor,
                         ControllerLog& log)
    : pool_(std::move(pool)),
      settings_(std::move(settings)),
      supervisor_(supervisor),
      log_(log),
      add_coalescer_(settings_.add_window_ms) {
  assert(check_command_template(settings_.command).empty());
}

NetAddress PoolManager::address_of(uint16_t port) const {
  auto address = NetAddress::parse(settings_.host + ":" + std::to_string(port));
  assert(address);
  return *address;
}

pid_t PoolManager::launch(uint32_t id, uint16_t port, int64_t now_ms, std::string& error) {
  TemplateValues values = settings_.values;
  values.emplace_back("port", std::to_string(port));
  values.emplace_back("id", std::to_string(id));
  const auto argv = expand_command(settings_.command, values);
  if (!argv) {
    error = "the server command template has a placeholder without a value";
    return -1;
  }
  ChildSpec spec;
  spec.role = ChildRole::server;
  spec.id = id;
  spec.argv = *argv;
  spec.output_path = settings_.output_dir + "/server-" + std::to_string(id) + ".out";
  return supervisor_.spawn(spec, now_ms, error);
}

std::string PoolManager::start(uint32_t count, int64_t now_ms) {
  for (uint32_t i = 0; i < count; ++i) {
    const auto port = pool_.allocate_port();
    if (!port) return "no free port left in server.port_range_start..port_range_end";
    const uint32_t id = pool_.take_id();
    std::string error;
    const pid_t pid = launch(id, *port, now_ms, error);
    if (pid < 0) return "cannot start server " + std::to_string(id) + ": " + error;
    pool_.add(id, *port, pid, now_ms);
    ++stats_.started;
    log_.write("started server " + std::to_string(id) + " on " + address_of(*port).to_string() +
               " (pid " + std::to_string(pid) + ")");
  }
  stats_.peak = std::max(stats_.peak, pool_.active());
  return {};
}

wire::ScaleReply PoolManager::execute(const wire::ScaleRequest& request, int64_t now_ms,
                                      std::string_view sender) {
  return request.action == wire::ScaleAction::add ? add(request, now_ms, sender)
                                                  : remove(request, now_ms);
}

wire::ScaleReply PoolManager::add(const wire::ScaleRequest& request, int64_t now_ms,
                                  std::string_view sender) {
  if (auto shared = add_coalescer_.recent(pool_, now_ms, sender)) {
    shared->sequence = request.sequence;
    ++stats_.coalesced;
    log_.write(scale_text(request) + ": server " + std::to_string(shared->server_id) +
               " is already starting for it, pool stays " + std::to_string(pool_.active()));
    return *shared;
  }
  wire::ScaleReply reply;
  reply.sequence = request.sequence;
  if (!pool_.can_add()) {
    reply.result = wire::ScaleResult::at_limit;
    ++stats_.at_limit;
    log_.write(scale_text(request) + ": refused, " + std::to_string(pool_.active()) +
               " servers is load_balancer.max_servers_running");
    return reply;
  }
  const auto port = pool_.allocate_port();
  const uint32_t id = pool_.take_id();
  std::string error = "no free port left in server.port_range_start..port_range_end";
  const pid_t pid = port ? launch(id, *port, now_ms, error) : -1;
  if (pid < 0) {
    reply.result = wire::ScaleResult::failed;
    ++stats_.failed;
    log_.write(scale_text(request) + ": failed: " + error);
    return reply;
  }
  pool_.add(id, *port, pid, now_ms);
  ++stats_.added;
  stats_.peak = std::max(stats_.peak, pool_.active());
  reply.server_id = id;
  reply.address = address_of(*port);
  add_coalescer_.acted(reply, now_ms, sender);
  log_.write(scale_text(request) + ": added server " + std::to_string(id) + " on " +
             reply.address.to_string() + " (pid " + std::to_string(pid) + "), " + "pool now " +
             std::to_string(pool_.active()));
  return reply;
}

wire::ScaleReply PoolManager::remove(const wire::ScaleRequest& request, int64_t now_ms) {
  wire::ScaleReply reply;
  reply.sequence = request.sequence;
  reply.server_id = request.server_id;
  PoolMember* member = pool_.find(request.server_id);
  if (member == nullptr) {
    reply.result = wire::ScaleResult::unknown_server;
    log_.write(scale_text(request) + ": refused, no such server");
    return reply;
  }
  reply.address = address_of(member->port);
  if (member->state == MemberState::stopping) return reply;  // already on its way out: ok
  if (!pool_.can_remove()) {
    reply.result = wire::ScaleResult::at_limit;
    ++stats_.at_limit;
    log_.write(scale_text(request) + ": refused, " + std::to_string(pool_.active()) +
               " servers is load_balancer.min_servers");
    return reply;
  }
  ++stats_.removed;
  if (member->state == MemberState::restarting) {  // no process: forget it now
    pool_.erase(member->id);
    log_.write(scale_text(request) + ": dropped server " + std::to_string(request.server_id) +
               " (it was waiting to restart)");
    return reply;
  }
  member->state = MemberState::stopping;
  supervisor_.stop(member->pid, now_ms, settings_.stop_timeout_ms);
  log_.write(scale_text(request) + ": stopping server " + std::to_string(member->id) +
             " (SIGTERM, it drains), pool now " + std::to_string(pool_.active()));
  return reply;
}

void PoolManager::schedule_restart(PoolMember& member, int64_t ran_ms, int64_t now_ms) {
  const uint32_t attempt = settings_.backoff.next_attempt(member.restart_attempt, ran_ms);
  const uint32_t delay_ms = settings_.backoff.delay_ms(attempt);
  member.restart_attempt = attempt + 1;
  member.state = MemberState::restarting;
  member.pid = -1;
  member.restart_at_ms = now_ms + delay_ms;
  log_.write("server " + std::to_string(member.id) + ": restart in " + std::to_string(delay_ms) +
             " ms (attempt " + std::to_string(attempt + 1) + ")");
}

void PoolManager::on_exit(const ChildExit& exit, int64_t now_ms) {
  PoolMember* member = pool_.find_pid(exit.pid);
  if (member == nullptr) return;
  const std::string name = "server " + std::to_string(member->id);
  if (member->state == MemberState::stopping) {
    log_.write(name + " exited after its stop (" + describe_status(exit.status) +
               (exit.killed ? ", killed after controller.stop_timeout_ms" : "") + ")");
    pool_.erase(member->id);
    return;
  }
  ++stats_.crashed;
  log_.write(name + " crashed (" + describe_status(exit.status) + " after " +
             std::to_string(exit.ran_ms) + " ms)");
  schedule_restart(*member, exit.ran_ms, now_ms);
}

void PoolManager::restart_due(int64_t now_ms) {
  for (const auto& snapshot : std::vector<PoolMember>(pool_.members())) {
    if (snapshot.state != MemberState::restarting || now_ms < snapshot.restart_at_ms) continue;
    PoolMember* member = pool_.find(snapshot.id);
    uint16_t port = member->port;
    // Someone took it meanwhile: move to a free one.
    if (!udp_port_bindable(settings_.host, port)) {
      member->port = 0;              // so that allocate_port does not count it as held
      port = pool_.allocate_port().value_or(snapshot.port);
      member->port = port;
    }
    std::string error;
    const pid_t pid = launch(member->id, port, now_ms, error);
    if (pid < 0) {
      log_.write("server " + std::to_string(member->id) + ": restart failed: " + error);
      ++stats_.failed;
      schedule_restart(*member, 0, now_ms);
      continue;
    }
    member->pid = pid;
    member->state = MemberState::running;
    member->started_ms = now_ms;
    ++stats_.restarted;
    log_.write("restarted server " + std::to_string(member->id) + " on " +
               address_of(port).to_string() + " (pid " + std::to_string(pid) + ")");
  }
}

std::vector<ViewServer> PoolManager::view() const {
  std::vector<ViewServer> servers;
  for (const auto& member : pool_.members()) {
    ViewServer server;
    server.id = member.id;
    server.address = address_of(member.port).to_string();
    server.state = state_name(member.state);
    servers.push_back(std::move(server));
  }
  return servers;
}

}  // namespace shortline::controller

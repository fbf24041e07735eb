// The reload: parse as at start, compare, apply, describe.
#include "control/lb_reload.h"

#include "control/config_reload.h"
#include "control/lb_cli.h"
#include "dataplane/live_settings.h"

namespace shortline {

LbReloader::LbReloader(std::vector<std::string> argv, Config started, ControlThread& control)
    : argv_(std::move(argv)), started_(started), applied_(std::move(started)), control_(control) {}

ReloadOutcome LbReloader::reload(std::string_view trigger) {
  std::lock_guard lock(mutex_);
  if (begin_) begin_();
  ReloadOutcome outcome = reload_locked(trigger);
  control_.count(outcome.ok ? ControlCounter::reloads : ControlCounter::reloads_rejected);
  if (end_) end_();
  return outcome;
}

ReloadOutcome LbReloader::reload_locked(std::string_view trigger) {
  std::vector<const char*> args;
  for (const std::string& arg : argv_) args.push_back(arg.c_str());
  const std::string prefix = std::string("reload (").append(trigger).append("): ");
  const auto parsed = parse_lb_command_line(static_cast<int>(args.size()), args.data());
  if (!parsed.command_line)
    return {false, prefix + "rejected, the running configuration stays: " + parsed.error};
  const Config& next = parsed.command_line->config;
  std::string error;
  const auto control_config = make_control_config(next, error);
  if (!control_config)
    return {false, prefix + "rejected, the running configuration stays: " + error};
  const ConfigChanges live = compare_for_reload(applied_.load_balancer, next.load_balancer);
  const ConfigChanges restart = compare_for_reload(started_.load_balancer, next.load_balancer);
  const std::string backends = control_.apply_reload(
      *control_config, next.load_balancer.dataplane.backends,
      live_settings_of(next.load_balancer.dataplane));
  applied_ = next;
  std::string message = prefix;
  message.append(live.live.empty() ? "no live setting changed"
                                   : "applied " + join_keys(live.live));
  if (!backends.empty()) message.append(" (").append(backends).append(")");
  if (!restart.restart.empty())
    message.append("; not applied until a restart: ").append(join_keys(restart.restart));
  return {true, message};
}

}  // namespace shortline

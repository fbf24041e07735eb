// The control thread's operator changes: reloads and the admin endpoint's actions. Each
// takes the control thread's lock, so it never races the loop, and leaves its event lines
// to the loop's next pass (the same sink as every other event).
#include <algorithm>
#include <charconv>

#include "control/control_thread.h"
#include "dataplane/monotonic_clock.h"

namespace shortline {
namespace {

constexpr uint32_t kWeightMax = 1000;  // as load_balancer.backends[].weight

int64_t now_ms() { return static_cast<int64_t>(monotonic_ns() / 1'000'000); }

std::optional<uint32_t> parse_id(std::string_view text) {
  uint32_t id = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return id;
}

// Built with append(): gcc 12 warns (-Wrestrict, a known false positive) on some
// operator+ chains of literals and strings.
std::string text_of(std::initializer_list<std::string_view> parts) {
  std::string text;
  for (const std::string_view part : parts) text.append(part);
  return text;
}

// A static backend's address: numeric host and a port, never a wildcard.
std::optional<NetAddress> parse_backend(std::string_view text, std::string& why) {
  const auto address = NetAddress::parse(text);
  if (!address) why = text_of({"\"", text, "\" is not an address (host:port, [v6]:port)"});
  else if (address->port() == 0) why = text_of({"\"", text, "\" has no port"});
  else if (address->is_wildcard()) why = text_of({"\"", text, "\" is a wildcard address"});
  else return address;
  return std::nullopt;
}

OperatorResult failure(OperatorResult::Code code, std::string message) {
  return {code, std::move(message)};
}

}  // namespace

std::string ControlThread::apply_reload(const ControlThreadConfig& next,
                                        const std::vector<BackendSpec>& backends,
                                        const LiveSettings& live) {
  std::lock_guard lock(mutex_);
  const bool checks_changed = !(next.health_check == config_.health_check);
  config_.ingest = next.ingest;
  config_.scaling = next.scaling;
  config_.health_check = next.health_check;
  ingest_.set_config(config_.ingest);
  balancer_.set_live_settings(live);
  const int64_t now = now_ms();
  std::string summary = sync_backends_locked(backends, now);
  if (checks_changed) restart_health_checks_locked(now, summary);
  return summary;
}

// Caller holds mutex_. New check settings: a fresh checker, every verdict of the old one
// withdrawn (a new checker starts each target healthy and reports only changes).
void ControlThread::restart_health_checks_locked(int64_t now, std::string& summary) {
  checker_.reset();
  for (const uint32_t slot : ingest_.slots())
    if (ingest_.entry(slot).check_failing)
      ingest_.on_health_check(slot, true, "health check changed by a reload", now);
  if (auto error = start_health_checks(now); !error.empty())
    summary.append(summary.empty() ? "" : "; ").append("health checks: ").append(error);
}

// Caller holds mutex_. Makes the static backends exactly `backends`; returns "2 added, 1
// removed, 1 reweighted" or "" when nothing changed.
std::string ControlThread::sync_backends_locked(const std::vector<BackendSpec>& backends,
                                                int64_t now) {
  uint32_t added = 0, removed = 0, reweighted = 0, failed = 0;
  for (const BackendSpec& spec : backends) {
    const auto existing = ingest_.static_slot_of(spec.address);
    const bool was_retiring = existing && ingest_.entry(*existing).retiring;
    const uint32_t old_weight = existing ? ingest_.entry(*existing).configured_weight : 0;
    const auto slot = ingest_.add_static_backend(spec.address, spec.weight, now);
    if (!slot) ++failed;
    else if (!existing || was_retiring) ++added;
    else if (old_weight != spec.weight) ++reweighted;
    if (slot && (!existing || was_retiring) && checker_)
      (void)checker_->add_target(*slot, spec.address, now);
  }
  std::vector<uint32_t> gone;
  for (const uint32_t slot : ingest_.slots()) {
    const ServerEntry& e = ingest_.entry(slot);
    if (!e.is_static || e.retiring) continue;
    const bool kept = std::any_of(backends.begin(), backends.end(),
                                  [&](const BackendSpec& b) { return b.address == e.address; });
    if (!kept) gone.push_back(slot);
  }
  for (const uint32_t slot : gone) {
    removed += ingest_.remove_static_backend(slot, now) ? 1 : 0;
    if (checker_) checker_->remove_target(slot);
  }
  std::string summary;
  const auto part = [&summary](uint32_t n, const char* what) {
    if (n == 0) return;
    summary.append(summary.empty() ? "" : ", ").append(std::to_string(n)).append(" ").append(what);
  };
  part(added, "added");
  part(removed, "removed (draining)");
  part(reweighted, "reweighted");
  part(failed, "not added: server table full");
  return summary.empty() ? summary : "backends: " + summary;
}

// Caller holds mutex_.
std::optional<uint32_t> ControlThread::find_slot_locked(std::string_view server) const {
  if (const auto id = parse_id(server)) return ingest_.slot_of(*id);
  const auto address = NetAddress::parse(server);
  if (!address) return std::nullopt;
  for (const uint32_t slot : ingest_.slots())
    if (ingest_.entry(slot).address == *address) return slot;
  return std::nullopt;
}

OperatorResult ControlThread::drain(std::string_view server) {
  std::lock_guard lock(mutex_);
  const auto slot = find_slot_locked(server);
  if (!slot) return failure(OperatorResult::Code::not_found, "no server " + std::string(server));
  const ServerEntry& e = ingest_.entry(*slot);
  if (e.operator_drain)
    return {OperatorResult::Code::ok, "server " + std::to_string(e.id) + " was already drained"};
  ingest_.drain(*slot, now_ms());
  return {OperatorResult::Code::ok, "server " + std::to_string(e.id) + " at " +
                                        e.address.to_string() +
                                        " drained: no new requests; placed flows finish"};
}

OperatorResult ControlThread::undrain(std::string_view server) {
  std::lock_guard lock(mutex_);
  const auto slot = find_slot_locked(server);
  if (!slot) return failure(OperatorResult::Code::not_found, "no server " + std::string(server));
  const ServerEntry& e = ingest_.entry(*slot);
  if (!e.operator_drain)
    return failure(OperatorResult::Code::conflict,
                   "server " + std::to_string(e.id) + " was not drained by the operator");
  ingest_.undrain(*slot, now_ms());
  return {OperatorResult::Code::ok, "server " + std::to_string(e.id) + " returned: " +
                                        std::string(health_name(ingest_.entry(*slot).health))};
}

OperatorResult ControlThread::add_backend(std::string_view address, uint32_t weight) {
  std::string why;
  const auto parsed = parse_backend(address, why);
  if (!parsed) return failure(OperatorResult::Code::bad_request, why);
  if (weight < 1 || weight > kWeightMax)
    return failure(OperatorResult::Code::bad_request,
                   "weight " + std::to_string(weight) + " is not allowed: 1 to 1000");
  std::lock_guard lock(mutex_);
  if (const auto other = ingest_.static_slot_of(*parsed); !other) {
    for (const uint32_t slot : ingest_.slots())
      if (ingest_.entry(slot).address == *parsed)
        return failure(OperatorResult::Code::conflict,
                       parsed->to_string() + " is reporting server " +
                           std::to_string(ingest_.entry(slot).id) + ", not a static backend");
  }
  const auto existing = ingest_.static_slot_of(*parsed);
  const bool returned = existing && ingest_.entry(*existing).retiring;
  const auto slot = ingest_.add_static_backend(*parsed, weight, now_ms());
  if (!slot) return failure(OperatorResult::Code::failed, "server table full (max_servers)");
  if ((!existing || returned) && checker_) (void)checker_->add_target(*slot, *parsed, now_ms());
  const uint32_t id = ingest_.entry(*slot).id;
  return {OperatorResult::Code::ok,
          (existing ? "backend " : "added backend ") + std::to_string(id) + " at " +
              parsed->to_string() + ", weight " + std::to_string(weight)};
}

OperatorResult ControlThread::remove_backend(std::string_view address) {
  std::string why;
  const auto parsed = parse_backend(address, why);
  if (!parsed) return failure(OperatorResult::Code::bad_request, why);
  std::lock_guard lock(mutex_);
  const auto slot = ingest_.static_slot_of(*parsed);
  if (!slot)
    return failure(OperatorResult::Code::not_found,
                   "no static backend at " + parsed->to_string() +
                       " (a reporting server leaves when it stops; drain it to stop its traffic)");
  const uint32_t id = ingest_.entry(*slot).id;
  (void)ingest_.remove_static_backend(*slot, now_ms());
  if (checker_) checker_->remove_target(*slot);
  return {OperatorResult::Code::ok, "backend " + std::to_string(id) + " at " + parsed->to_string() +
                                        " removed: draining, gone once its replies are in"};
}

}  // namespace shortline

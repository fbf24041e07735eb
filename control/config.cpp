// Loads config.json into Config: the seed's keys (numbers may be written as strings) and the
// load_balancer keys of the data plane. The first bad value becomes a one-line error.
#include "control/config.h"

#include <array>
#include <cerrno>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <system_error>
#include <unordered_map>
#include <utility>
#include <vector>

#include "control/config_values.h"
#include "dataplane/dataplane_limits.h"

namespace shortline {
namespace {

using namespace config_values;  // NOLINT: the loader is written in terms of its readers

constexpr size_t kParseErrorCharsMax = 200;  // of the JSON parser's own message
constexpr size_t kFileBytesMax = 16u << 20;  // a config file is a few KiB; refuse the absurd
constexpr uint32_t kBackendWeightMax = 1000;

constexpr std::string_view kTopKeys[] = {"server", "client", "load_balancer", "controller"};
constexpr std::string_view kServerKeys[] = {"count", "port_range_start", "port_range_end",
                                            "start_id", "queue_update_interval"};
constexpr std::string_view kClientKeys[] = {"count", "port_range_start", "port_range_end",
                                            "start_id"};
// The load_balancer keys read by hand (not plain integers, or not the data plane's). The
// data plane's integer keys come from its limits table and sit between these two lists.
constexpr std::string_view kLoadBalancerHeadKeys[] = {
    "server_side_port", "client_side_port", "server_scaling_threshold", "listen_address",
    "control_address",  "pin_workers",      "udp_gso",                  "fail_open",
    "policy",           "affinity",         "maglev_load_bound"};
constexpr std::string_view kLoadBalancerTailKeys[] = {"backends",
                                                      "admin_enabled",
                                                      "admin_address",
                                                      "admin_port",
                                                      "admin_token_file",
                                                      "report_interval_ms",
                                                      "missed_reports",
                                                      "control_allowed_sources",
                                                      "auth_key_file",
                                                      "allow_unauthenticated_reports",
                                                      "min_servers",
                                                      "max_servers_running",
                                                      "scale_up_hold_ms",
                                                      "scale_down_idle_ms",
                                                      "scale_cooldown_ms",
                                                      "learn_speed",
                                                      "slow_start_ms",
                                                      "timeouts_down",
                                                      "health_probe_interval_ms",
                                                      "outlier_failure_ratio",
                                                      "outlier_interval_ms",
                                                      "outlier_ejection_ms",
                                                      "outlier_max_ejected_percent",
                                                      "health_check",
                                                      "takeover_socket",
                                                      "fd_store"};

template <size_t kHead, size_t kTail>
consteval auto join_keys(const std::string_view (&head)[kHead],
                         const std::string_view (&tail)[kTail]) {
  std::array<std::string_view, kHead + std::size(kDataplaneLimits) + kTail> keys{};
  size_t next = 0;
  for (const auto key : head) keys[next++] = key;
  for (const DataplaneLimit& limit : kDataplaneLimits) keys[next++] = limit.key;
  for (const auto key : tail) keys[next++] = key;
  return keys;
}
constexpr auto kLoadBalancerKeys = join_keys(kLoadBalancerHeadKeys, kLoadBalancerTailKeys);

template <size_t kCount>
consteval bool keys_are_unique(const std::array<std::string_view, kCount>& keys) {
  for (size_t i = 0; i < kCount; ++i)
    for (size_t j = 0; j < i; ++j)
      if (keys[i] == keys[j]) return false;
  return true;
}
static_assert(keys_are_unique(kLoadBalancerKeys), "a load_balancer key is read twice");

constexpr std::string_view kControllerKeys[] = {"address",
                                                "port",
                                                "server_host",
                                                "server_command",
                                                "server_service_ms",
                                                "server_service_distribution",
                                                "server_workers",
                                                "restart_backoff_ms",
                                                "restart_backoff_max_ms",
                                                "stop_timeout_ms",
                                                "balancers"};
constexpr std::string_view kBackendKeys[] = {"address", "weight"};
constexpr std::string_view kHealthCheckKeys[] = {
    "payload_hex", "payload_file", "interval_ms", "timeout_ms", "rise",
    "fall",        "expect_hex",   "expect_offset", "expect_mask_hex"};

constexpr uint32_t kServerCountMax = 1024;
constexpr uint32_t kClientCountMax = 10000;
constexpr double kQueueUpdateIntervalSMax = 86'400;
constexpr double kScalingThresholdMax = 1'000'000;

void check_port_range(const Section& section, uint16_t start, uint16_t end) {
  if (start <= end) return;
  std::string allowed("a port from ");
  allowed.append(section.path_of("port_range_start")).append(" (");
  allowed.append(std::to_string(start)).append(") to 65535");
  fail(section.path_of("port_range_end"), std::to_string(end), allowed);
}

void read_server(const Json& value, ServerPoolConfig& server) {
  const Section section(value, "server", kServerKeys);
  section.integer("count", server.count, 0, kServerCountMax);
  section.port("port_range_start", server.port_range_start);
  section.port("port_range_end", server.port_range_end);
  section.integer("start_id", server.start_id, 0, std::numeric_limits<uint32_t>::max());
  section.real("queue_update_interval", server.queue_update_interval_s, 0, kQueueUpdateIntervalSMax,
               "a number of seconds above 0, at most 86400");
  check_port_range(section, server.port_range_start, server.port_range_end);
}

void read_client(const Json& value, ClientPoolConfig& client) {
  const Section section(value, "client", kClientKeys);
  section.integer("count", client.count, 0, kClientCountMax);
  section.port("port_range_start", client.port_range_start);
  section.port("port_range_end", client.port_range_end);
  section.integer("start_id", client.start_id, 0, std::numeric_limits<uint32_t>::max());
  check_port_range(section, client.port_range_start, client.port_range_end);
}

constexpr uint32_t kServerWorkersMax = 1024;          // shortline-server's own limit
constexpr double kServiceMsMax = 60'000;
constexpr uint32_t kRestartBackoffMsMax = 600'000;    // ten minutes
constexpr uint32_t kStopTimeoutMsMax = 600'000;

// Checks that the key named `high` is at least the key named `low`.
void check_order(const Section& section, std::string_view low, uint64_t low_value,
                 std::string_view high, uint64_t high_value) {
  if (low_value <= high_value) return;
  std::string allowed("at least ");
  allowed.append(section.path_of(low)).append(" (").append(std::to_string(low_value)).append(")");
  fail(section.path_of(high), std::to_string(high_value), allowed);
}

constexpr size_t kBalancersMax = 64;  // far beyond any ECMP group a router spreads over

// controller.balancers: ["HOST:PORT", ...], each another balancer's control address.
std::vector<NetAddress> read_balancer_addresses(const Json& list, const std::string& path) {
  constexpr std::string_view allowed =
      "an array of at most 64 \"HOST:PORT\" (HOST an IPv4 literal, [IPv6] or localhost, "
      "PORT 1 to 65535)";
  if (!list.is_array() || list.size() > kBalancersMax) fail(path, shown(list), allowed);
  std::vector<NetAddress> addresses;
  for (size_t i = 0; i < list.size(); ++i) {
    const auto item_path = path + "[" + std::to_string(i) + "]";
    const auto address = NetAddress::parse(read_string(list[i], item_path, allowed));
    if (!address || address->port() == 0) fail(item_path, shown(list[i]), allowed);
    addresses.push_back(*address);
  }
  return addresses;
}

// A host key of the controller section: an address literal or localhost.
std::string read_host(const Section& section, std::string_view key, std::string fallback) {
  const Json* value = section.find(key);
  if (value == nullptr) return fallback;
  constexpr std::string_view allowed = "an IPv4 or IPv6 address literal, or \"localhost\"";
  std::string host = read_string(*value, section.path_of(key), allowed);
  if (!compose_address(host, 1)) fail(section.path_of(key), shown(*value), allowed);
  return host;
}

void read_controller(const Json& value, ControllerConfig& controller) {
  const Section section(value, "controller", kControllerKeys);
  controller.address = read_host(section, "address", controller.address);
  section.port("port", controller.port);
  controller.server_host = read_host(section, "server_host", controller.server_host);
  if (const Json* command = section.find("server_command"))
    controller.server_command = read_string(*command, section.path_of("server_command"),
                                            "a command line with {placeholders}, or \"\"");
  section.real("server_service_ms", controller.server_service_ms, 0, kServiceMsMax,
               "a number of milliseconds above 0, at most 60000");
  if (const Json* dist = section.find("server_service_distribution")) {
    const auto path = section.path_of("server_service_distribution");
    constexpr std::string_view allowed = "one of \"fixed\", \"exponential\"";
    controller.server_service_distribution = read_string(*dist, path, allowed);
    const auto& name = controller.server_service_distribution;
    if (name != "fixed" && name != "exponential") fail(path, shown(*dist), allowed);
  }
  section.integer("server_workers", controller.server_workers, 1, kServerWorkersMax);
  section.integer("restart_backoff_ms", controller.restart_backoff_ms, 1, kRestartBackoffMsMax);
  section.integer("restart_backoff_max_ms", controller.restart_backoff_max_ms, 1,
                  kRestartBackoffMsMax);
  check_order(section, "restart_backoff_ms", controller.restart_backoff_ms,
              "restart_backoff_max_ms", controller.restart_backoff_max_ms);
  section.integer("stop_timeout_ms", controller.stop_timeout_ms, 1, kStopTimeoutMsMax);
  if (const Json* list = section.find("balancers"))
    controller.balancers = read_balancer_addresses(*list, section.path_of("balancers"));
}

}  // namespace

NetAddress controller_endpoint(const ControllerConfig& controller) {
  const auto address = compose_address(controller.address, controller.port);
  assert(address);
  return *address;
}

// "1.2.3.4" or "::1" (brackets optional) plus a port, as NetAddress parses it.
std::optional<NetAddress> compose_address(std::string_view host, uint16_t port) {
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  std::string text;
  if (host.find(':') != std::string_view::npos) {
    text.append("[").append(host).append("]");
  } else {
    text.append(host);
  }
  text.append(":").append(std::to_string(port));
  return NetAddress::parse(text);
}

namespace {

constexpr std::string_view kAddressAllowed =
    "HOST:PORT with HOST an IPv4 literal, a bracketed IPv6 literal or localhost, and PORT from "
    "1 to 65535";
constexpr std::string_view kBackendAllowed =
    "\"HOST:PORT\" or {\"address\": \"HOST:PORT\", \"weight\": N}";

NetAddress read_backend_address(const Json& value, std::string_view path) {
  const auto address = NetAddress::parse(read_string(value, path, kAddressAllowed));
  if (!address || address->port() == 0) fail(path, shown(value), kAddressAllowed);
  return *address;
}

BackendSpec read_backend(const Json& entry, const std::string& path) {
  BackendSpec spec;
  if (entry.is_string()) {
    spec.address = read_backend_address(entry, path);
    return spec;
  }
  if (!entry.is_object()) fail(path, shown(entry), kBackendAllowed);
  const Section section(entry, path, kBackendKeys);
  const Json* address = section.find("address");
  if (address == nullptr) fail(path, "an object without \"address\"", kBackendAllowed);
  spec.address = read_backend_address(*address, section.path_of("address"));
  section.integer("weight", spec.weight, 1, kBackendWeightMax);
  return spec;
}

struct AddressHash {
  size_t operator()(const NetAddress& address) const { return address.hash(); }
};

std::vector<BackendSpec> read_backends(const Json& value, const std::string& path) {
  if (!value.is_array())
    fail(path, shown(value), std::string("an array of ").append(kBackendAllowed));
  if (value.size() > DataplaneConfig::kServersMax)
    fail(path, std::to_string(value.size()).append(" entries"), "at most 65536 entries");
  std::vector<BackendSpec> backends;
  backends.reserve(value.size());
  std::unordered_map<NetAddress, size_t, AddressHash> seen;  // address -> first index
  for (size_t i = 0; i < value.size(); ++i) {
    const std::string entry_path =
        std::string(path).append("[").append(std::to_string(i)).append("]");
    backends.push_back(read_backend(value[i], entry_path));
    const auto [it, inserted] = seen.emplace(backends.back().address, i);
    if (!inserted) {
      std::string allowed("each address once (it is also ");
      allowed.append(path).append("[").append(std::to_string(it->second)).append("])");
      fail(entry_path, in_quotes(backends.back().address.to_string()), allowed);
    }
  }
  return backends;
}

// The data plane's integer keys, each read through its row of the limits table (so each has
// the range the data plane asserts), then its two switches.
void read_dataplane(const Section& section, DataplaneConfig& dataplane) {
  for (const DataplaneLimit& limit : kDataplaneLimits) {
    const Json* value = section.find(limit.key);
    if (value == nullptr) continue;
    const std::optional<uint64_t> number = integer_value(*value);
    if (!number || !limit_allows(limit, *number))
      fail(section.path_of(limit.key), shown(*value), limit_allowed(limit));
    dataplane.*limit.field = static_cast<uint32_t>(*number);
  }
  section.boolean("pin_workers", dataplane.pin_workers);
  section.boolean("udp_gso", dataplane.udp_gso);
  section.boolean("fail_open", dataplane.fail_open);
}

void read_names(const Section& section, DataplaneConfig& dataplane) {
  if (const Json* value = section.find("policy")) {
    constexpr std::string_view allowed =
        "one of \"shortest-queue\", \"power-of-two\", \"round-robin\", \"random\", \"maglev\"";
    const auto policy = parse_policy(read_string(*value, section.path_of("policy"), allowed));
    if (!policy) fail(section.path_of("policy"), shown(*value), allowed);
    dataplane.policy = *policy;
  }
  if (const Json* value = section.find("affinity")) {
    constexpr std::string_view allowed = "one of \"packet\", \"flow\"";
    const auto affinity = parse_affinity(read_string(*value, section.path_of("affinity"), allowed));
    if (!affinity) fail(section.path_of("affinity"), shown(*value), allowed);
    dataplane.affinity = *affinity;
  }
  if (const Json* bound = section.find("maglev_load_bound")) {
    const auto path = section.path_of("maglev_load_bound");
    constexpr std::string_view allowed = "0 (off) or a number from 1 to 100";
    const double value =
        read_real(*bound, path, -1, DataplaneConfig::kMaglevLoadBoundMax, allowed);
    if (value != 0 && value < 1) fail(path, shown(*bound), allowed);
    dataplane.maglev_load_bound = value;
  }
}

// The admin endpoint's keys. Port 0 is allowed: the kernel picks one and the balancer says it.
void read_admin(const Section& section, LoadBalancerConfig& balancer) {
  section.boolean("admin_enabled", balancer.admin_enabled);
  section.integer("admin_port", balancer.admin_port, 0, 65535);
  if (const Json* token = section.find("admin_token_file"))
    balancer.admin_token_file = read_string(*token, section.path_of("admin_token_file"),
                                            "a path to a file holding the admin token, or \"\"");
  if (const Json* host = section.find("admin_address")) {
    const auto path = section.path_of("admin_address");
    constexpr std::string_view allowed = "an IPv4 or IPv6 literal or \"localhost\"";
    balancer.admin_address = read_string(*host, path, allowed);
    if (!compose_address(balancer.admin_address, balancer.admin_port))
      fail(path, shown(*host), allowed);
  }
}

// A unix socket path (sun_path holds 108 bytes; the listener binds PATH.new first).
constexpr size_t kTakeoverPathBytesMax = 96;

// Where the balancer offers its sockets to a successor ("" = it offers none).
void read_takeover(const Section& section, LoadBalancerConfig& balancer) {
  const Json* path = section.find("takeover_socket");
  if (path == nullptr) return;
  constexpr std::string_view allowed = "\"\" or an absolute path of at most 96 bytes";
  const auto key = section.path_of("takeover_socket");
  balancer.takeover_socket = read_string(*path, key, allowed);
  const auto& value = balancer.takeover_socket;
  if (!value.empty() && (value.front() != '/' || value.size() > kTakeoverPathBytesMax))
    fail(key, shown(*path), allowed);
}

constexpr uint32_t kReportIntervalMsMax = 60'000;
constexpr uint32_t kMissedReportsMax = 1000;
constexpr size_t kAllowedSourcesMax = 256;
constexpr uint32_t kScalingMsMax = 86'400'000;  // a day

std::vector<SourcePrefix> read_sources(const Json& value, const std::string& path) {
  constexpr std::string_view allowed =
      "a non-empty array (at most 256) of addresses or CIDR prefixes (\"127.0.0.0/8\", \"::1\")";
  if (!value.is_array() || value.empty() || value.size() > kAllowedSourcesMax)
    fail(path, shown(value), allowed);
  std::vector<SourcePrefix> prefixes;
  for (size_t i = 0; i < value.size(); ++i) {
    const std::string entry_path = std::string(path).append("[").append(std::to_string(i)) + "]";
    const auto prefix = SourcePrefix::parse(read_string(value[i], entry_path, allowed));
    if (!prefix) fail(entry_path, shown(value[i]), allowed);
    prefixes.push_back(*prefix);
  }
  return prefixes;
}

// A report from an allowed source registers a server that then takes traffic, so sources
// beyond this host need a key, or the operator's explicit word that none is wanted.
void check_report_authentication(const Section& section, const LoadBalancerConfig& balancer) {
  if (!balancer.auth_key_file.empty() || balancer.allow_unauthenticated_reports) return;
  for (const auto& prefix : balancer.control_allowed_sources) {
    if (within_loopback(prefix)) continue;
    throw ConfigError{
        "config: " + section.path_of("control_allowed_sources") + " admits " +
        prefix.to_string() + ", beyond loopback, but " + section.path_of("auth_key_file") +
        " is not set: any process there could register a server and take traffic; set " +
        "auth_key_file (a key the servers share, see shortline-keygen) or, to accept " +
        "unauthenticated reports anyway, " + section.path_of("allow_unauthenticated_reports") +
        ": true"};
  }
}

// The control thread's keys: reports, health, authentication and scaling.
void read_control(const Section& section, LoadBalancerConfig& balancer) {
  section.integer("report_interval_ms", balancer.report_interval_ms, 1, kReportIntervalMsMax);
  section.integer("missed_reports", balancer.missed_reports, 1, kMissedReportsMax);
  if (const Json* sources = section.find("control_allowed_sources"))
    balancer.control_allowed_sources =
        read_sources(*sources, section.path_of("control_allowed_sources"));
  if (const Json* file = section.find("auth_key_file"))
    balancer.auth_key_file = read_string(*file, section.path_of("auth_key_file"),
                                         "a path to a 32-byte or 64-hex-digit key file, or \"\"");
  section.boolean("allow_unauthenticated_reports", balancer.allow_unauthenticated_reports);
  check_report_authentication(section, balancer);
  section.integer("min_servers", balancer.min_servers, 1, kServerCountMax);
  section.integer("max_servers_running", balancer.max_servers_running, 1, kServerCountMax);
  check_order(section, "min_servers", balancer.min_servers, "max_servers_running",
              balancer.max_servers_running);
  section.integer("scale_up_hold_ms", balancer.scale_up_hold_ms, 0, kScalingMsMax);
  section.integer("scale_down_idle_ms", balancer.scale_down_idle_ms, 0, kScalingMsMax);
  section.integer("scale_cooldown_ms", balancer.scale_cooldown_ms, 0, kScalingMsMax);
}

constexpr uint32_t kHealthMsMax = 3'600'000;  // an hour
constexpr uint32_t kTimeoutsDownMax = 1'000'000;
constexpr double kOutlierRatioMax = 1'000'000;

// Speed learning, slow start, passive health and outlier ejection.
void read_health(const Section& section, LoadBalancerConfig& balancer) {
  if (const Json* learn = section.find("learn_speed"))
    balancer.learn_speed = read_bool(*learn, section.path_of("learn_speed"));
  section.integer("slow_start_ms", balancer.slow_start_ms, 0, kHealthMsMax);
  section.integer("timeouts_down", balancer.timeouts_down, 0, kTimeoutsDownMax);
  section.integer("health_probe_interval_ms", balancer.health_probe_interval_ms, 1, kHealthMsMax);
  if (const Json* ratio = section.find("outlier_failure_ratio")) {
    const auto path = section.path_of("outlier_failure_ratio");
    constexpr std::string_view allowed = "0 (off) or a number above 1, at most 1000000";
    const double value = read_real(*ratio, path, -1, kOutlierRatioMax, allowed);
    if (value != 0 && value <= 1) fail(path, shown(*ratio), allowed);
    balancer.outlier_failure_ratio = value;
  }
  section.integer("outlier_interval_ms", balancer.outlier_interval_ms, 10, kHealthMsMax);
  section.integer("outlier_ejection_ms", balancer.outlier_ejection_ms, 1, kHealthMsMax);
  section.integer("outlier_max_ejected_percent", balancer.outlier_max_ejected_percent, 0, 100);
}

std::vector<uint8_t> read_hex(const Json& value, std::string_view path) {
  constexpr std::string_view allowed = "hex bytes (\"0a0b ff\": pairs of digits, spaces between bytes)";
  const auto bytes = parse_hex_bytes(read_string(value, path, allowed));
  if (!bytes) fail(path, shown(value), allowed);
  return *bytes;
}

std::vector<uint8_t> read_payload_file(const Json& value, std::string_view path) {
  const std::string& file_path = read_string(value, path, "a path to the probe datagram");
  std::ifstream file(file_path, std::ios::binary);
  if (!file) fail(path, in_quotes(file_path), "a readable file");
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  return bytes;
}

// load_balancer.health_check: the probe (hex or a file), its timing and the expected reply;
// {} = off.
void read_health_check(const Json& value, HealthCheckConfig& check) {
  const Section section(value, "load_balancer.health_check", kHealthCheckKeys);
  const Json* hex = section.find("payload_hex");
  const Json* file = section.find("payload_file");
  if (hex != nullptr && file != nullptr)
    fail(section.path_of("payload_file"), shown(*file), "absent when payload_hex is given");
  if (hex != nullptr) check.payload = read_hex(*hex, section.path_of("payload_hex"));
  if (file != nullptr) check.payload = read_payload_file(*file, section.path_of("payload_file"));
  section.integer("interval_ms", check.interval_ms, 0, UINT32_MAX);
  section.integer("timeout_ms", check.timeout_ms, 0, UINT32_MAX);
  section.integer("rise", check.rise, 0, UINT32_MAX);
  section.integer("fall", check.fall, 0, UINT32_MAX);
  if (const Json* expect = section.find("expect_hex"))
    check.expect = read_hex(*expect, section.path_of("expect_hex"));
  section.integer("expect_offset", check.expect_offset, 0, UINT32_MAX);
  if (const Json* mask = section.find("expect_mask_hex"))
    check.expect_mask = read_hex(*mask, section.path_of("expect_mask_hex"));
  // One place holds the ranges (the checker asserts the same function).
  const std::string error = validate_health_check(check);
  if (!error.empty()) throw ConfigError{std::string("config: ").append(error)};
  if (hex == nullptr && file == nullptr && !value.empty())
    throw ConfigError{"config: load_balancer.health_check: needs payload_hex or payload_file"};
}

void read_load_balancer(const Json& value, LoadBalancerConfig& balancer) {
  const Section section(value, "load_balancer", kLoadBalancerKeys);
  section.port("server_side_port", balancer.server_side_port);
  section.port("client_side_port", balancer.client_side_port);
  section.real("server_scaling_threshold", balancer.server_scaling_threshold, 0,
               kScalingThresholdMax, "a number above 0, at most 1000000");
  if (const Json* host = section.find("listen_address")) {
    const auto path = section.path_of("listen_address");
    constexpr std::string_view allowed = "an IPv4 or IPv6 literal or \"localhost\"";
    balancer.listen_address = read_string(*host, path, allowed);
    if (!compose_address(balancer.listen_address, balancer.client_side_port))
      fail(path, shown(*host), allowed);
  }
  if (const Json* host = section.find("control_address")) {
    const auto path = section.path_of("control_address");
    constexpr std::string_view allowed = "\"\" or an IPv4 or IPv6 literal or \"localhost\"";
    balancer.control_address = read_string(*host, path, allowed);
    if (!balancer.control_address.empty() &&
        !compose_address(balancer.control_address, balancer.server_side_port))
      fail(path, shown(*host), allowed);
  }
  read_dataplane(section, balancer.dataplane);
  read_names(section, balancer.dataplane);
  read_admin(section, balancer);
  read_takeover(section, balancer);
  section.boolean("fd_store", balancer.fd_store);
  read_control(section, balancer);
  read_health(section, balancer);
  if (const Json* check = section.find("health_check"))
    read_health_check(*check, balancer.health_check);
  if (const Json* backends = section.find("backends"))
    balancer.dataplane.backends = read_backends(*backends, section.path_of("backends"));
  const auto& dataplane = balancer.dataplane;
  if (dataplane.backends.size() > dataplane.max_servers) {
    std::string allowed("at least the number of load_balancer.backends (");
    allowed.append(std::to_string(dataplane.backends.size())).append(")");
    fail(section.path_of("max_servers"), std::to_string(dataplane.max_servers), allowed);
  }
}

// A ScaleRequest starts or stops servers, so one from beyond this host must be signed.
void check_scale_authentication(const Config& config) {
  if (controller_endpoint(config.controller).is_loopback()) return;
  if (!config.load_balancer.auth_key_file.empty()) return;
  throw ConfigError{"config: controller.address \"" + config.controller.address +
                    "\" is beyond loopback, but load_balancer.auth_key_file is not set: any "
                    "process that reaches it could start and stop servers; set auth_key_file "
                    "(a key the balancers and the controller share, see shortline-keygen)"};
}

Config read_config(const Json& document) {
  if (!document.is_object()) fail("top level", shown(document), "an object");
  const Section top(document, "", kTopKeys);
  Config config;
  if (const Json* value = top.find("server")) read_server(*value, config.server);
  if (const Json* value = top.find("client")) read_client(*value, config.client);
  if (const Json* value = top.find("load_balancer"))
    read_load_balancer(*value, config.load_balancer);
  if (const Json* value = top.find("controller")) read_controller(*value, config.controller);
  // Always composed, so that defaults alone give a usable listen address.
  auto& balancer = config.load_balancer;
  const auto listen = compose_address(balancer.listen_address, balancer.client_side_port);
  if (!listen) throw ConfigError{"config: load_balancer.listen_address: cannot be composed"};
  balancer.dataplane.listen = *listen;
  const auto admin = compose_address(balancer.admin_address, balancer.admin_port);
  if (!admin) throw ConfigError{"config: load_balancer.admin_address: cannot be composed"};
  balancer.admin_listen = *admin;
  // Every key was checked as it was read; this holds the whole config to the data plane's
  // own check, relations included, so nothing the loader returns can fail it later.
  const std::string error = validate_limits(balancer.dataplane);
  if (!error.empty()) throw ConfigError{std::string("config: load_balancer.").append(error)};
  check_scale_authentication(config);
  return config;
}

// The parser's message without its "[json.exception.parse_error.101] " tag.
std::string parse_error_text(std::string_view what) {
  const auto tag_end = what.find("] ");
  if (what.starts_with("[json.exception.") && tag_end != std::string_view::npos)
    what.remove_prefix(tag_end + 2);
  return printable(what, kParseErrorCharsMax, false);
}

}  // namespace

ConfigResult parse_config(std::string_view json_text) {
  try {
    const Json document = Json::parse(json_text.begin(), json_text.end());
    return {read_config(document), {}};
  } catch (const ConfigError& error) {
    return {std::nullopt, error.message};
  } catch (const Json::parse_error& error) {
    return {std::nullopt,
            std::string("config: invalid JSON: ").append(parse_error_text(error.what()))};
  } catch (const std::exception& error) {  // out of memory, or a bug; never past this line
    return {std::nullopt,
            std::string("config: ").append(printable(error.what(), kParseErrorCharsMax, false))};
  }
}

ConfigResult load_config_file(const std::string& path) {
  const auto cannot_read = [&path](std::string_view reason) {
    std::string message("config: cannot read ");
    message.append(printable(path, kParseErrorCharsMax, false)).append(": ").append(reason);
    return ConfigResult{std::nullopt, message};
  };
  const std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"),
                                                             &std::fclose);
  if (!file) return cannot_read(std::generic_category().message(errno));
  std::string text;
  std::array<char, 64 * 1024> chunk{};
  while (true) {
    const size_t got = std::fread(chunk.data(), 1, chunk.size(), file.get());
    text.append(chunk.data(), got);
    if (text.size() > kFileBytesMax) return cannot_read("larger than 16 MiB");
    if (got < chunk.size()) break;
  }
  if (std::ferror(file.get())) return cannot_read(std::generic_category().message(errno));
  return parse_config(text);
}

std::span<const std::string_view> load_balancer_keys() { return kLoadBalancerKeys; }

std::optional<Policy> parse_policy(std::string_view name) {
  for (const auto policy :
       {Policy::shortest_queue, Policy::power_of_two, Policy::round_robin, Policy::random,
        Policy::maglev}) {
    if (policy_name(policy) == name) return policy;
  }
  return std::nullopt;
}

std::optional<Affinity> parse_affinity(std::string_view name) {
  for (const auto affinity : {Affinity::packet, Affinity::flow}) {
    if (affinity_name(affinity) == name) return affinity;
  }
  return std::nullopt;
}

}  // namespace shortline

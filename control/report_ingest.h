// Turns ServerReports and the workers' counts into server-table state: registration by
// first report, DRAINING and LEAVING, DOWN after silence, refused connections, timeouts in
// a row (then half-open probes), outlier ejection or failed active checks, and back UP
// (with slow start), the load the workers compare and the weight of each server's speed,
// reported or learnt from replies. Single-threaded (the control thread); takes the time as
// an argument so that tests drive it without sockets or clocks.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <unordered_map>
#include <vector>

#include "control/control_counters.h"
#include "control/passive_health.h"
#include "control/scaling_decision.h"
#include "control/source_filter.h"
#include "control/wire/messages.h"
#include "dataplane/server_table.h"

namespace shortline {

struct IngestConfig {
  uint32_t report_interval_ms = 2;  // how often servers report (load_balancer.report_interval_ms)
  uint32_t missed_reports = 3;      // silent this many intervals: DOWN
  std::vector<SourcePrefix> allowed_sources = loopback_sources();
  std::optional<wire::AuthKey> key;  // when set, reports need a valid tag and fresh sequence
  bool one_way = false;              // responses_per_request 0
  PassiveHealthConfig passive;       // timeouts in a row, half-open probes, outlier ejection
  int64_t slow_start_ms = 0;         // a new or returning server's weight ramps up this long
  bool learn_speed = true;           // speed from replies where reports give none

  // Fixed limits, described in README.md ("Server reports, health and scaling").
  int64_t silence_timeout_ms_min = 20;  // scheduling jitter on a busy host is not a death
  uint32_t refused_errors_down = 3;     // ECONNREFUSED this many times in one window: DOWN
  int64_t refused_window_ms = 1000;
  int64_t refused_probation_ms = 500;   // DOWN for refusals at least this long; static
                                        // backends are then retried (set UP again)
  int64_t forget_down_after_ms = 60'000;  // a reporting server DOWN this long is removed
  int64_t leaving_timeout_ms = 30'000;    // a removed static backend is gone after this at
                                          // the latest, drained or not (flow affinity
                                          // sessions can keep one busy for good)
  int64_t weight_update_ms = 10;
  double slow_start_floor = 0.1;      // a ramping server starts at this share of its weight
  uint64_t learnt_samples_min = 8;    // a worker's estimate counts from this many replies
  int64_t learnt_stale_ms = 1000;     // no new learnt sample this long: explore it (stale)
  // Weights move in steps of this ratio (2^(1/24), about 3 %: 2x and 4x are whole steps),
  // held until the speed is more than a step and a half away: servers that differ by
  // noise alone carry the same weight (and share the work when every queue is empty)
  // while a real difference shows within a few steps.
  double speed_step_ratio = 1.0293022366434921;
  double speed_tau_ms = 500;    // smoothing of the reported mean service time
  double queue_tau_ms = 100;    // smoothing of the load the scaling decision sees
  std::size_t replay_senders_max = 65536;
  uint32_t reorder_window = 64;  // a report this far behind the last is reordered, not a restart

  // missed_reports x report_interval_ms, never below silence_timeout_ms_min.
  [[nodiscard]] int64_t silence_timeout_ms() const;
};

// Why a server is where it is; the table holds the state the workers read.
enum class Health : uint8_t {
  up,
  draining,
  leaving,
  down_silent,     // stopped reporting
  down_refused,    // connection refused
  down_timeouts,   // timeouts in a row; half-open probes bring it back
  ejected,         // an outlier, for a while
  down_check,      // failed its active health check
};
[[nodiscard]] std::string_view health_name(Health health);
[[nodiscard]] bool is_down(Health health);

// Where a server's speed comes from.
// stale: learnt from replies, but none came for learnt_stale_ms; the server gets the
// fastest weight until its replies speak again (at light load shortest expected delay
// would otherwise leave a server that noise made look slow idle for good).
enum class SpeedSource : uint8_t { unknown, report, replies, stale, configured };
[[nodiscard]] std::string_view speed_source_name(SpeedSource source);

// Static backends get ids from here on, in the order of the config.
inline constexpr uint32_t kStaticIdBase = 1u << 31;

struct ServerEntry {
  bool used = false;
  bool is_static = false;      // from --backend/config; never removed, never silent-DOWN
  bool has_reported = false;
  uint32_t id = 0;
  NetAddress address;
  Health health = Health::up;
  int64_t last_report_ms = -1;
  // Where the silence clock starts: the last report, moved on by the time this thread was
  // not running (discount_unwatched), since a server cannot be judged while nobody listens.
  int64_t silent_since_ms = -1;
  int64_t reported_queue = -1;
  uint16_t workers = 1;
  uint64_t last_sequence = 0;
  double service_us = -1;      // smoothed mean service time; below 0 = unknown
  int64_t down_since_ms = 0;
  uint32_t errors_base = 0;    // passive_errors at the start of the refusal window
  int64_t errors_window_ms = 0;
  double queue_smoothed = -1;
  int64_t queue_at_ms = 0;
  double speed = 1;
  // Learnt from replies (the workers' estimates merged), microseconds; below 0 = none yet.
  double learnt_service_us = -1;
  uint64_t learnt_samples = 0;         // all workers' samples, for staleness
  int64_t learnt_fresh_ms = 0;         // when learnt_samples last grew
  int32_t speed_step = -1;             // the weight's step below the fastest; -1 = none yet
  uint32_t configured_weight = 1;      // a static backend's weight from the config
  SpeedSource speed_source = SpeedSource::unknown;
  double service_per_request_us = -1;  // what the weight follows (service / workers)
  int64_t ramp_since_ms = kNoRamp;     // slow start from here
  double ramp = 1;                     // the share of its weight it has now
  TimeoutStreak streak;
  HalfOpenProbe probe;
  uint32_t ejections = 0;
  int64_t ejected_until_ms = 0;
  bool check_failing = false;          // the active check's last verdict was unhealthy
  bool operator_drain = false;         // drained by the operator: stays DRAINING when UP
  bool retiring = false;               // a static backend removed from the config
  int64_t leaving_since_ms = 0;
  ServerCounts outlier_base;           // counts at the start of the outlier interval
  static constexpr int64_t kNoRamp = INT64_MIN;
};

class ReportIngest {
 public:
  ReportIngest(ServerTable& table, IngestConfig config, ControlCounters& counters);

  // Takes over the servers already in the table (the static backends) as static entries.
  void adopt_static_backends(int64_t now_ms);
  // One datagram that arrived on the control port from `source`.
  void on_datagram(std::span<const uint8_t> datagram, const NetAddress& source, int64_t now_ms);
  // Health checks, removals, smoothing and weights; call every millisecond or so.
  void tick(int64_t now_ms);
  // An active health check's verdict on the static backend in `slot`.
  void on_health_check(uint32_t slot, bool healthy, std::string_view reason, int64_t now_ms);
  // --- operator changes (report_ingest_operator.cpp): reload and the admin endpoint ---
  // A reload's settings; the servers, their health and their learnt speeds stay.
  void set_config(IngestConfig config);
  // A static backend: added UP (nullopt when the table is full), or its weight changed
  // when the address is one already (a removal in progress is then cancelled).
  [[nodiscard]] std::optional<uint32_t> add_static_backend(const NetAddress& address,
                                                           uint32_t weight, int64_t now_ms);
  // The static backend in `slot` gets no new requests and leaves once its in-flight
  // requests are answered (or after leaving_timeout_ms). False if it is not static.
  bool remove_static_backend(uint32_t slot, int64_t now_ms);
  // Operator drain: no new requests (flows already placed stay) until undrain(); held
  // through the server's own UP reports and its returns from DOWN.
  void drain(uint32_t slot, int64_t now_ms);
  void undrain(uint32_t slot, int64_t now_ms);
  // The static backend at `address`, leaving or not.
  [[nodiscard]] std::optional<uint32_t> static_slot_of(const NetAddress& address) const;

  // The workers' counts for the server in `slot`.
  [[nodiscard]] ServerCounts counts_of(uint32_t slot) const;

  // The control thread was not scheduled for `gap_ms` (a host-wide stall pauses the servers
  // too): that time does not count as any server's silence.
  void discount_unwatched(int64_t gap_ms);

  [[nodiscard]] std::span<const uint32_t> slots() const { return used_slots_; }
  [[nodiscard]] const ServerEntry& entry(uint32_t slot) const { return entries_[slot]; }
  [[nodiscard]] std::optional<uint32_t> slot_of(uint32_t id) const;
  // The servers as the scaling decision sees them.
  [[nodiscard]] std::vector<ScalingServer> scaling_view() const;
  [[nodiscard]] const IngestConfig& config() const { return config_; }
  // The load the workers compare for the server in `slot` (before weighting), at least 0.
  [[nodiscard]] int64_t load_of(uint32_t slot) const;
  // Moves out the event lines since the last call ("server 3 registered at ...", "server 3
  // down: silent for 20 ms"): one per state change, never per report.
  [[nodiscard]] std::vector<std::string> take_events() { return std::exchange(events_, {}); }

 private:
  void apply_report(const wire::ServerReport& report, int64_t now_ms);
  [[nodiscard]] std::optional<uint32_t> register_server(const wire::ServerReport& report,
                                                        int64_t now_ms);
  [[nodiscard]] bool stale(const ServerEntry& entry, uint64_t sequence) const;
  void apply_state(uint32_t slot, wire::ServerState state, int64_t now_ms);
  void apply_load(uint32_t slot, const wire::ServerReport& report, int64_t now_ms);
  void check_slot(uint32_t slot, int64_t now_ms);
  void check_refusals(uint32_t slot, int64_t now_ms);
  [[nodiscard]] bool takes_requests(uint32_t slot) const;
  void mark_down(uint32_t slot, Health why, int64_t now_ms, std::string_view detail = {});
  void mark_up(uint32_t slot, int64_t now_ms, std::string_view why = {});
  void remove(uint32_t slot);
  void adopt_static(uint32_t slot, const NetAddress& address, int64_t now_ms);
  [[nodiscard]] bool leaving_done(uint32_t slot, int64_t now_ms) const;
  void update_configured_weight_max();
  // report_ingest_health.cpp: passive health.
  void check_timeouts(uint32_t slot, int64_t now_ms);
  void check_probe(uint32_t slot, int64_t now_ms);
  void check_ejection_end(uint32_t slot, int64_t now_ms);
  void eject_outliers(int64_t now_ms);
  // report_ingest_weights.cpp: speeds and weights.
  void update_weights(int64_t now_ms);
  [[nodiscard]] double merged_learnt_us(uint32_t slot, uint64_t& samples) const;
  void choose_speed_source(ServerEntry& e, uint32_t slot, int64_t now_ms);
  void apply_slow_start(ServerEntry& e, int64_t now_ms);
  void configured_weight(ServerEntry& e, uint32_t slot);
  [[nodiscard]] double stepped_speed(ServerEntry& e, double speed) const;
  void event(uint32_t id, std::string_view what);

  ServerTable& table_;
  IngestConfig config_;
  ControlCounters& counters_;
  wire::ReplayGuard replay_guard_;
  std::vector<ServerEntry> entries_;        // indexed by table slot, sized once
  std::vector<uint32_t> used_slots_;        // the slots with entries, in registration order
  std::unordered_map<uint32_t, uint32_t> slot_by_id_;
  uint32_t unknown_weight_ = 1000;          // for a server whose speed is not known yet
  uint32_t configured_weight_max_ = 1;      // the heaviest configured static weight
  uint32_t next_static_id_ = kStaticIdBase;
  int64_t weights_at_ms_ = 0;
  int64_t outliers_at_ms_ = 0;
  std::vector<std::string> events_;         // bounded by kEventsMax between take_events()
};

}  // namespace shortline

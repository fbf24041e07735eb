// Passive health from what the workers count for each server (requests, replies, timeouts,
// refusals), for servers that send no reports as much as for those that do. Pure: the
// report ingest feeds it counter readings and the time, and applies its verdicts.
//
// - Timeouts in a row: a server whose requests time out with no reply in between is DOWN
//   after `timeouts_down` of them. One reply resets the count, so a slow server that still
//   answers some requests in time never trips it.
// - Half-open: a DOWN-for-timeouts server gets one probe request at a time (a real
//   request, sent by whichever worker takes the slot's probe token), the next one
//   probe_interval_ms after the last probe's verdict; the first reply brings it back UP.
// - Outlier ejection: every outlier_interval_ms, a server whose failure rate (timeouts and
//   refusals per request) in that interval is at least outlier_failure_ratio times the rest
//   of the pool's and at least kOutlierRateMin is ejected for outlier_ejection_ms times the
//   number of its ejections (at most kEjectionsFactorMax), never more than
//   outlier_max_ejected_percent of the pool at once (at least one server).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace shortline {

struct PassiveHealthConfig {
  uint32_t timeouts_down = 5;            // 0 = off
  int64_t probe_interval_ms = 1000;
  int64_t request_timeout_ms = 1000;     // the data plane's: a probe's verdict comes by then
  double outlier_failure_ratio = 0;      // 0 = ejection off
  int64_t outlier_interval_ms = 1000;
  int64_t outlier_ejection_ms = 5000;
  uint32_t outlier_max_ejected_percent = 10;

  static constexpr uint64_t kOutlierRequestsMin = 20;  // fewer in an interval: no verdict
  static constexpr double kOutlierRateMin = 0.05;
  static constexpr uint32_t kEjectionsFactorMax = 8;
};

// The workers' counters for one server, read together.
struct ServerCounts {
  uint64_t requests = 0;
  uint64_t replies = 0;
  uint64_t timeouts = 0;
  uint64_t errors = 0;  // refusals and failed sends
};

// Timeouts since the last reply.
class TimeoutStreak {
 public:
  void restart(const ServerCounts& now);
  // The streak's length after this reading.
  uint64_t observe(const ServerCounts& now);

 private:
  uint64_t replies_ = 0;
  uint64_t timeouts_base_ = 0;
};

// The half-open probe of one DOWN server.
class HalfOpenProbe {
 public:
  enum class Step : uint8_t {
    wait,       // nothing to do yet
    arm,        // hand out a probe token now (the caller sets state probing, token 1)
    answered,   // a reply came: UP
    failed,     // the probe timed out (or was lost): DOWN until the next one
  };
  // Starts the wait for the first probe: one request timeout from now, so that requests
  // sent before the server went DOWN have timed out and none is taken for the probe's.
  void start(const ServerCounts& now, int64_t now_ms, const PassiveHealthConfig& config);
  // armed: whether a token is out (set by the caller when it armed one); token_taken:
  // whether a worker has taken it.
  Step step(const ServerCounts& now, int64_t now_ms, const PassiveHealthConfig& config,
            bool token_taken);
  [[nodiscard]] uint64_t probes() const { return probes_; }

 private:
  bool armed_ = false;
  int64_t next_ms_ = 0;
  int64_t armed_ms_ = 0;
  uint64_t replies_base_ = 0;
  uint64_t timeouts_base_ = 0;
  uint64_t probes_ = 0;
};

struct OutlierSample {
  uint64_t requests = 0;  // in the interval
  uint64_t failures = 0;  // timeouts + errors in the interval
  bool ejected = false;   // already out
};

// The samples (indexes) to eject now, worst first, within the cap (which counts those
// already ejected). pool_size: every server, ejected or not.
[[nodiscard]] std::vector<std::size_t> find_outliers(std::span<const OutlierSample> samples,
                                                     const PassiveHealthConfig& config);

// How many servers of a pool of `pool_size` may be ejected at once.
[[nodiscard]] std::size_t ejection_cap(std::size_t pool_size, uint32_t max_percent);

}  // namespace shortline

// Pure functions that turn server reports and this balancer's own counts into what the
// data plane compares: the load of a server that is not ours (other_load), and a weight
// that follows the server's service rate (shortest expected delay).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace shortline {

// --- Load ---
//
// A report says how many requests the server holds (queued + in service). Some are ours:
// the workers count them in in_flight, which they add to other_load when they compare
// servers. So the part of the report that is not ours is
//
//     other_load = max(0, reported_queue - in_flight_at_report)
//
// in_flight is read when the report arrives, not when the server counted its queue. On a
// single balancer our in-flight count also covers requests still on the wire to the server
// and replies on the way back, so it is at least our share of the queue and other_load
// stays near 0: local counts, exact and instant, decide placement between reports, which
// is what keeps shortest-queue from herding on a stale report. With several balancers the
// difference is the others' share, refreshed every report. Clamping at 0 biases the
// estimate towards our own count, never below it; a negative other_load would hide our
// own in-flight requests.
[[nodiscard]] int64_t other_load_two_way(uint32_t reported_queue, int64_t in_flight);

// With responses_per_request 0 nothing comes back, so in_flight stays 0: the report is
// the whole queue, and the workers add what was dispatched since (requests_total minus
// dispatched_at_report, which the caller sets to requests_total at the report).
[[nodiscard]] int64_t other_load_one_way(uint32_t reported_queue);

// What the workers compare for a server, as they compute it (before weighting).
[[nodiscard]] int64_t current_load(int64_t other_load, int64_t in_flight, uint64_t requests_total,
                                   uint64_t dispatched_at_report, bool one_way);

// Exponential smoothing over time: the new value after `sample` arrives `elapsed_ms` after
// the previous one, with time constant `tau_ms`. A `previous` below 0 means "no value yet"
// and returns the sample.
[[nodiscard]] double smooth(double previous, double sample, double elapsed_ms, double tau_ms);

// --- Speed ---
//
// Source: the mean service time each server reports (the reference server measures it per
// request; it excludes queue wait). Reply rates seen by the workers would conflate speed
// with load (an idle fast server answers few requests), so they are not used. A server's
// service rate is workers / mean service time; shortest expected delay sends a request to
// the server with the least (load + 1) / rate, which is what the data plane computes with
// weight proportional to the rate. Weights are relative to the fastest server, so the
// fastest gets kWeightScale and one four times slower about a quarter of it.
inline constexpr uint32_t kWeightScale = 1000;

struct SpeedSample {
  double service_us_mean = 0;  // smoothed; 0 or below = unknown (nothing served yet)
  uint32_t workers = 1;
};

struct SpeedWeight {
  double speed = 1;            // service rate relative to the fastest server (0, 1]
  uint32_t weight = kWeightScale;  // 1 .. kWeightScale
};

// One result per sample, in order. A server of unknown speed gets the median speed of the
// known ones (1 when none is known): it takes a fair share until its first measurements.
[[nodiscard]] std::vector<SpeedWeight> speed_weights(std::span<const SpeedSample> samples);

}  // namespace shortline

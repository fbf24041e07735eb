// The last 15 minutes of the balancer, one sample a second, for the live page: request rate,
// reply p99, server counts and each server's load. Kept on the control side (the admin
// endpoint's sampler thread feeds it from the status picture), never on a data-plane worker.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "control/lb_status.h"

namespace shortline {

// The p99 (in the bounds' unit) of the replies counted between two readings of a latency
// histogram, interpolated linearly inside its bucket as Prometheus' histogram_quantile does.
// bounds: the buckets' upper bounds, ascending. counts_now / counts_before: replies per
// bucket (not cumulative), one per bound plus optionally a last one for "above every bound";
// counts_before may be empty (the first reading). nullopt when no reply came in between,
// when the shapes do not match, or when a counter went backwards (a reset). A p99 beyond the
// last bound is reported as that bound: the histogram cannot say more.
[[nodiscard]] std::optional<double> p99_from_histogram_delta(std::span<const double> bounds,
                                                             std::span<const uint64_t> counts_now,
                                                             std::span<const uint64_t> counts_before);

// What the history keeps. samples_max x servers_per_sample_max bounds its memory: with the
// defaults 900 x 64 entries of 24 bytes, about 1.4 MB at most. A pool larger than
// servers_per_sample_max has its first servers_per_sample_max servers (in the status
// table's order) kept per sample; the counts and the total load always cover every server.
struct HistoryLimits {
  uint32_t samples_max = 900;           // 15 minutes at one sample a second
  uint32_t servers_per_sample_max = 64;
  uint32_t interval_ms = 1000;          // what the sampler aims for; the JSON says it
};

struct HistoryServerLoad {
  uint32_t id = 0;
  int64_t load = 0;       // what shortest-queue compares (queue not ours + in flight)
  int64_t in_flight = 0;  // this balancer's requests awaiting replies there
};

struct HistorySample {
  int64_t time_unix_ms = 0;
  std::optional<double> requests_per_s;  // over the time since the last sample; none at first
  std::optional<double> reply_p99_ms;    // none without a histogram or without replies
  uint32_t servers_up = 0;
  uint32_t servers_total = 0;
  int64_t load_total = 0;                // every server's load, kept ones or not
  std::vector<HistoryServerLoad> servers;  // at most servers_per_sample_max
};

// Histogram counts as the status picture gives them (see reply_latency_of in the .cpp).
struct LatencyCounts {
  std::vector<double> bounds_s;
  std::vector<uint64_t> counts;
};

// A ring of samples. record() from one thread (the sampler), to_json() and the readers from
// any: a mutex guards the ring (control side, a few microseconds a second).
class StatusHistory {
 public:
  explicit StatusHistory(HistoryLimits limits = {});

  // Adds one sample taken from `status` at time_unix_ms; the oldest goes when the ring is
  // full. The rate and p99 are deltas against the status recorded last.
  void record(const LbStatus& status, int64_t time_unix_ms);

  [[nodiscard]] std::size_t size() const;
  // Sample `index`, 0 the oldest kept.
  [[nodiscard]] HistorySample sample(std::size_t index) const;
  [[nodiscard]] const HistoryLimits& limits() const { return limits_; }

  // /api/history: the samples newer than since_unix_ms (all with 0), arrays per series.
  // {"interval_ms":1000,"samples_max":900,"servers_per_sample_max":64,
  //  "time_unix_ms":[...],"requests_per_s":[x|null,...],"reply_p99_ms":[x|null,...],
  //  "servers_up":[...],"servers_total":[...],"load_total":[...],
  //  "servers":[{"id":1,"address":"127.0.0.1:5000","load":[x|null,...],
  //              "in_flight":[x|null,...]},...]}
  // Every array has one entry per sample; a server's entries are null where the sample did
  // not keep it. "servers" lists at most servers_per_sample_max servers, those seen most
  // recently, by id.
  [[nodiscard]] std::string to_json(int64_t since_unix_ms = 0) const;

 private:
  struct Baseline {
    uint64_t requests = 0;
    uint64_t uptime_ms = 0;
    std::optional<LatencyCounts> latency;
  };

  void fill(HistorySample& sample, const LbStatus& status,
            const std::optional<LatencyCounts>& latency) const;
  void remember_addresses(const LbStatus& status);
  [[nodiscard]] const HistorySample& at(std::size_t index) const;  // mutex held
  [[nodiscard]] std::vector<uint32_t> recent_server_ids(std::size_t first) const;

  const HistoryLimits limits_;
  mutable std::mutex mutex_;
  std::vector<HistorySample> ring_;  // samples_max slots, allocated once
  std::size_t oldest_ = 0;
  std::size_t count_ = 0;
  std::optional<Baseline> baseline_;
  std::map<uint32_t, std::string> addresses_;  // the last address of servers seen lately
};

// Takes a sample every interval_ms on a thread of its own: calls `status` (which must be
// safe to call from that thread) and records it with the wall-clock time. A status that
// throws leaves a gap in the history, nothing else.
class HistorySampler {
 public:
  using StatusSource = std::function<LbStatus()>;

  HistorySampler() = default;
  ~HistorySampler();  // stops it
  HistorySampler(const HistorySampler&) = delete;
  HistorySampler& operator=(const HistorySampler&) = delete;

  // Takes the first sample now, then one every interval. Call once.
  void start(StatusHistory& history, StatusSource status);
  void stop();  // safe to call twice; returns within one status call

 private:
  void run(StatusHistory& history, const StatusSource& status);

  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace shortline

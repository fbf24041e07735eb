// The history ring, its JSON, the p99 of a histogram delta and the sampler thread.
#include "control/status_history.h"

#include <algorithm>
#include <cassert>
#include <exception>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>

namespace shortline {
namespace {

using Json = nlohmann::ordered_json;

constexpr double kQuantile = 0.99;

// The whole balancer's reply-latency histogram (per-bucket counts since start; the last
// bucket, above every finite bound, is the "+Inf" one).
std::optional<LatencyCounts> reply_latency_of(const LbStatus& status) {
  const LatencyHistogram& h = status.reply_latency;
  LatencyCounts counts;
  counts.bounds_s.assign(h.upper_bounds_seconds.begin(), h.upper_bounds_seconds.end() - 1);
  counts.counts.assign(h.counts.begin(), h.counts.end());
  return counts;
}

uint64_t requests_received(const LbStatus& status) {
  return status.dataplane[Counter::requests_received];
}

// Requests per second between two readings; none when time did not advance or the counter
// went backwards (a new process behind the same endpoint).
std::optional<double> rate_per_s(uint64_t requests_before, uint64_t requests_now,
                                 uint64_t uptime_before_ms, uint64_t uptime_now_ms) {
  if (uptime_now_ms <= uptime_before_ms || requests_now < requests_before) return std::nullopt;
  return static_cast<double>(requests_now - requests_before) * 1e3 /
         static_cast<double>(uptime_now_ms - uptime_before_ms);
}

Json optional_number(const std::optional<double>& value) {
  return value ? Json(*value) : Json(nullptr);
}

}  // namespace

std::optional<double> p99_from_histogram_delta(std::span<const double> bounds,
                                               std::span<const uint64_t> counts_now,
                                               std::span<const uint64_t> counts_before) {
  const bool shape_ok = !bounds.empty() && (counts_now.size() == bounds.size() ||
                                            counts_now.size() == bounds.size() + 1);
  if (!shape_ok || (!counts_before.empty() && counts_before.size() != counts_now.size()))
    return std::nullopt;
  std::vector<uint64_t> delta(counts_now.begin(), counts_now.end());
  uint64_t total = 0;
  for (std::size_t i = 0; i < delta.size(); ++i) {
    const uint64_t before = counts_before.empty() ? 0 : counts_before[i];
    if (delta[i] < before) return std::nullopt;  // reset
    delta[i] -= before;
    total += delta[i];
  }
  if (total == 0) return std::nullopt;
  const double rank = kQuantile * static_cast<double>(total);
  double below = 0;  // replies in the buckets before bucket i
  for (std::size_t i = 0; i < bounds.size(); ++i) {
    const double in_bucket = static_cast<double>(delta[i]);
    if (below + in_bucket >= rank && in_bucket > 0) {
      const double lower = i == 0 ? std::min(0.0, bounds[0]) : bounds[i - 1];
      return lower + (bounds[i] - lower) * (rank - below) / in_bucket;
    }
    below += in_bucket;
  }
  return bounds.back();  // in the bucket above every bound
}

StatusHistory::StatusHistory(HistoryLimits limits) : limits_(limits) {
  assert(limits_.samples_max > 0);
  assert(limits_.interval_ms > 0);
  ring_.resize(limits_.samples_max);
  for (auto& sample : ring_) sample.servers.reserve(limits_.servers_per_sample_max);
}

void StatusHistory::record(const LbStatus& status, int64_t time_unix_ms) {
  const std::scoped_lock lock(mutex_);
  const std::size_t slot = (oldest_ + count_) % ring_.size();
  if (count_ == ring_.size())
    oldest_ = (oldest_ + 1) % ring_.size();
  else
    ++count_;
  HistorySample& sample = ring_[slot];
  sample.time_unix_ms = time_unix_ms;
  auto latency = reply_latency_of(status);
  fill(sample, status, latency);
  remember_addresses(status);
  baseline_ = Baseline{requests_received(status), status.uptime_ms, std::move(latency)};
}

// Everything of a sample but its time, from `status` and the baseline (mutex held).
void StatusHistory::fill(HistorySample& sample, const LbStatus& status,
                         const std::optional<LatencyCounts>& latency) const {
  sample.requests_per_s.reset();
  sample.reply_p99_ms.reset();
  if (baseline_) {
    sample.requests_per_s = rate_per_s(baseline_->requests, requests_received(status),
                                       baseline_->uptime_ms, status.uptime_ms);
    if (latency && baseline_->latency && baseline_->latency->bounds_s == latency->bounds_s) {
      if (const auto p99_s = p99_from_histogram_delta(latency->bounds_s, latency->counts,
                                                      baseline_->latency->counts))
        sample.reply_p99_ms = *p99_s * 1e3;
    }
  }
  sample.servers_up = 0;
  sample.servers_total = static_cast<uint32_t>(status.servers.size());
  sample.load_total = 0;
  sample.servers.clear();  // keeps the reserved room: no allocation once warm
  for (const auto& server : status.servers) {
    if (server.state == "up") ++sample.servers_up;
    sample.load_total += std::max<int64_t>(0, server.load);
    if (sample.servers.size() < limits_.servers_per_sample_max)
      sample.servers.push_back({server.id, server.load, server.in_flight});
  }
}

// Addresses are kept once per server, not per sample. Servers that left the ring are
// forgotten when the map outgrows what the JSON can list several times over.
void StatusHistory::remember_addresses(const LbStatus& status) {
  for (std::size_t i = 0; i < status.servers.size() && i < limits_.servers_per_sample_max; ++i)
    addresses_[status.servers[i].id] = status.servers[i].address;
  if (addresses_.size() <= 4 * std::size_t{limits_.servers_per_sample_max}) return;
  std::set<uint32_t> kept;
  for (std::size_t i = 0; i < count_; ++i)
    for (const auto& server : at(i).servers) kept.insert(server.id);
  std::erase_if(addresses_, [&](const auto& entry) { return !kept.contains(entry.first); });
}

std::size_t StatusHistory::size() const {
  const std::scoped_lock lock(mutex_);
  return count_;
}

HistorySample StatusHistory::sample(std::size_t index) const {
  const std::scoped_lock lock(mutex_);
  assert(index < count_);
  return at(index);
}

const HistorySample& StatusHistory::at(std::size_t index) const {
  return ring_[(oldest_ + index) % ring_.size()];
}

// The ids of the servers seen most recently in the samples from `first` on (walking from
// the newest), at most servers_per_sample_max, sorted by id (mutex held).
std::vector<uint32_t> StatusHistory::recent_server_ids(std::size_t first) const {
  std::set<uint32_t> ids;
  for (std::size_t i = count_; i > first && ids.size() < limits_.servers_per_sample_max; --i)
    for (const auto& server : at(i - 1).servers) {
      if (ids.size() == limits_.servers_per_sample_max) break;
      ids.insert(server.id);
    }
  return {ids.begin(), ids.end()};
}

std::string StatusHistory::to_json(int64_t since_unix_ms) const {
  const std::scoped_lock lock(mutex_);
  std::size_t first = 0;
  while (first < count_ && at(first).time_unix_ms <= since_unix_ms) ++first;
  Json times = Json::array(), rates = Json::array(), p99s = Json::array(), up = Json::array(),
       total = Json::array(), load = Json::array();
  for (std::size_t i = first; i < count_; ++i) {
    const HistorySample& s = at(i);
    times.push_back(s.time_unix_ms);
    rates.push_back(optional_number(s.requests_per_s));
    p99s.push_back(optional_number(s.reply_p99_ms));
    up.push_back(s.servers_up);
    total.push_back(s.servers_total);
    load.push_back(s.load_total);
  }
  Json servers = Json::array();
  for (const uint32_t id : recent_server_ids(first)) {
    Json loads = Json::array(), in_flight = Json::array();
    for (std::size_t i = first; i < count_; ++i) {
      const auto& kept = at(i).servers;
      const auto it = std::find_if(kept.begin(), kept.end(),
                                   [id](const HistoryServerLoad& s) { return s.id == id; });
      loads.push_back(it == kept.end() ? Json(nullptr) : Json(it->load));
      in_flight.push_back(it == kept.end() ? Json(nullptr) : Json(it->in_flight));
    }
    const auto address = addresses_.find(id);
    servers.push_back({{"id", id},
                       {"address", address == addresses_.end() ? "" : address->second},
                       {"load", std::move(loads)},
                       {"in_flight", std::move(in_flight)}});
  }
  const Json document{{"interval_ms", limits_.interval_ms},
                      {"samples_max", limits_.samples_max},
                      {"servers_per_sample_max", limits_.servers_per_sample_max},
                      {"time_unix_ms", std::move(times)},
                      {"requests_per_s", std::move(rates)},
                      {"reply_p99_ms", std::move(p99s)},
                      {"servers_up", std::move(up)},
                      {"servers_total", std::move(total)},
                      {"load_total", std::move(load)},
                      {"servers", std::move(servers)}};
  return document.dump(-1, ' ', false, Json::error_handler_t::replace);
}

// ---- The sampler --------------------------------------------------------------------------

HistorySampler::~HistorySampler() { stop(); }

void HistorySampler::start(StatusHistory& history, StatusSource status) {
  assert(!thread_.joinable() && "HistorySampler::start is called once");
  assert(status);
  thread_ = std::thread([this, &history, source = std::move(status)] { run(history, source); });
}

void HistorySampler::stop() {
  {
    const std::scoped_lock lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

// Deadlines follow a fixed grid (start + k x interval), so samples stay a second apart on
// average however long a status call takes; after a stall longer than an interval the grid
// restarts from now instead of catching up with a burst.
void HistorySampler::run(StatusHistory& history, const StatusSource& status) {
  const auto interval = std::chrono::milliseconds(history.limits().interval_ms);
  auto next = std::chrono::steady_clock::now();
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    lock.unlock();
    try {
      const LbStatus current = status();
      const auto now = std::chrono::system_clock::now().time_since_epoch();
      history.record(current,
                     std::chrono::duration_cast<std::chrono::milliseconds>(now).count());
    } catch (const std::exception&) {
      // a gap in the history; /api/status reports the same failure to whoever asks
    }
    next += interval;
    if (const auto now = std::chrono::steady_clock::now(); next < now) next = now + interval;
    lock.lock();
    wake_.wait_until(lock, next, [this] { return stopping_; });
  }
}

}  // namespace shortline

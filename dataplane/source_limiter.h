// Per-worker admission by client source address (as dnsdist's MaxQPSIPRule): token buckets
// per address and per prefix (/24, /56), a cap on open sessions per address, and a note of
// which addresses have been answered. Bounded set-associative tables; no clock reads.
#pragma once

#include <cstdint>
#include <memory>

#include "dataplane/flow_key.h"

namespace shortline {

struct SourceLimits {                  // 0 = no limit, for each
  uint32_t requests_per_s = 0;         // per source address
  uint32_t requests_burst = 0;         // bucket depth; 0 = one second's worth (= requests_per_s)
  uint32_t sessions_per_s = 0;         // new sessions per source address (depth: a second's worth)
  uint32_t prefix_requests_per_s = 0;  // per /24 or /56 (depth: one second's worth)
  uint32_t sessions_max = 0;           // open sessions per source address
};

enum class Admission : uint8_t { admitted, source_rate, prefix_rate, source_sessions, table_full };

inline constexpr uint32_t kNoSource = UINT32_MAX;

class SourceLimiter {
 public:
  // entries: source addresses tracked (rounded up to a multiple of kWays; the prefix table
  // has as many). seed: per-process random key for the table's hash, so that clients who
  // choose their addresses cannot aim at one set.
  SourceLimiter(const SourceLimits& limits, uint32_t entries, uint64_t seed);
  // New rates and caps (a reload). Buckets keep their tokens, capped at the new depth at
  // their next refill; open-session counts stay, so a lower sessions_max refuses only new
  // sessions.
  void set_limits(const SourceLimits& limits);

  // A request from `source` (family and address only; port and server_slot are ignored) at
  // now_ns: finds or makes the address's entry and charges the address's and the prefix's
  // request buckets. Reasons, first failing first: table_full (every way of the address's
  // set holds open sessions), source_rate, prefix_rate. A rejected request charges no
  // bucket, so a prefix full of others does not also drain this address. *entry is the
  // entry's index on admitted, kNoSource otherwise. The index stays this address's while
  // the entry has open sessions; without any, the next admit_request may reuse it, so
  // call admit_session (if at all) before the next admit_request.
  [[nodiscard]] Admission admit_request(const FlowKey& source, uint64_t now_ns, uint32_t* entry);
  // The request needs a new session: checks the new-session bucket and sessions_max
  // (source_sessions if either fails, charging nothing); on admitted the session counts as
  // open (the entry is then pinned: never replaced).
  [[nodiscard]] Admission admit_session(uint32_t entry, uint64_t now_ns);
  void session_closed(uint32_t entry);
  // A reply reached a session of this source; later sessions from it count as known. On
  // a full set, answered entries are the last replaced, so a flood of spoofed (never
  // answered) sources churns only its own kind.
  void mark_answered(uint32_t entry);
  [[nodiscard]] bool answered(uint32_t entry) const;
  [[nodiscard]] uint32_t open_sessions(uint32_t entry) const;

  // The entry tracking `source`'s address, or kNoSource; changes nothing.
  [[nodiscard]] uint32_t find(const FlowKey& source) const;
  // The address-table set `source` hashes to under this limiter's seed (for tests).
  [[nodiscard]] uint32_t set_of(const FlowKey& source) const;
  [[nodiscard]] uint32_t entries() const { return set_count_ * kWays; }

  static constexpr uint32_t kWays = 8;
  static constexpr uint32_t kEntriesMax = 1u << 24;

 private:
  // Tokens in units of 1e-9 token, so that a rate of r per second adds exactly r units per
  // nanosecond: no rounding and no floating point.
  struct Rate {
    uint64_t units_per_ns = 0;  // = tokens per second; 0 = no limit
    uint64_t depth_units = 0;
    uint64_t fill_ns = 0;       // from empty to full; a gap this long refills completely
  };
  struct Bucket {
    uint64_t units = 0;
    uint64_t refill_ns = 0;
  };
  struct Address {
    uint64_t high = 0;
    uint64_t low = 0;
    uint16_t family = 0;
    friend bool operator==(const Address&, const Address&) = default;
  };
  struct SourceEntry {
    Address address;
    bool occupied = false;
    bool answered = false;
    uint32_t open_sessions = 0;
    uint64_t last_use_ns = 0;
    Bucket requests;
    Bucket sessions;
  };
  struct PrefixEntry {
    Address prefix;
    bool occupied = false;
    uint64_t last_use_ns = 0;
    Bucket requests;
  };

  [[nodiscard]] static Rate make_rate(uint32_t per_s, uint32_t depth);
  static void refill(Bucket& bucket, const Rate& rate, uint64_t now_ns);
  [[nodiscard]] static bool has_token(const Bucket& bucket, const Rate& rate);
  static void take_token(Bucket& bucket, const Rate& rate);
  static void fill(Bucket& bucket, const Rate& rate, uint64_t now_ns);

  [[nodiscard]] uint32_t set_index(const Address& address, uint64_t domain) const;
  [[nodiscard]] uint32_t find_or_make_source(const Address& address, uint64_t now_ns);
  [[nodiscard]] uint32_t find_or_make_prefix(const Address& prefix, uint64_t now_ns);
  void check_entry(uint32_t entry) const;

  Rate request_rate_;
  Rate session_rate_;
  Rate prefix_rate_;
  uint32_t sessions_max_;
  uint32_t set_count_;
  uint64_t key0_;
  uint64_t key1_;
  std::unique_ptr<SourceEntry[]> sources_;
  std::unique_ptr<PrefixEntry[]> prefixes_;
};

}  // namespace shortline

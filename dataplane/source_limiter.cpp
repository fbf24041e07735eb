// Source limiter: the keyed set hash, replacement within a set, and integer token buckets.
#include "dataplane/source_limiter.h"

#include <algorithm>
#include <bit>

#include "dataplane/invariant.h"

namespace shortline {
namespace {

constexpr uint64_t kUnitsPerToken = 1'000'000'000;

// Hash domains, so that an address and a prefix with equal words hash apart.
constexpr uint64_t kSourceDomain = 1;
constexpr uint64_t kPrefixDomain = 2;

// FlowKey keeps addresses in network byte order, copied into integers; these masks keep
// the first 3 bytes of an IPv4 address (/24) and the first 7 of an IPv6 one (/56).
constexpr bool kLittle = std::endian::native == std::endian::little;
constexpr uint64_t kV4Prefix24Mask = kLittle ? 0x0000'0000'00ff'ffffULL : 0x0000'0000'ffff'ff00ULL;
constexpr uint64_t kV6Prefix56Mask = kLittle ? 0x00ff'ffff'ffff'ffffULL : 0xffff'ffff'ffff'ff00ULL;

// SipHash-1-3 (Aumasson and Bernstein; the variant Python and Rust use for hash tables)
// over whole 64-bit words. A keyed PRF is what it takes: with an unkeyed or linear mix
// (multiply-xorshift over seed-xored words) a client who learns where a few of its
// addresses land, say from which of its entries get replaced, can solve for the rest and
// pin one set with open sessions, locking new addresses of that set out (table_full).
struct SipState {
  uint64_t v0, v1, v2, v3;

  void round() {
    v0 += v1; v1 = std::rotl(v1, 13); v1 ^= v0; v0 = std::rotl(v0, 32);
    v2 += v3; v3 = std::rotl(v3, 16); v3 ^= v2;
    v0 += v3; v3 = std::rotl(v3, 21); v3 ^= v0;
    v2 += v1; v1 = std::rotl(v1, 17); v1 ^= v2; v2 = std::rotl(v2, 32);
  }
  void absorb(uint64_t word) {
    v3 ^= word;
    round();
    v0 ^= word;
  }
};

// Equals SipHash-1-3 of the words' little-endian bytes (24 bytes).
uint64_t siphash13(uint64_t key0, uint64_t key1, const uint64_t (&words)[3]) {
  SipState s{key0 ^ 0x736f6d6570736575ULL, key1 ^ 0x646f72616e646f6dULL,
             key0 ^ 0x6c7967656e657261ULL, key1 ^ 0x7465646279746573ULL};
  for (const uint64_t word : words) s.absorb(word);
  s.absorb(uint64_t{sizeof(words)} << 56);  // the length byte, no tail bytes
  s.v2 ^= 0xff;
  s.round();
  s.round();
  s.round();
  return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

// splitmix64's finaliser: spreads one 64-bit seed into the second half of the key.
uint64_t spread(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

SourceLimiter::SourceLimiter(const SourceLimits& limits, uint32_t entries, uint64_t seed)
    : request_rate_(make_rate(limits.requests_per_s, limits.requests_burst)),
      session_rate_(make_rate(limits.sessions_per_s, 0)),
      prefix_rate_(make_rate(limits.prefix_requests_per_s, 0)),
      sessions_max_(limits.sessions_max),
      set_count_((entries + kWays - 1) / kWays),
      key0_(seed),
      key1_(spread(seed)) {
  SHORTLINE_INVARIANT(entries > 0 && entries <= kEntriesMax);
  sources_ = std::make_unique<SourceEntry[]>(std::size_t{set_count_} * kWays);
  prefixes_ = std::make_unique<PrefixEntry[]>(std::size_t{set_count_} * kWays);
}

void SourceLimiter::set_limits(const SourceLimits& limits) {
  request_rate_ = make_rate(limits.requests_per_s, limits.requests_burst);
  session_rate_ = make_rate(limits.sessions_per_s, 0);
  prefix_rate_ = make_rate(limits.prefix_requests_per_s, 0);
  sessions_max_ = limits.sessions_max;
}

Admission SourceLimiter::admit_request(const FlowKey& source, uint64_t now_ns, uint32_t* entry) {
  SHORTLINE_INVARIANT(entry != nullptr);
  *entry = kNoSource;
  const Address address{source.address_high, source.address_low, source.family};
  const uint32_t index = find_or_make_source(address, now_ns);
  if (index == kNoSource) [[unlikely]] return Admission::table_full;
  SourceEntry& found = sources_[index];
  // Rejected requests count as use too: were a limited source's entry the first replaced,
  // its next request would get a fresh, full bucket.
  found.last_use_ns = now_ns;
  refill(found.requests, request_rate_, now_ns);
  if (!has_token(found.requests, request_rate_)) return Admission::source_rate;
  if (prefix_rate_.units_per_ns != 0) {
    Address prefix = address;
    if (address.family == AF_INET) prefix.low &= kV4Prefix24Mask;
    else if (address.family == AF_INET6) {
      prefix.high &= kV6Prefix56Mask;
      prefix.low = 0;
    }  // any other family: the whole address is its own prefix
    PrefixEntry& net = prefixes_[find_or_make_prefix(prefix, now_ns)];
    net.last_use_ns = now_ns;
    refill(net.requests, prefix_rate_, now_ns);
    if (!has_token(net.requests, prefix_rate_)) return Admission::prefix_rate;
    take_token(net.requests, prefix_rate_);
  }
  take_token(found.requests, request_rate_);
  *entry = index;
  return Admission::admitted;
}

Admission SourceLimiter::admit_session(uint32_t entry, uint64_t now_ns) {
  check_entry(entry);
  SourceEntry& source = sources_[entry];
  if (sessions_max_ != 0 && source.open_sessions >= sessions_max_) {
    return Admission::source_sessions;
  }
  refill(source.sessions, session_rate_, now_ns);
  if (!has_token(source.sessions, session_rate_)) return Admission::source_sessions;
  take_token(source.sessions, session_rate_);
  SHORTLINE_INVARIANT(source.open_sessions < UINT32_MAX);
  ++source.open_sessions;
  return Admission::admitted;
}

void SourceLimiter::session_closed(uint32_t entry) {
  check_entry(entry);
  SHORTLINE_INVARIANT(sources_[entry].open_sessions > 0);
  --sources_[entry].open_sessions;
}

void SourceLimiter::mark_answered(uint32_t entry) {
  check_entry(entry);
  sources_[entry].answered = true;
}

bool SourceLimiter::answered(uint32_t entry) const {
  check_entry(entry);
  return sources_[entry].answered;
}

uint32_t SourceLimiter::open_sessions(uint32_t entry) const {
  check_entry(entry);
  return sources_[entry].open_sessions;
}

uint32_t SourceLimiter::find(const FlowKey& source) const {
  const Address address{source.address_high, source.address_low, source.family};
  const uint32_t base = set_index(address, kSourceDomain) * kWays;
  for (uint32_t index = base; index < base + kWays; ++index) {
    if (sources_[index].occupied && sources_[index].address == address) return index;
  }
  return kNoSource;
}

uint32_t SourceLimiter::set_of(const FlowKey& source) const {
  return set_index({source.address_high, source.address_low, source.family}, kSourceDomain);
}

uint32_t SourceLimiter::set_index(const Address& address, uint64_t domain) const {
  const uint64_t words[3] = {domain << 16 | address.family, address.high, address.low};
  const uint64_t hash = siphash13(key0_, key1_, words);
  // Multiply-shift range reduction: uniform for any set count, no division.
  return static_cast<uint32_t>(((hash >> 32) * set_count_) >> 32);
}

// A hit, or a replacement within the set: an empty way first, then among entries without
// open sessions the never-answered before the answered, oldest last use first.
uint32_t SourceLimiter::find_or_make_source(const Address& address, uint64_t now_ns) {
  const uint32_t base = set_index(address, kSourceDomain) * kWays;
  // Whether `a` goes before `b`; both without open sessions.
  auto replaced_before = [](const SourceEntry& a, const SourceEntry& b) {
    if (a.occupied != b.occupied) return !a.occupied;
    if (a.answered != b.answered) return !a.answered;
    return a.last_use_ns < b.last_use_ns;
  };
  uint32_t victim = kNoSource;
  for (uint32_t index = base; index < base + kWays; ++index) {
    const SourceEntry& way = sources_[index];
    if (way.occupied && way.address == address) return index;
    if (way.open_sessions > 0) continue;  // pinned: sessions hold its index
    if (victim == kNoSource || replaced_before(way, sources_[victim])) victim = index;
  }
  if (victim == kNoSource) return kNoSource;
  SourceEntry& made = sources_[victim];
  made = SourceEntry{};
  made.address = address;
  made.occupied = true;
  made.last_use_ns = now_ns;
  fill(made.requests, request_rate_, now_ns);
  fill(made.sessions, session_rate_, now_ns);
  return victim;
}

// Prefix entries hold no sessions: a miss replaces an empty way or else the oldest used.
uint32_t SourceLimiter::find_or_make_prefix(const Address& prefix, uint64_t now_ns) {
  const uint32_t base = set_index(prefix, kPrefixDomain) * kWays;
  uint32_t victim = base;
  for (uint32_t index = base; index < base + kWays; ++index) {
    const PrefixEntry& way = prefixes_[index];
    if (way.occupied && way.prefix == prefix) return index;
    const PrefixEntry& best = prefixes_[victim];
    if (best.occupied && (!way.occupied || way.last_use_ns < best.last_use_ns)) victim = index;
  }
  PrefixEntry& made = prefixes_[victim];
  made = PrefixEntry{};
  made.prefix = prefix;
  made.occupied = true;
  made.last_use_ns = now_ns;
  fill(made.requests, prefix_rate_, now_ns);
  return victim;
}

void SourceLimiter::check_entry(uint32_t entry) const {
  SHORTLINE_INVARIANT(entry < entries());
  SHORTLINE_INVARIANT(sources_[entry].occupied);
}

SourceLimiter::Rate SourceLimiter::make_rate(uint32_t per_s, uint32_t depth) {
  if (per_s == 0) return Rate{};
  Rate rate;
  rate.units_per_ns = per_s;  // per_s tokens per 1e9 ns = per_s units per ns
  rate.depth_units = uint64_t{depth != 0 ? depth : per_s} * kUnitsPerToken;  // < 2^62
  rate.fill_ns = (rate.depth_units + rate.units_per_ns - 1) / rate.units_per_ns;
  return rate;
}

// Credit for the time since the last refill, capped at the depth. Overflow-free for any
// 32-bit rate and depth and any gap: a gap of fill_ns or more fills the bucket outright,
// and a shorter one adds under depth_units + units_per_ns (< 2^63 together with units).
void SourceLimiter::refill(Bucket& bucket, const Rate& rate, uint64_t now_ns) {
  if (rate.units_per_ns == 0 || now_ns <= bucket.refill_ns) return;  // a clock step back: none
  const uint64_t elapsed_ns = now_ns - bucket.refill_ns;
  bucket.units = elapsed_ns >= rate.fill_ns
                     ? rate.depth_units
                     : std::min(rate.depth_units, bucket.units + elapsed_ns * rate.units_per_ns);
  bucket.refill_ns = now_ns;
}

bool SourceLimiter::has_token(const Bucket& bucket, const Rate& rate) {
  return rate.units_per_ns == 0 || bucket.units >= kUnitsPerToken;
}

void SourceLimiter::take_token(Bucket& bucket, const Rate& rate) {
  if (rate.units_per_ns == 0) return;
  SHORTLINE_INVARIANT(bucket.units >= kUnitsPerToken);
  bucket.units -= kUnitsPerToken;
}

void SourceLimiter::fill(Bucket& bucket, const Rate& rate, uint64_t now_ns) {
  bucket.units = rate.depth_units;
  bucket.refill_ns = now_ns;
}

}  // namespace shortline

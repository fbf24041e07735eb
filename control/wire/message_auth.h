// Optional authentication of control messages: a 32-byte shared key, a keyed tag
// (libsodium crypto_auth, HMAC-SHA512-256) over everything before the tag, and a replay
// guard that accepts each sender's sequences only in increasing order.
//
// The auth trailer that follows the body of an authenticated message:
//   sender id u32 | auth sequence u64 | tag [32]
// The auth sequence is per sender and independent of a message's own sequence, so a
// retried ScaleRequest (same logical sequence) still carries a fresh auth sequence.
// Senders start it from CLOCK_REALTIME nanoseconds so a restarted sender stays fresh.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace shortline::wire {

inline constexpr std::size_t kAuthKeyBytes = 32;
inline constexpr std::size_t kAuthTagBytes = 32;
inline constexpr std::size_t kAuthTrailerBytes = 4 + 8 + kAuthTagBytes;

struct AuthKey {
  std::array<uint8_t, kAuthKeyBytes> bytes{};

  // Reads a key file holding either 32 raw bytes or 64 hex digits (surrounding whitespace
  // ignored). On failure returns nullopt and sets `error` to a one-line reason.
  [[nodiscard]] static std::optional<AuthKey> load_file(const std::string& path,
                                                        std::string& error);
  // Parses 64 hex digits.
  [[nodiscard]] static std::optional<AuthKey> from_hex(std::string_view hex);
};

// Who signed a message, and with which auth sequence.
struct AuthStamp {
  uint32_t sender_id = 0;
  uint64_t sequence = 0;
};

// Tag over `data` (header, body, sender id and sequence).
[[nodiscard]] std::array<uint8_t, kAuthTagBytes> compute_tag(const AuthKey& key,
                                                             std::span<const uint8_t> data);
// Constant-time check of `tag` against `data`.
[[nodiscard]] bool verify_tag(const AuthKey& key, std::span<const uint8_t> data,
                              std::span<const uint8_t> tag);

// First auth sequence for a sender starting now: CLOCK_REALTIME in nanoseconds, so that
// sequences stay increasing across restarts of the same sender id.
[[nodiscard]] uint64_t initial_auth_sequence();

// Per-sender highest accepted sequence, in a table of fixed capacity allocated once.
// Single-threaded: the control thread owns it. A sender is never evicted (eviction would
// let its old messages replay), so a full table rejects new senders.
class ReplayGuard {
 public:
  enum class Verdict : uint8_t { fresh, replayed, table_full };

  explicit ReplayGuard(std::size_t capacity);

  // Checks without recording; decode calls commit() only once the whole message is valid.
  [[nodiscard]] Verdict check(const AuthStamp& stamp) const;
  // Records `stamp` as the sender's highest sequence. Requires check() == fresh.
  void commit(const AuthStamp& stamp);
  // Forgets a sender (e.g. a server that left for good), freeing its slot.
  void forget(uint32_t sender_id);

  [[nodiscard]] std::size_t size() const { return size_; }
  [[nodiscard]] std::size_t capacity() const { return entries_.size(); }

 private:
  struct Entry {
    uint32_t sender_id = 0;
    bool used = false;
    uint64_t highest_sequence = 0;
  };
  // Index of the sender's slot, or of the first free slot on its probe path, or npos.
  [[nodiscard]] std::size_t find(uint32_t sender_id) const;

  std::vector<Entry> entries_;  // open addressing, linear probing, power-of-two size
  std::size_t size_ = 0;
  std::size_t capacity_max_ = 0;  // at most this many senders (load factor <= 1/2)
};

}  // namespace shortline::wire

// Keyed tags (libsodium crypto_auth) and the per-sender replay guard.
#include "control/wire/message_auth.h"

#include <sodium.h>

#include <cassert>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <mutex>

namespace shortline::wire {
namespace {

static_assert(crypto_auth_KEYBYTES == kAuthKeyBytes);
static_assert(crypto_auth_BYTES == kAuthTagBytes);

void ensure_sodium() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (sodium_init() < 0) std::abort();  // no randomness source: nothing can be trusted
  });
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

uint64_t mix_id(uint32_t id) {
  uint64_t h = id * 0x9e3779b97f4a7c15ULL;
  return h ^ (h >> 29);
}

}  // namespace

std::optional<AuthKey> AuthKey::from_hex(std::string_view hex) {
  if (hex.size() != 2 * kAuthKeyBytes) return std::nullopt;
  AuthKey key;
  for (std::size_t i = 0; i < kAuthKeyBytes; ++i) {
    const int high = hex_value(hex[2 * i]);
    const int low = hex_value(hex[2 * i + 1]);
    if (high < 0 || low < 0) return std::nullopt;
    key.bytes[i] = static_cast<uint8_t>(high * 16 + low);
  }
  return key;
}

std::optional<AuthKey> AuthKey::load_file(const std::string& path, std::string& error) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    error = "cannot open auth key file '" + path + "'";
    return std::nullopt;
  }
  // A key file is tiny; read at most a little more than a hex key to bound the work.
  std::string content(256, '\0');
  file.read(content.data(), static_cast<std::streamsize>(content.size()));
  content.resize(static_cast<std::size_t>(file.gcount()));
  if (content.size() == kAuthKeyBytes) {
    AuthKey key;
    std::copy(content.begin(), content.end(), key.bytes.begin());
    return key;
  }
  std::string_view text(content);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front())))
    text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back())))
    text.remove_suffix(1);
  auto key = from_hex(text);
  if (!key) error = "auth key file '" + path + "' must hold 32 raw bytes or 64 hex digits";
  return key;
}

std::array<uint8_t, kAuthTagBytes> compute_tag(const AuthKey& key,
                                               std::span<const uint8_t> data) {
  ensure_sodium();
  std::array<uint8_t, kAuthTagBytes> tag{};
  crypto_auth(tag.data(), data.data(), data.size(), key.bytes.data());
  return tag;
}

bool verify_tag(const AuthKey& key, std::span<const uint8_t> data,
                std::span<const uint8_t> tag) {
  ensure_sodium();
  if (tag.size() != kAuthTagBytes) return false;
  return crypto_auth_verify(tag.data(), data.data(), data.size(), key.bytes.data()) == 0;
}

uint64_t initial_auth_sequence() {
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(now).count());
}

ReplayGuard::ReplayGuard(std::size_t capacity) : capacity_max_(capacity) {
  assert(capacity > 0);
  std::size_t slots = 4;
  while (slots < 2 * capacity) slots *= 2;
  entries_.resize(slots);
}

std::size_t ReplayGuard::find(uint32_t sender_id) const {
  const std::size_t mask = entries_.size() - 1;
  std::size_t index = mix_id(sender_id) & mask;
  for (std::size_t probes = 0; probes < entries_.size(); ++probes) {
    const Entry& entry = entries_[index];
    if (!entry.used || entry.sender_id == sender_id) return index;
    index = (index + 1) & mask;
  }
  return static_cast<std::size_t>(-1);  // unreachable at load factor <= 1/2
}

ReplayGuard::Verdict ReplayGuard::check(const AuthStamp& stamp) const {
  const std::size_t index = find(stamp.sender_id);
  if (index == static_cast<std::size_t>(-1)) return Verdict::table_full;
  const Entry& entry = entries_[index];
  if (entry.used) {
    return stamp.sequence > entry.highest_sequence ? Verdict::fresh : Verdict::replayed;
  }
  return size_ < capacity_max_ ? Verdict::fresh : Verdict::table_full;
}

void ReplayGuard::commit(const AuthStamp& stamp) {
  assert(check(stamp) == Verdict::fresh);
  Entry& entry = entries_[find(stamp.sender_id)];
  if (!entry.used) {
    entry.used = true;
    entry.sender_id = stamp.sender_id;
    ++size_;
  }
  entry.highest_sequence = stamp.sequence;
}

void ReplayGuard::forget(uint32_t sender_id) {
  const std::size_t mask = entries_.size() - 1;
  std::size_t hole = find(sender_id);
  if (hole == static_cast<std::size_t>(-1) || !entries_[hole].used) return;
  entries_[hole] = Entry{};
  --size_;
  // Backward-shift deletion: move later entries of the probe run into the hole so that
  // lookups never stop early at it.
  std::size_t next = (hole + 1) & mask;
  for (std::size_t probes = 0; probes < entries_.size() && entries_[next].used; ++probes) {
    const std::size_t home = mix_id(entries_[next].sender_id) & mask;
    const bool movable = ((next - home) & mask) >= ((next - hole) & mask);
    if (movable) {
      entries_[hole] = entries_[next];
      entries_[next] = Entry{};
      hole = next;
    }
    next = (next + 1) & mask;
  }
}

}  // namespace shortline::wire

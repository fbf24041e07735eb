// The controller's ScaleRequest endpoint: a UDP socket on controller.address:port that
// decodes each request (authenticated when a key is configured; from beyond loopback only
// then, as the config loader demands a key for such an address), answers it with a
// ScaleReply carrying the same sequence, and executes each request once: a retry (the
// balancer resends until it hears back) gets the remembered reply and no second action.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "control/wire/messages.h"

namespace shortline::controller {

// Remembers the replies to the most recent requests, keyed by sequence. A request that
// repeats a sequence but names another action or server is a new request (its sender
// restarted and counts from the start again), not a retry.
class ScaleReplyCache {
 public:
  explicit ScaleReplyCache(std::size_t capacity);

  // `sender` tells balancers apart: each counts its own sequences from the start.
  [[nodiscard]] const wire::ScaleReply* find(const wire::ScaleRequest& request,
                                             std::string_view sender = {}) const;
  void remember(const wire::ScaleRequest& request, const wire::ScaleReply& reply,
                std::string_view sender = {});
  void clear() { entries_.clear(); }
  [[nodiscard]] std::size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    std::string sender;
    wire::ScaleRequest request;
    wire::ScaleReply reply;
  };
  std::size_t capacity_;
  std::deque<Entry> entries_;  // oldest first; the oldest is forgotten at capacity
};

// Executes a new request and says what happened.
// Carries out a new request; `sender` names the balancer that asked (its source address).
using ScaleExecutor =
    std::function<wire::ScaleReply(const wire::ScaleRequest&, std::string_view sender)>;

struct ScaleAnswer {
  wire::ScaleReply reply;
  bool executed = false;  // false: a retry, answered from the cache
};

// The idempotent step: a cached reply for a retry, else execute and remember.
[[nodiscard]] ScaleAnswer answer_scale_request(ScaleReplyCache& cache,
                                               const wire::ScaleRequest& request,
                                               const ScaleExecutor& execute,
                                               std::string_view sender = {});

struct ListenerCounters {
  uint64_t executed = 0;            // new requests carried out (whatever their result)
  uint64_t retries_answered = 0;    // repeats answered from the cache
  uint64_t source_not_allowed = 0;  // beyond loopback without a key
  uint64_t not_scale_request = 0;   // well formed, but another message type
  uint64_t send_errors = 0;
  std::array<uint64_t, wire::kWireErrorCount> rejected{};  // by decode error
};

class ScaleListener {
 public:
  static constexpr std::size_t kRepliesRemembered = 1024;
  static constexpr std::size_t kDatagramsPerDrainMax = 64;
  static constexpr uint32_t kSenderId = 0xC0A7'0001;  // the controller's id in auth trailers

  // `key` (may be null) must outlive the listener.
  explicit ScaleListener(const wire::AuthKey* key);
  ~ScaleListener();
  ScaleListener(const ScaleListener&) = delete;
  ScaleListener& operator=(const ScaleListener&) = delete;

  // Binds `address` (controller.address:port). On failure returns false and sets `error`.
  [[nodiscard]] bool open(const NetAddress& address, std::string& error);
  [[nodiscard]] int fd() const { return fd_; }
  // Answers the datagrams waiting now (at most kDatagramsPerDrainMax); returns how many
  // were read. Never blocks.
  std::size_t drain(const ScaleExecutor& execute);
  // Forgets every remembered reply (the balancer restarted; its sequences start over).
  void forget_replies() { cache_.clear(); }
  [[nodiscard]] const ListenerCounters& counters() const { return counters_; }

 private:
  void handle(std::span<const uint8_t> datagram, const NetAddress& source,
              const ScaleExecutor& execute);
  void send_reply(const wire::ScaleReply& reply, const NetAddress& destination);

  const wire::AuthKey* key_;
  std::optional<wire::ReplayGuard> replay_guard_;
  uint64_t auth_sequence_;
  int fd_ = -1;
  ScaleReplyCache cache_;
  ListenerCounters counters_;
};

}  // namespace shortline::controller

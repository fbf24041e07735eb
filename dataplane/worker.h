// One data-plane worker: its io_uring, provided buffers, listen socket, session table,
// server picker and timers. The loop is a fixed sequence: reap completions -> handle
// replies -> place the batch of requests -> queue sends -> timers -> submit once.
// Nothing is allocated, locked or logged after init().
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <system_error>

#include "dataplane/dataplane_config.h"
#include "dataplane/send_batch.h"
#include "dataplane/server_picker.h"
#include "dataplane/server_table.h"
#include "dataplane/session_table.h"
#include "dataplane/slot_deltas.h"
#include "dataplane/uring.h"
#include "dataplane/worker_stats.h"

namespace shortline {

// Set by the balancer, read by every worker once per loop.
struct RunControl {
  std::atomic<bool> stop_receiving{false};  // drain: stop reading new requests
  std::atomic<uint64_t> drain_deadline_ns{0};
};

class Worker {
 public:
  Worker(uint32_t id, const DataplaneConfig& config, ServerTable& table, WorkerStats& stats);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Must run on the worker's own thread (the ring is single-issuer). Takes the listen fd.
  [[nodiscard]] std::error_code init(int listen_fd);
  // Runs until stop_receiving is set and every reply has come (or the drain deadline).
  void run(const RunControl& control);

 private:
  struct Request {
    uint16_t buffer_id;
    uint32_t length;
    const uint8_t* payload;
    const sockaddr* name;
    socklen_t name_length;
  };

  void handle_completion(const struct Completion& completion);
  void on_listen_receive(const struct Completion& completion);
  void on_upstream_receive(const struct Completion& completion);
  void on_send_done(const struct Completion& completion, bool to_upstream, bool group);
  void send_finished(uint32_t state_index, int32_t result, bool to_upstream);
  void flush_sends();
  void finish_sends();
  void note_kernel_drops(struct io_uring_recvmsg_out* out);
  void place_requests(const PoolSnapshot& pool);
  void forward_request(const Request& request, const PoolSnapshot& pool, uint64_t now_ns);
  [[nodiscard]] const PoolMember* pick_member(const Request& request, const PoolSnapshot& pool);
  [[nodiscard]] bool same_server(const Session& session) const;
  [[nodiscard]] uint32_t session_for(const Request& request, const PoolSnapshot& pool,
                                     uint64_t now_ns);
  [[nodiscard]] uint32_t open_session(const FlowKey& key, const PoolMember& member,
                                      const Request& request, uint64_t now_ns);
  [[nodiscard]] bool make_room();
  void close_session(uint32_t index, Counter reason);
  void time_out_requests(uint32_t index);
  void reply_arrived(uint32_t index);
  void forward_empty_reply(uint32_t session_index);
  void send_reply(uint32_t state_index, uint32_t session_index, void* data, uint32_t length);
  void release_send_state(uint32_t state_index);
  void run_timers(uint64_t now_ns);
  void rearm_receives();
  void arm_listen();
  void drop_request(uint16_t buffer_id, Counter reason);
  [[nodiscard]] bool drained() const;
  void close_all_sessions();

  uint32_t id_;
  const DataplaneConfig& config_;
  ServerTable& table_;
  WorkerStats& stats_;
  Uring ring_;
  BufferRing buffers_;
  SessionTable sessions_;
  ServerPicker picker_;
  SlotDeltas deltas_;
  int listen_fd_ = -1;
  bool listen_armed_ = false;
  bool listen_wanted_ = true;
  msghdr listen_header_{};
  uint64_t now_ns_ = 0;
  uint64_t next_timer_ns_ = 0;
  uint64_t timer_interval_ns_;
  uint64_t request_timeout_ns_;
  uint64_t idle_timeout_ns_;
  uint32_t responses_;
  std::unique_ptr<Completion[]> completions_;
  std::unique_ptr<Request[]> requests_;
  uint32_t request_count_ = 0;
  // Send states for replies without a buffer (empty datagrams), past the buffer ids.
  static constexpr uint32_t kEmptyReplySlots = 64;
  SendBatch sends_;  // send state per buffer id (plus the empty-reply slots), GSO groups
  std::unique_ptr<uint32_t[]> empty_free_;
  uint32_t empty_free_count_ = 0;
  uint32_t sends_in_flight_ = 0;  // queued or submitted, completion not yet seen
  static constexpr uint64_t kFinalSendWaitNs = 200'000'000;
  struct Rearm {
    uint32_t session;
    uint32_t generation;
  };
  std::unique_ptr<Rearm[]> rearm_;  // sessions whose multishot receive ended
  uint32_t rearm_count_ = 0;
};

}  // namespace shortline

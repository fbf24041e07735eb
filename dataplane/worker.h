// One data-plane worker: its WorkerIo (ring and provided buffers), listen socket, pool of
// pre-opened upstream sockets, session table, source limiter, server picker and timers.
// The loop is a fixed sequence: timers -> reap completions (replies are forwarded as they
// are reaped) -> publish in-flight deltas -> place the batch of requests -> queue sends ->
// publish deltas and service-time estimates -> submit once. Nothing is allocated, locked or logged after init(), and no socket is
// opened, connected or closed: sessions borrow upstream sockets from the pool.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "dataplane/dataplane_config.h"
#include "dataplane/file_budget.h"
#include "dataplane/send_batch.h"
#include "dataplane/server_picker.h"
#include "dataplane/server_table.h"
#include "dataplane/service_estimate.h"
#include "dataplane/session_table.h"
#include "dataplane/slot_deltas.h"
#include "dataplane/source_limiter.h"
#include "dataplane/upstream_pool.h"
#include "dataplane/worker_io.h"
#include "dataplane/worker_stats.h"

struct io_uring_recvmsg_out;  // liburing.h: the worker's header keeps liburing out

namespace shortline {

// Set by the balancer, read by every worker once per loop.
struct RunControl {
  std::atomic<bool> stop_receiving{false};  // drain: stop reading new requests
  std::atomic<uint64_t> drain_deadline_ns{0};
};

class Worker {
 public:
  // io: the kernel by default (KernelIo); tests pass a fake.
  Worker(uint32_t id, const DataplaneConfig& config, WorkerCapacity capacity, ServerTable& table,
         WorkerStats& stats, std::unique_ptr<WorkerIo> io = nullptr);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Must run on the worker's own thread (the ring is single-issuer). Takes the listen fd,
  // opens the upstream sockets and arms every receive. Returns "" or what failed.
  [[nodiscard]] std::string init(int listen_fd);
  // Runs until stop_receiving is set and every reply has come (or the drain deadline).
  void run(const RunControl& control);
  // One loop iteration at the given time; false once the worker should stop. run() is
  // iterate() until false, then finish(). Tests drive these directly.
  bool iterate(const RunControl& control, uint64_t now_ns);
  void finish();

  [[nodiscard]] const SessionTable& sessions() const { return sessions_; }
  [[nodiscard]] const UpstreamPool& pool() const { return pool_; }
  [[nodiscard]] const WorkerServiceEstimates& estimates() const { return estimates_; }
  [[nodiscard]] int socket_fd(uint32_t socket) const { return socket_fds_[socket]; }

 private:
  struct Request {
    uint16_t buffer_id;
    uint32_t length;
    const uint8_t* payload;
    const sockaddr* name;
    socklen_t name_length;
    LocalAddress local;
  };

  // worker.cpp: the loop, receives, sends.
  [[nodiscard]] std::string open_upstream_sockets();
  void handle_completion(const Completion& completion);
  void on_listen_receive(const Completion& completion);
  void read_request_controls(::io_uring_recvmsg_out* out, LocalAddress& local);
  void on_upstream_receive(const Completion& completion);
  void on_upstream_error(uint32_t socket, int32_t result);
  void on_send_done(const Completion& completion, bool group);
  // blame: count a refusal against the server (once per failed sendmsg, not per datagram
  // of a GSO group).
  void send_finished(uint32_t state_index, int32_t result, bool blame = true);
  void undo_unsent_request(const SendState& state, int32_t result, bool blame);
  void send_request(const Request& request, uint32_t session_index);
  void send_reply(uint16_t buffer_id, uint32_t session_index, const void* data, uint32_t length);
  void flush_sends();
  void finish_sends();
  void rearm_receives();
  void arm_listen();
  bool arm_upstream(uint32_t socket);
  void drop_request(uint16_t buffer_id, Counter reason);
  void publish_gauges();
  [[nodiscard]] bool drained() const;

  // worker_sessions.cpp: sessions, admission, timers.
  void place_requests(const PoolSnapshot& pool);
  void forward_request(const Request& request, const PoolSnapshot& pool);
  [[nodiscard]] const PoolMember* pick_member(const Request& request, const FlowKey& client,
                                              const PoolSnapshot& pool);
  [[nodiscard]] bool same_server(const Session& session) const;
  [[nodiscard]] bool serving(uint32_t slot) const;
  void arm_service_sample(Session& session) const;
  void learn_service_time(Session& session);
  void record_reply_latency(const Session& session);
  void apply_settings(const PoolSnapshot& pool);  // a reload's, at a batch boundary
  [[nodiscard]] uint32_t session_for(const Request& request, const FlowKey& client,
                                     uint32_t source, const PoolSnapshot& pool);
  [[nodiscard]] uint32_t open_session(const FlowKey& key, const PoolMember& member,
                                      const Request& request, uint32_t source);
  [[nodiscard]] uint32_t take_socket(uint64_t server, Counter& refused);
  [[nodiscard]] bool frees_socket_for(const Session& session, uint64_t server) const;
  [[nodiscard]] uint32_t eviction_candidate(uint64_t server) const;
  static constexpr uint64_t kAnyServerIdentity = UINT64_MAX;
  void close_session(uint32_t index, Counter reason);
  void abandon_requests(Session& session, uint32_t index);
  void time_out_requests(uint32_t index);
  void reply_arrived(uint32_t index);
  void complete_if_done(uint32_t index);
  void run_timers(uint64_t now_ns);
  [[nodiscard]] uint32_t expire_timed_out(uint64_t now_ns, uint32_t budget);
  [[nodiscard]] uint32_t expire_unreplied(uint64_t now_ns, uint32_t budget);
  [[nodiscard]] uint32_t expire_idle(uint64_t now_ns, uint32_t budget);
  void close_all_sessions();
  [[nodiscard]] static uint64_t server_identity(uint32_t slot, uint32_t generation);
  [[nodiscard]] static uint64_t server_identity(const Session& session);

  uint32_t id_;
  const DataplaneConfig& config_;
  WorkerCapacity capacity_;
  ServerTable& table_;
  WorkerStats& stats_;
  std::unique_ptr<WorkerIo> io_;
  SessionTable sessions_;
  UpstreamPool pool_;
  SourceLimiter limiter_;
  ServerPicker picker_;
  SlotDeltas deltas_;
  WorkerServiceEstimates estimates_;             // service times learnt from replies
  std::unique_ptr<int[]> socket_fds_;            // per pool socket
  std::unique_ptr<uint32_t[]> socket_session_;   // per pool socket: its session or kNoSession
  int upstream_family_ = AF_INET6;               // dual-stack unless IPv6 is off
  int listen_fd_ = -1;
  bool listen_armed_ = false;
  bool listen_wanted_ = true;
  bool reply_from_local_;                        // wildcard listen: replies name their source
  msghdr listen_header_{};
  msghdr upstream_header_{};
  uint64_t now_ns_ = 0;
  uint64_t next_timer_ns_ = 0;
  uint64_t settings_version_ = 0;               // of the live settings applied
  uint64_t timer_interval_ns_;
  uint64_t request_timeout_ns_;
  uint64_t idle_timeout_ns_;
  uint64_t unreplied_timeout_ns_;
  uint32_t responses_;
  std::unique_ptr<Completion[]> completions_;
  std::unique_ptr<Request[]> requests_;
  uint32_t request_count_ = 0;
  uint32_t batch_datagrams_ = 0;  // datagrams received in this iteration
  SendBatch sends_;  // send state per buffer id, GSO groups
  uint32_t sends_in_flight_ = 0;  // queued or submitted, completion not yet seen
  static constexpr uint64_t kFinalSendWaitNs = 200'000'000;
  std::unique_ptr<uint32_t[]> rearm_;  // pool sockets whose multishot receive ended
  uint32_t rearm_count_ = 0;
};

}  // namespace shortline

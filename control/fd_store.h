// systemd's file descriptor store (FileDescriptorStoreMax=, sd_notify "FDSTORE=1"): with
// load_balancer.fd_store on, shortline-lb hands its listen sockets and its control socket
// to the service manager once every worker reads, and the next start of the unit
// (systemctl restart, or Restart= after a crash) gets them back as LISTEN_FDS. The new
// process serves the very same sockets, as after a takeover (control/takeover.h): what
// arrived while no process ran waits in their queues, and the SO_REUSEPORT group, so each
// flow's worker, stays as it was.
//
// The config decides: stored listen sockets are taken only when they are bound where the
// config listens and are as many as it has workers (the control socket: where it puts the
// control port); otherwise they are dropped from the store (FDSTOREREMOVE) and the
// balancer binds anew, so that an edited listen address or worker count applies at restart.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "control/control_thread.h"
#include "dataplane/balancer.h"

namespace shortline {

// The FDNAME= of each kind of stored socket.
inline constexpr const char* kStoredListenName = "shortline-listen";
inline constexpr const char* kStoredControlName = "shortline-control";

using FdStoreLog = std::function<void(const std::string&)>;

// What the service manager passed back at this start. Each call is a no-op when it passed
// nothing (not under systemd, a first start, or fd_store off before).
class StoredSockets {
 public:
  StoredSockets() = default;
  ~StoredSockets();
  StoredSockets(const StoredSockets&) = delete;
  StoredSockets& operator=(const StoredSockets&) = delete;

  // Reads LISTEN_FDS / LISTEN_FDNAMES (and unsets them, so children do not see them).
  // Sockets of other names are closed and logged.
  void receive(FdStoreLog log);
  // Before Balancer::open(): hands the listen sockets over when they match the config
  // (see above), else drops them from the store. Returns "" or what is wrong with them.
  [[nodiscard]] std::string hand_listen_sockets(Balancer& balancer);
  // Before ControlThread::start(): the control socket, when it is bound at `wanted` (port
  // 0: any) and the listen sockets were taken; else it is dropped from the store.
  void hand_control_socket(ControlThread& control, const NetAddress& wanted);
  // Drops every passed socket from the store (fd_store is off now, or a takeover brings
  // the sockets instead).
  void drop_all(const std::string& why);

 private:
  // Closes fds, removes `name` from the store and logs `what` ("fd store: " + what).
  void drop(std::vector<int>& fds, const char* name, const std::string& what);

  FdStoreLog log_;
  std::vector<int> listen_fds_;
  std::vector<int> control_fds_;
  bool took_listen_ = false;
};

// After every worker reads: FDSTORE=1 of the listen sockets and of the control socket (when
// bound). Returns "" or what failed; "" without doing anything when NOTIFY_SOCKET is unset.
[[nodiscard]] std::string store_sockets(const Balancer& balancer, const ControlThread& control);

}  // namespace shortline

// The balancer's sockets in systemd's file descriptor store; see fd_store.h.
#include "control/fd_store.h"

#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <utility>

namespace shortline {
namespace {

// A UDP socket bound at `wanted`, or at its host on any port when wanted's port is 0.
bool bound_as_wanted(int fd, const NetAddress& wanted) {
  const NetAddress bound = bound_udp_address(fd).value_or(NetAddress{});
  if (bound.family() == 0 || bound.family() != wanted.family()) return false;
  if (wanted.port() == 0) return bound.host() == wanted.host();
  return bound == wanted;
}

constexpr const char* kBindingAnew = "; binding anew (what waited in them is lost)";

void close_all(std::vector<int>& fds) {
  for (const int fd : fds) ::close(fd);
  fds.clear();
}

// sd_pid_notify_with_fds returns 0 when NOTIFY_SOCKET is unset: nothing to do.
std::string notify_with_fds(const std::string& state, const std::vector<int>& fds) {
  const int rc = sd_pid_notify_with_fds(0, 0, state.c_str(), fds.data(),
                                        static_cast<unsigned>(fds.size()));
  if (rc >= 0) return "";
  return "fd store: cannot notify the service manager (" + state.substr(0, state.find('\n')) +
         "): " + std::strerror(-rc);
}

}  // namespace

StoredSockets::~StoredSockets() {
  close_all(listen_fds_);
  close_all(control_fds_);
}

void StoredSockets::receive(FdStoreLog log) {
  log_ = std::move(log);
  char** names = nullptr;
  const int count = sd_listen_fds_with_names(1, &names);
  for (int i = 0; i < count; ++i) {
    const int fd = SD_LISTEN_FDS_START + i;
    const std::string name = names != nullptr && names[i] != nullptr ? names[i] : "";
    if (name == kStoredListenName) {
      listen_fds_.push_back(fd);
    } else if (name == kStoredControlName) {
      control_fds_.push_back(fd);
    } else {
      log_("fd store: closed a passed descriptor named \"" + name + "\" (not shortline-lb's)");
      ::close(fd);
    }
  }
  if (names != nullptr) {
    for (char** name = names; *name != nullptr; ++name) std::free(*name);
    std::free(names);
  }
  if (count < 0)
    log_(std::string("fd store: cannot read LISTEN_FDS: ") + std::strerror(-count));
}

std::string StoredSockets::hand_listen_sockets(Balancer& balancer) {
  if (listen_fds_.empty()) return "";
  const DataplaneConfig& asked = balancer.config();
  const NetAddress first = bound_udp_address(listen_fds_.front()).value_or(NetAddress{});
  // workers 0 (one per CPU) takes the stored count: the CPUs rarely change between runs.
  const bool count_fits = asked.workers == 0 || listen_fds_.size() == asked.workers;
  if (!bound_as_wanted(listen_fds_.front(), asked.listen) || !count_fits) {
    drop(listen_fds_, kStoredListenName,
         "not taking " + std::to_string(listen_fds_.size()) + " listen sockets at " +
             first.to_string() + ", the config asks for " + std::to_string(asked.workers) +
             " at " + asked.listen.to_string() + kBindingAnew);
    return "";
  }
  const auto count = listen_fds_.size();
  took_listen_ = true;
  if (auto error = balancer.adopt_listen_sockets(std::exchange(listen_fds_, {})); !error.empty())
    return "fd store: " + error;
  log_("fd store: serving the " + std::to_string(count) + " listen sockets at " +
       first.to_string() + " that the service manager kept (their queues come with them)");
  return "";
}

void StoredSockets::drop_all(const std::string& why) {
  if (!listen_fds_.empty())
    drop(listen_fds_, kStoredListenName, "dropped the stored listen sockets: " + why);
  if (!control_fds_.empty())
    drop(control_fds_, kStoredControlName, "dropped the stored control socket: " + why);
}

void StoredSockets::hand_control_socket(ControlThread& control, const NetAddress& wanted) {
  if (control_fds_.empty()) return;
  const NetAddress bound = bound_udp_address(control_fds_.front()).value_or(NetAddress{});
  if (!took_listen_ || control_fds_.size() != 1 || !bound_as_wanted(control_fds_.front(), wanted)) {
    drop(control_fds_, kStoredControlName,
         "not taking the control socket at " + bound.to_string() + ", the config asks for " +
             wanted.to_string() + kBindingAnew);
    return;
  }
  control.adopt_control_socket(control_fds_.front());
  control_fds_.clear();
}

// Binding anew while the service manager still holds the old sockets would let a
// SO_REUSEPORT group deal datagrams to sockets that nobody reads: they leave the store.
void StoredSockets::drop(std::vector<int>& fds, const char* name, const std::string& what) {
  close_all(fds);
  log_("fd store: " + what);
  if (const auto error = notify_with_fds(std::string("FDSTOREREMOVE=1\nFDNAME=") + name, {});
      !error.empty())
    log_(error);
}

std::string store_sockets(const Balancer& balancer, const ControlThread& control) {
  if (std::getenv("NOTIFY_SOCKET") == nullptr) return "";
  std::string error = notify_with_fds(std::string("FDSTORE=1\nFDNAME=") + kStoredListenName,
                                      balancer.listen_fds());
  if (error.empty() && control.control_fd() >= 0)
    error = notify_with_fds(std::string("FDSTORE=1\nFDNAME=") + kStoredControlName,
                            {control.control_fd()});
  return error;
}

}  // namespace shortline

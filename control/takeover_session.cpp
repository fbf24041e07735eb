// Both ends of a takeover: the old process's listener thread (peer check, offer, waiting
// for "reading", SIGTERM to itself) and the new process's claim. Anything unexpected on
// the listener's side (a stranger, garbage, a successor that dies or stalls midway) ends
// that connection only: the old balancer serves on.
#include "control/takeover_session.h"

#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace shortline {
namespace {

using takeover::FdKind;
using takeover::Message;
using takeover::MessageType;

constexpr int kRequestWaitMs = 5'000;   // a connection that asks nothing this long is dropped
// The successor opens its upstream pools and rings before it reads: seconds on a big
// config or under a sanitizer.
constexpr int kReadingWaitMs = 60'000;
constexpr int kDoneWaitMs = 10'000;     // the old one stops its admin server and workers

std::string errno_text(const std::string& what) { return what + ": " + std::strerror(errno); }

bool make_address(const std::string& path, sockaddr_un& address) {
  address = {};
  address.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(address.sun_path)) return false;
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  return true;
}

// A SEQPACKET unix socket and the address `socket_path` (`error` names `shown_path`);
// -1 when the path does not fit or no socket could be made.
int unix_socket(const std::string& socket_path, const std::string& shown_path,
                sockaddr_un& address, std::string& error) {
  if (!make_address(socket_path, address)) {
    error = "takeover socket path too long: " + shown_path;
    return -1;
  }
  const int fd = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd < 0) error = errno_text("socket");
  return fd;
}

// -1 with `error` set when nobody listens at `path` (or it cannot be reached).
int connect_to(const std::string& path, std::string& error) {
  sockaddr_un address{};
  const int fd = unix_socket(path, path, address, error);
  if (fd < 0) return -1;
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
    error = errno_text("connect " + path);
    ::close(fd);
    return -1;
  }
  return fd;
}

// Bound at PATH.new and renamed over PATH: the socket is 0600 before anyone can reach it
// by its name, and a stale file left by a crash is replaced atomically.
int listen_at(const std::string& path, std::string& error) {
  const std::string staging = path + ".new";
  sockaddr_un address{};
  const int fd = unix_socket(staging, path, address, error);
  if (fd < 0) return -1;
  (void)::unlink(staging.c_str());
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0 ||
      ::chmod(staging.c_str(), 0600) != 0 || ::listen(fd, 4) != 0 ||
      ::rename(staging.c_str(), path.c_str()) != 0) {
    error = errno_text("takeover socket " + path);
    (void)::unlink(staging.c_str());
    ::close(fd);
    return -1;
  }
  return fd;
}

void close_fds(const std::vector<int>& fds) {
  for (const int fd : fds) ::close(fd);
}

}  // namespace

TakeoverListener::~TakeoverListener() { finish(); }

std::string TakeoverListener::start(const std::string& path, const Balancer& balancer,
                                    const ControlThread& control, TakeoverLog log) {
  std::string ignored;
  if (const int probe = connect_to(path, ignored); probe >= 0) {
    ::close(probe);
    return "takeover socket " + path + ": another balancer offers its sockets there";
  }
  std::string error;
  listen_fd_ = listen_at(path, error);
  if (listen_fd_ < 0) return error;
  struct stat info{};
  if (::stat(path.c_str(), &info) == 0) {
    inode_ = info.st_ino;
    device_ = info.st_dev;
  }
  stop_fd_ = ::eventfd(0, EFD_CLOEXEC);
  if (stop_fd_ < 0) {
    error = errno_text("eventfd");
    finish();
    return error;
  }
  path_ = path;
  balancer_ = &balancer;
  control_ = &control;
  log_ = std::move(log);
  thread_ = std::thread([this] { run(); });
  return "";
}

void TakeoverListener::run() {
  for (;;) {
    pollfd ready[2] = {{listen_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    if (::poll(ready, 2, -1) < 0 && errno != EINTR) return;
    if ((ready[1].revents & POLLIN) != 0) return;
    if ((ready[0].revents & POLLIN) == 0) continue;
    const int connection = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (connection < 0) continue;
    if (serve(connection)) {
      successor_fd_ = connection;
      // The main thread's usual shutdown stops receiving and calls finish(), which says
      // "done"; the drain that follows is the same as for any SIGTERM.
      ::kill(::getpid(), SIGTERM);
      return;
    }
    ::close(connection);
  }
}

// Only the balancer's own user may take its sockets (the path's mode says the same).
bool TakeoverListener::peer_allowed(int connection) {
  ucred peer{};
  socklen_t length = sizeof(peer);
  if (::getsockopt(connection, SOL_SOCKET, SO_PEERCRED, &peer, &length) != 0) return false;
  if (peer.uid == ::geteuid()) return true;
  log_("takeover: refused pid " + std::to_string(peer.pid) + " of uid " +
       std::to_string(peer.uid) + " (only uid " + std::to_string(::geteuid()) +
       " may take over); still serving");
  return false;
}

bool TakeoverListener::wait_readable(int connection, int timeout_ms) {
  pollfd ready[2] = {{connection, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
  return ::poll(ready, 2, timeout_ms) > 0 && (ready[1].revents & POLLIN) == 0 &&
         ready[0].revents != 0;
}

// True once the successor said "reading"; false (logged) for anything else.
bool TakeoverListener::serve(int connection) {
  if (!peer_allowed(connection)) return false;
  std::vector<int> stray;  // a request carries no fds; any that came are closed
  std::string error = "no request within " + std::to_string(kRequestWaitMs) + " ms";
  std::optional<Message> request;
  if (wait_readable(connection, kRequestWaitMs))
    request = takeover::receive_message(connection, 0, stray, error);
  close_fds(stray);
  stray.clear();
  if (request && request->type != MessageType::request) error = "expected a request";
  if (!request || request->type != MessageType::request) {
    log_("takeover: bad request (" + error + "); still serving");
    return false;
  }
  send_offer(connection, *request);
  error = "no reply within " + std::to_string(kReadingWaitMs) + " ms";
  std::optional<Message> reading;
  if (wait_readable(connection, kReadingWaitMs))
    reading = takeover::receive_message(connection, 0, stray, error);
  close_fds(stray);
  if (reading && reading->type != MessageType::reading) error = "expected reading";
  if (!reading || reading->type != MessageType::reading) {
    log_("takeover: pid " + std::to_string(request->pid) + " did not take over (" + error +
         "); still serving");
    return false;
  }
  log_("takeover: pid " + std::to_string(reading->pid) +
       " reads the listen sockets; stopping receiving and draining");
  return true;
}

void TakeoverListener::send_offer(int connection, const Message& request) {
  Message offer;
  offer.type = MessageType::offer;
  offer.pid = static_cast<uint32_t>(::getpid());
  offer.listen = balancer_->listen_address();
  const std::vector<int>& listen_fds = balancer_->listen_fds();
  offer.workers = static_cast<uint32_t>(listen_fds.size());
  std::vector<int> fds = listen_fds;
  offer.fd_kinds.assign(fds.size(), FdKind::listen);
  if (control_->control_fd() >= 0) {
    fds.push_back(control_->control_fd());
    offer.fd_kinds.push_back(FdKind::control);
  }
  log_("takeover: pid " + std::to_string(request.pid) + " asks for the sockets; offering " +
       std::to_string(offer.workers) + " listen sockets" +
       (control_->control_fd() >= 0 ? " and the control socket" : ""));
  if (auto error = takeover::send_message(connection, offer, fds); !error.empty())
    log_("takeover: " + error);  // the successor then reports the failure and exits
}

void TakeoverListener::finish() {
  if (thread_.joinable()) {
    const uint64_t one = 1;
    (void)!::write(stop_fd_, &one, sizeof(one));
    thread_.join();
  }
  // Removed before "done": the successor binds the path only after it.
  struct stat info{};
  if (!path_.empty() && ::stat(path_.c_str(), &info) == 0 && info.st_ino == inode_ &&
      info.st_dev == device_)
    (void)::unlink(path_.c_str());
  path_.clear();
  if (successor_fd_ >= 0) {
    Message done;
    done.type = MessageType::done;
    done.pid = static_cast<uint32_t>(::getpid());
    if (auto error = takeover::send_message(successor_fd_, done); !error.empty())
      log_("takeover: telling the successor: " + error);
    ::close(successor_fd_);
    successor_fd_ = -1;
  }
  for (int* fd : {&listen_fd_, &stop_fd_}) {
    if (*fd >= 0) ::close(*fd);
    *fd = -1;
  }
}

TakeoverClaim::~TakeoverClaim() {
  if (connection_ >= 0) ::close(connection_);
  if (control_fd_ >= 0) ::close(control_fd_);
}

std::string TakeoverClaim::claim(const std::string& path, Balancer& balancer, TakeoverLog log) {
  if (path.empty()) return "";
  log_ = std::move(log);
  std::string error;
  const int connection = connect_to(path, error);
  if (connection < 0) return "takeover: " + error;
  Message request;
  request.pid = static_cast<uint32_t>(::getpid());
  std::vector<int> fds;
  error = takeover::send_message(connection, request);
  std::optional<Message> offer;
  if (error.empty()) offer = takeover::receive_message(connection, kReadingWaitMs, fds, error);
  if (offer && (offer->type != MessageType::offer || offer->fd_kinds.size() != fds.size()))
    error = "the running balancer sent " + std::to_string(fds.size()) + " fds, not an offer";
  if (!error.empty()) {
    close_fds(fds);
    ::close(connection);
    return "takeover from " + path + ": " + error;
  }
  connection_ = connection;
  claimed_ = true;
  old_pid_ = offer->pid;
  std::vector<int> listen_fds;
  for (size_t i = 0; i < fds.size(); ++i) {
    if (offer->fd_kinds[i] == FdKind::listen) listen_fds.push_back(fds[i]);
    else control_fd_ = fds[i];
  }
  const DataplaneConfig& asked = balancer.config();
  if (asked.workers != offer->workers || !(asked.listen == offer->listen))
    log_("takeover: serving " + offer->listen.to_string() + " with " +
         std::to_string(offer->workers) + " workers as pid " + std::to_string(old_pid_) +
         " did (the config asks for " + asked.listen.to_string() + " with " +
         std::to_string(asked.workers) + "; changing them needs a restart)");
  if (auto adopt_error = balancer.adopt_listen_sockets(std::move(listen_fds)); !adopt_error.empty())
    return adopt_error;
  return "";
}

void TakeoverClaim::hand_control_socket(ControlThread& control) {
  if (control_fd_ < 0) return;
  control.adopt_control_socket(control_fd_);
  control_fd_ = -1;
}

void TakeoverClaim::confirm_reading() {
  if (connection_ < 0) return;
  Message reading;
  reading.type = MessageType::reading;
  reading.pid = static_cast<uint32_t>(::getpid());
  std::string error = takeover::send_message(connection_, reading);
  std::vector<int> stray;
  std::optional<Message> done;
  if (error.empty()) done = takeover::receive_message(connection_, kDoneWaitMs, stray, error);
  close_fds(stray);
  if (done && done->type != MessageType::done) error = "expected done";
  if (done && error.empty())
    log_("takeover: pid " + std::to_string(old_pid_) + " stopped receiving and drains");
  else  // serving either way; only the admin port may still be held
    log_("takeover: no word from pid " + std::to_string(old_pid_) + " (" + error + ")");
  ::close(connection_);
  connection_ = -1;
}

}  // namespace shortline

// FakeWorkerIo: the worker's kernel interface in memory, for unit tests. Provided buffers
// with a free list that behaves like the kernel's buffer ring (recycled buffers come back
// at commit), per-socket receive queues feeding armed multishot recvmsgs laid out exactly
// as the kernel writes them (io_uring_recvmsg_out, name, control, payload; -ENOBUFS ends
// the multishot), sends recorded with copies of their destination, control and payload
// and completed by the test, cancels, and fake upstream descriptors. No ring, no sockets.
#pragma once

#include <gtest/gtest.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/net_address.h"
#include "dataplane/worker_io.h"

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103  // linux/udp.h; glibc's netinet/udp.h lacks it before 2.36
#endif

namespace shortline {

class FakeWorkerIo final : public WorkerIo {
 public:
  // A multishot recvmsg as armed: the header's name and control room, its user_data.
  struct Armed {
    uint32_t name_bytes = 0;
    uint32_t control_bytes = 0;
    uint64_t user_data = 0;
  };

  // One sendmsg as the worker issued it, copied at the call.
  struct Sent {
    int fd = -1;
    NetAddress destination;           // from msg_name; family 0 when none was given
    socklen_t destination_length = 0;
    std::vector<uint8_t> control;     // msg_control's msg_controllen bytes
    std::string payload;              // every iovec, concatenated
    std::size_t iov_count = 0;
    uint16_t segment_bytes = 0;       // UDP_SEGMENT (GSO); 0 when absent
    std::optional<in_pktinfo> pktinfo;    // IP_PKTINFO
    std::optional<in6_pktinfo> pktinfo6;  // IPV6_PKTINFO
    uint64_t user_data = 0;
    std::vector<uint16_t> buffers;    // provided buffers the iovecs point into
    bool completed = false;
  };

  // --- knobs ---
  int init_result = 0;             // returned by init() (0 or an errno value)
  bool ipv6_unsupported = false;   // open_upstream_socket(AF_INET6) fails with EAFNOSUPPORT
  int open_error = 0;              // -errno returned by opens after open_error_after succeeded
  std::size_t open_error_after = 0;
  bool submission_full = false;    // every prepare fails: the queue stays full
  bool auto_complete_sends = false;  // submit() completes every pending send successfully

  // --- records ---
  uint32_t sq_entries = 0;
  std::map<int, Armed> armed;      // multishots in progress, by fd
  std::map<int, uint32_t> arms;    // recvmsg_multishot calls, by fd
  std::vector<Sent> sent;
  std::vector<std::pair<uint64_t, uint64_t>> cancels;  // (target, user_data)
  std::vector<int> families;       // open_upstream_socket calls
  std::vector<int> opened;
  std::shared_ptr<std::vector<int>> closed = std::make_shared<std::vector<int>>();
  std::vector<int> drained;        // drain_error_queue calls
  uint32_t submits = 0;
  uint32_t waits = 0;

  static constexpr int kFirstUpstreamFd = 1000;

  // --- WorkerIo ---
  int init(uint32_t sq, uint32_t cq, uint32_t buffers, uint32_t buffer_bytes) override {
    sq_entries = sq;
    EXPECT_GE(cq, sq);
    if (init_result != 0) return init_result;
    EXPECT_GT(buffers, 0u);
    EXPECT_LE(buffers, 32768u);
    buffer_bytes_ = buffer_bytes;
    stride_ = (buffer_bytes + kLine - 1) / kLine * kLine;
    memory_.assign(std::size_t{buffers} * stride_ / kLine, Line{});
    states_.assign(buffers, BufferState::free);
    free_.clear();
    for (uint32_t id = 0; id < buffers; ++id) free_.push_back(static_cast<uint16_t>(id));
    return 0;
  }

  bool recvmsg_multishot(int fd, const msghdr* header, uint64_t user_data) override {
    if (submission_full) return false;
    ++arms[fd];
    if (armed.count(fd) != 0) ADD_FAILURE() << "fd " << fd << " armed twice";
    armed[fd] = {header->msg_namelen, static_cast<uint32_t>(header->msg_controllen), user_data};
    return true;
  }

  bool sendmsg(int fd, const msghdr* message, uint64_t user_data) override {
    if (submission_full) return false;
    Sent record;
    record.fd = fd;
    record.user_data = user_data;
    if (message->msg_name != nullptr) {
      record.destination_length = message->msg_namelen;
      record.destination = NetAddress::from_sockaddr(
          static_cast<const sockaddr*>(message->msg_name), message->msg_namelen);
    }
    if (message->msg_controllen != 0) {
      const auto* control = static_cast<const uint8_t*>(message->msg_control);
      record.control.assign(control, control + message->msg_controllen);
    }
    record.iov_count = message->msg_iovlen;
    for (std::size_t v = 0; v < message->msg_iovlen; ++v) {
      const iovec& vector = message->msg_iov[v];
      record.payload.append(static_cast<const char*>(vector.iov_base), vector.iov_len);
      record.buffers.push_back(held_buffer_of(vector.iov_base, "sendmsg"));
    }
    parse_control(record);
    sent.push_back(std::move(record));
    return true;
  }

  bool cancel(uint64_t target_user_data, uint64_t user_data) override {
    if (submission_full) return false;
    cancels.emplace_back(target_user_data, user_data);
    for (auto it = armed.begin(); it != armed.end(); ++it) {
      if (it->second.user_data != target_user_data) continue;
      armed.erase(it);
      completions_.push_back({target_user_data, -ECANCELED, 0});
      completions_.push_back({user_data, 0, 0});
      return true;
    }
    completions_.push_back({user_data, -ENOENT, 0});
    return true;
  }

  void submit() override {
    ++submits;
    run_kernel();
  }
  void submit_and_wait(uint64_t) override {
    ++waits;
    run_kernel();
  }

  uint32_t reap(Completion* out, uint32_t max) override {
    uint32_t count = 0;
    while (count < max && !completions_.empty()) {
      out[count++] = completions_.front();
      completions_.pop_front();
    }
    return count;
  }

  uint8_t* buffer(uint16_t id) override {
    EXPECT_LT(id, states_.size());
    EXPECT_EQ(states_[id], BufferState::held) << "buffer " << id << " read while not held";
    return base() + std::size_t{id} * stride_;
  }
  void recycle(uint16_t id) override {
    if (id >= states_.size() || states_[id] != BufferState::held) {
      ADD_FAILURE() << "recycle of buffer " << id << " that the worker does not hold";
      return;
    }
    states_[id] = BufferState::recycled;
    recycled_.push_back(id);
  }
  void commit_buffers() override {
    for (const uint16_t id : recycled_) {
      states_[id] = BufferState::free;
      free_.push_back(id);
    }
    recycled_.clear();
  }

  int open_upstream_socket(int family) override {
    families.push_back(family);
    if (ipv6_unsupported && family == AF_INET6) return -EAFNOSUPPORT;
    if (open_error != 0 && opened.size() >= open_error_after) return open_error;
    const int fd = kFirstUpstreamFd + static_cast<int>(opened.size());
    opened.push_back(fd);
    return fd;
  }
  void close_socket(int fd) override { closed->push_back(fd); }
  void drain_error_queue(int fd) override { drained.push_back(fd); }

  // --- what the network does ---

  // A datagram to the listen socket from `client`. `local`: the address it was sent to,
  // reported as IP_PKTINFO (IPv4) or IPV6_PKTINFO; rxq_dropped: an SO_RXQ_OVFL count.
  void client_datagram(int fd, const NetAddress& client, std::string_view payload,
                       const std::optional<NetAddress>& local = std::nullopt,
                       std::optional<uint32_t> rxq_dropped = std::nullopt) {
    std::vector<uint8_t> control;
    // The kernel's order: sock_recv_cmsgs (SO_RXQ_OVFL, only when non-zero) first.
    if (rxq_dropped) append_cmsg(control, SOL_SOCKET, SO_RXQ_OVFL, &*rxq_dropped, sizeof(uint32_t));
    if (local) append_pktinfo(control, *local);
    datagram(fd, client.sockaddr_ptr(), client.length, std::move(control), payload);
  }
  // A datagram on an upstream socket (by fake fd) from `source`.
  void server_datagram(int fd, const NetAddress& source, std::string_view payload) {
    datagram(fd, source.sockaddr_ptr(), source.length, {}, payload);
  }
  // Any datagram: `name` of name_length bytes as recvmsg would report it.
  void datagram(int fd, const sockaddr* name, socklen_t name_length, std::vector<uint8_t> control,
                std::string_view payload) {
    Datagram d;
    if (name_length != 0) {
      const auto* bytes = reinterpret_cast<const uint8_t*>(name);
      d.name.assign(bytes, bytes + name_length);
    }
    d.control = std::move(control);
    d.payload.assign(payload);
    queues_[fd].push_back(std::move(d));
    run_kernel();
  }
  // An error on a socket's armed multishot (e.g. -ECONNREFUSED from IP_RECVERR): it ends.
  void receive_error(int fd, int32_t error) {
    const auto it = armed.find(fd);
    if (it == armed.end()) {
      ADD_FAILURE() << "receive error on fd " << fd << ", which has no receive armed";
      return;
    }
    completions_.push_back({it->second.user_data, error, 0});
    armed.erase(it);
  }

  // --- completing sends ---

  // Completes sent[index]: with the byte count by default, or with `result` (-errno).
  void complete_send(std::size_t index, std::optional<int32_t> result = std::nullopt) {
    ASSERT_LT(index, sent.size());
    Sent& s = sent[index];
    ASSERT_FALSE(s.completed) << "send " << index << " completed twice";
    // The kernel reads the payload until the send completes: its buffers must still be held.
    for (const uint16_t id : s.buffers)
      EXPECT_EQ(states_[id], BufferState::held) << "buffer " << id << " recycled under a send";
    s.completed = true;
    const auto bytes = static_cast<int32_t>(s.payload.size());
    completions_.push_back({s.user_data, result.value_or(bytes), 0});
  }
  // Completes every pending send; returns how many.
  std::size_t complete_sends(std::optional<int32_t> result = std::nullopt) {
    std::size_t count = 0;
    for (std::size_t i = 0; i < sent.size(); ++i) {
      if (sent[i].completed) continue;
      complete_send(i, result);
      ++count;
    }
    return count;
  }

  // --- inspection ---
  [[nodiscard]] std::size_t pending_sends() const {
    return static_cast<std::size_t>(
        std::count_if(sent.begin(), sent.end(), [](const Sent& s) { return !s.completed; }));
  }
  [[nodiscard]] bool is_armed(int fd) const { return armed.count(fd) != 0; }
  [[nodiscard]] uint32_t arm_count(int fd) const {
    const auto it = arms.find(fd);
    return it == arms.end() ? 0 : it->second;
  }
  [[nodiscard]] std::size_t free_buffers() const { return free_.size(); }
  [[nodiscard]] std::size_t held_buffers() const {
    return static_cast<std::size_t>(std::count(states_.begin(), states_.end(), BufferState::held));
  }
  [[nodiscard]] std::size_t queued_datagrams(int fd) const {
    const auto it = queues_.find(fd);
    return it == queues_.end() ? 0 : it->second.size();
  }
  [[nodiscard]] std::size_t completions_waiting() const { return completions_.size(); }
  [[nodiscard]] uint32_t buffer_bytes() const { return buffer_bytes_; }

 private:
  enum class BufferState : uint8_t { free, held, recycled };
  struct alignas(64) Line {
    uint8_t bytes[64];
  };
  static constexpr uint32_t kLine = sizeof(Line);
  struct Datagram {
    std::vector<uint8_t> name;
    std::vector<uint8_t> control;
    std::string payload;
  };

  [[nodiscard]] uint8_t* base() { return memory_.front().bytes; }

  // The buffer a send's iovec points into; it must be one the worker holds.
  uint16_t held_buffer_of(const void* data, const char* what) {
    const auto* p = static_cast<const uint8_t*>(data);
    const uint8_t* begin = base();
    const uint8_t* end = begin + memory_.size() * kLine;
    if (p < begin || p >= end) {
      ADD_FAILURE() << what << ": iovec outside the provided buffers";
      return UINT16_MAX;
    }
    const auto id = static_cast<uint16_t>(static_cast<std::size_t>(p - begin) / stride_);
    EXPECT_EQ(states_[id], BufferState::held) << what << " from buffer " << id << " not held";
    return id;
  }

  // What the kernel does between submissions: each armed multishot takes its socket's
  // queued datagrams, one provided buffer each, until the queue or the buffers run out.
  void run_kernel() {
    if (auto_complete_sends) (void)complete_sends();
    for (auto& [fd, queue] : queues_) {
      while (!queue.empty()) {
        const auto it = armed.find(fd);
        if (it == armed.end()) break;  // it waits in the socket's queue
        if (free_.empty()) {
          // No buffer: the multishot ends without IORING_CQE_F_MORE; the datagram stays.
          completions_.push_back({it->second.user_data, -ENOBUFS, 0});
          armed.erase(it);
          break;
        }
        const uint16_t id = free_.front();
        free_.pop_front();
        states_[id] = BufferState::held;
        uint8_t* memory = base() + std::size_t{id} * stride_;
        const int32_t result = lay_out(queue.front(), it->second, memory);
        queue.pop_front();
        completions_.push_back(
            {it->second.user_data, result,
             IORING_CQE_F_BUFFER | IORING_CQE_F_MORE | uint32_t{id} << IORING_CQE_BUFFER_SHIFT});
      }
    }
  }

  // As io_recvmsg_multishot (io_uring/net.c): the header, msg_namelen bytes of name room
  // (the name copied up to that room, namelen its real length), msg_controllen bytes of
  // control room (controllen what was written), then as much payload as fits (MSG_TRUNC
  // when not all). The result counts the whole rooms plus the payload copied.
  int32_t lay_out(const Datagram& d, const Armed& armed_as, uint8_t* out) const {
    const std::size_t header =
        sizeof(io_uring_recvmsg_out) + armed_as.name_bytes + armed_as.control_bytes;
    EXPECT_GE(buffer_bytes_, header);
    std::memset(out, 0, header);
    io_uring_recvmsg_out h{};
    h.namelen = static_cast<uint32_t>(d.name.size());
    const std::size_t control = std::min<std::size_t>(d.control.size(), armed_as.control_bytes);
    h.controllen = static_cast<uint32_t>(control);
    h.payloadlen = static_cast<uint32_t>(d.payload.size());
    const std::size_t room = buffer_bytes_ - header;
    const std::size_t copied = std::min(room, d.payload.size());
    if (copied < d.payload.size()) h.flags |= MSG_TRUNC;
    if (control < d.control.size()) h.flags |= MSG_CTRUNC;
    std::memcpy(out, &h, sizeof(h));
    uint8_t* name = out + sizeof(h);
    const std::size_t name_copied = std::min<std::size_t>(d.name.size(), armed_as.name_bytes);
    if (name_copied != 0) std::memcpy(name, d.name.data(), name_copied);
    if (control != 0) std::memcpy(name + armed_as.name_bytes, d.control.data(), control);
    if (copied != 0) std::memcpy(out + header, d.payload.data(), copied);
    return static_cast<int32_t>(header + copied);
  }

  static void append_cmsg(std::vector<uint8_t>& out, int level, int type, const void* data,
                          std::size_t length) {
    const std::size_t at = out.size();
    out.resize(at + CMSG_SPACE(length), 0);
    cmsghdr header{};
    header.cmsg_len = CMSG_LEN(length);
    header.cmsg_level = level;
    header.cmsg_type = type;
    std::memcpy(out.data() + at, &header, sizeof(header));
    std::memcpy(out.data() + at + CMSG_LEN(0), data, length);
  }

  static void append_pktinfo(std::vector<uint8_t>& out, const NetAddress& local) {
    if (local.family() == AF_INET) {
      sockaddr_in v4{};
      std::memcpy(&v4, &local.storage, sizeof(v4));
      in_pktinfo info{};
      info.ipi_ifindex = 1;
      info.ipi_spec_dst = v4.sin_addr;  // the kernel gives the route's source address here
      info.ipi_addr = v4.sin_addr;      // the header's destination
      append_cmsg(out, IPPROTO_IP, IP_PKTINFO, &info, sizeof(info));
      return;
    }
    sockaddr_in6 v6{};
    std::memcpy(&v6, &local.storage, sizeof(v6));
    in6_pktinfo info{};
    info.ipi6_addr = v6.sin6_addr;
    info.ipi6_ifindex = 1;
    append_cmsg(out, IPPROTO_IPV6, IPV6_PKTINFO, &info, sizeof(info));
  }

  // Walks a sent control area as the kernel would (cmsghdr, aligned steps).
  static void parse_control(Sent& s) {
    std::size_t at = 0;
    while (at + sizeof(cmsghdr) <= s.control.size()) {
      cmsghdr header{};
      std::memcpy(&header, s.control.data() + at, sizeof(header));
      if (header.cmsg_len < sizeof(cmsghdr) || at + header.cmsg_len > s.control.size()) {
        ADD_FAILURE() << "malformed control message at offset " << at;
        return;
      }
      const uint8_t* data = s.control.data() + at + CMSG_LEN(0);
      const std::size_t length = header.cmsg_len - CMSG_LEN(0);
      if (header.cmsg_level == SOL_UDP && header.cmsg_type == UDP_SEGMENT &&
          length == sizeof(uint16_t)) {
        std::memcpy(&s.segment_bytes, data, sizeof(uint16_t));
      } else if (header.cmsg_level == IPPROTO_IP && header.cmsg_type == IP_PKTINFO &&
                 length == sizeof(in_pktinfo)) {
        in_pktinfo info{};
        std::memcpy(&info, data, sizeof(info));
        s.pktinfo = info;
      } else if (header.cmsg_level == IPPROTO_IPV6 && header.cmsg_type == IPV6_PKTINFO &&
                 length == sizeof(in6_pktinfo)) {
        in6_pktinfo info{};
        std::memcpy(&info, data, sizeof(info));
        s.pktinfo6 = info;
      } else {
        ADD_FAILURE() << "unexpected control message " << header.cmsg_level << "/"
                      << header.cmsg_type;
      }
      at += (header.cmsg_len + sizeof(std::size_t) - 1) & ~(sizeof(std::size_t) - 1);
    }
  }

  uint32_t buffer_bytes_ = 0;
  std::size_t stride_ = 0;
  std::vector<Line> memory_;
  std::vector<BufferState> states_;
  std::deque<uint16_t> free_;       // committed: the kernel may fill these, oldest first
  std::vector<uint16_t> recycled_;  // recycled, not yet committed
  std::map<int, std::deque<Datagram>> queues_;  // each socket's receive queue
  std::deque<Completion> completions_;
};

}  // namespace shortline

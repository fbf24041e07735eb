// Kernel feature probe: io_uring enabled, ring flags, opcodes, buffer rings, multishot.
#include "dataplane/kernel_probe.h"

#include <liburing.h>
#include <sys/mman.h>
#include <sys/utsname.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

namespace shortline {
namespace {

std::string kernel_release() {
  utsname name{};
  if (uname(&name) != 0) return "unknown";
  return name.release;
}

bool kernel_at_least(int major, int minor) {
  int have_major = 0;
  int have_minor = 0;
  if (std::sscanf(kernel_release().c_str(), "%d.%d", &have_major, &have_minor) != 2) return true;
  return have_major > major || (have_major == major && have_minor >= minor);
}

std::string check_opcodes(io_uring& ring) {
  io_uring_probe* probe = io_uring_get_probe_ring(&ring);
  if (probe == nullptr) return "io_uring opcode probe (Linux 5.6+)";
  std::string missing;
  const std::pair<int, const char*> needed[] = {{IORING_OP_RECVMSG, "RECVMSG"},
                                                {IORING_OP_RECV, "RECV"},
                                                {IORING_OP_SENDMSG, "SENDMSG"},
                                                {IORING_OP_ASYNC_CANCEL, "ASYNC_CANCEL"}};
  for (const auto& [op, name] : needed) {
    if (!io_uring_opcode_supported(probe, op)) missing += std::string(missing.empty() ? "" : ", ") + "io_uring op " + name;
  }
  io_uring_free_probe(probe);
  return missing;
}

std::string check_buffer_ring(io_uring& ring) {
  constexpr unsigned kEntries = 8;
  void* mapped = mmap(nullptr, kEntries * sizeof(io_uring_buf), PROT_READ | PROT_WRITE,
                      MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  if (mapped == MAP_FAILED) return "memory for a buffer ring";
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<uint64_t>(mapped);
  reg.ring_entries = kEntries;
  reg.bgid = 0;
  const int rc = io_uring_register_buf_ring(&ring, &reg, 0);
  if (rc == 0) io_uring_unregister_buf_ring(&ring, 0);
  munmap(mapped, kEntries * sizeof(io_uring_buf));
  return rc == 0 ? "" : "io_uring provided-buffer rings (Linux 5.19+)";
}

}  // namespace

std::string probe_kernel_features() {
  std::ifstream disabled("/proc/sys/kernel/io_uring_disabled");
  int disabled_value = 0;
  if (disabled >> disabled_value && disabled_value == 2)
    return "io_uring is disabled on this host (sysctl kernel.io_uring_disabled=2)";

  io_uring ring{};
  io_uring_params params{};
  params.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
  int rc = io_uring_queue_init_params(8, &ring, &params);
  if (rc == -EINVAL)
    return "io_uring SINGLE_ISSUER/DEFER_TASKRUN (Linux 6.1+); this kernel is " + kernel_release();
  if (rc < 0)
    return std::string("io_uring itself: io_uring_setup failed: ") + std::strerror(-rc) +
           (rc == -EPERM ? " (kernel.io_uring_disabled, seccomp or a container profile?)" : "");
  std::string missing = check_opcodes(ring);
  const std::string buffer_ring = check_buffer_ring(ring);
  io_uring_queue_exit(&ring);
  if (!buffer_ring.empty()) missing += (missing.empty() ? "" : ", ") + buffer_ring;
  if (!kernel_at_least(6, 0))
    missing += std::string(missing.empty() ? "" : ", ") + "multishot recvmsg (Linux 6.0+)";
  if (missing.empty()) return "";
  return "this kernel (" + kernel_release() + ") lacks: " + missing;
}

}  // namespace shortline

// The open-file budget: raising RLIMIT_NOFILE and the capacity arithmetic.
#include "dataplane/file_budget.h"

#include <sys/resource.h>

#include <algorithm>
#include <cstdio>

namespace shortline {
namespace {

std::string too_many_sockets(uint32_t asked, const CapacityPlan& plan) {
  return "load_balancer.upstream_sockets is " + std::to_string(asked) +
         ", but the open-file limit (RLIMIT_NOFILE " + std::to_string(plan.files_limit) +
         ") leaves room for " + std::to_string(plan.sockets_room) + " (" +
         std::to_string(plan.files_reserved) +
         " are kept for listen sockets, rings and the control side): raise the limit "
         "(ulimit -n, LimitNOFILE=) or lower upstream_sockets";
}

uint64_t read_nr_open() {
  std::FILE* file = std::fopen("/proc/sys/fs/nr_open", "r");
  if (file == nullptr) return 1u << 20;  // the kernel's default
  unsigned long long value = 0;
  const int got = std::fscanf(file, "%llu", &value);
  std::fclose(file);
  return got == 1 ? value : 1u << 20;
}

}  // namespace

CapacityPlan plan_capacity(const DataplaneConfig& config, uint32_t workers, uint64_t files_limit,
                           uint32_t ephemeral_ports) {
  CapacityPlan plan;
  workers = std::max(1u, workers);
  plan.files_limit = files_limit;
  plan.files_reserved =
      DataplaneConfig::kFilesReservedBase + DataplaneConfig::kFilesReservedPerWorker * workers;
  const uint64_t room = files_limit > plan.files_reserved ? files_limit - plan.files_reserved : 0;
  plan.sockets_room = static_cast<uint32_t>(std::min<uint64_t>(room, UINT32_MAX));
  uint32_t total = config.upstream_sockets;
  if (total != 0 && total > plan.sockets_room) {
    plan.error = too_many_sockets(total, plan);
    return plan;
  }
  if (total != 0 && total > ephemeral_ports) {
    plan.error = "load_balancer.upstream_sockets is " + std::to_string(total) +
                 ", more than the " + std::to_string(ephemeral_ports) +
                 " ports of net.ipv4.ip_local_port_range";
    return plan;
  }
  if (total == 0)
    total = std::min({plan.sockets_room, config.max_sessions,
                      ephemeral_ports / kAutoSocketsPortShare, kAutoSocketsMax});
  if (total < workers) {
    plan.error = "the open-file limit (RLIMIT_NOFILE " + std::to_string(files_limit) +
                 ") leaves room for " + std::to_string(plan.sockets_room) +
                 " upstream sockets, fewer than one per worker (" + std::to_string(workers) +
                 "): raise the limit (ulimit -n, LimitNOFILE=)";
    return plan;
  }
  plan.per_worker.sockets = total / workers;
  plan.per_worker.sessions =
      std::min(std::max(1u, config.max_sessions / workers), plan.per_worker.sockets);
  plan.sockets_total = plan.per_worker.sockets * workers;
  plan.sessions_total = plan.per_worker.sessions * workers;
  return plan;
}

FileLimit raise_file_limit() {
  FileLimit limit;
  rlimit current{};
  if (getrlimit(RLIMIT_NOFILE, &current) != 0) return limit;
  limit.soft_before = current.rlim_cur;
  limit.hard = current.rlim_max;
  if (current.rlim_cur < current.rlim_max) {
    rlimit raised = current;
    raised.rlim_cur = current.rlim_max;
    // An unlimited hard limit cannot be the soft one: the kernel caps it at fs.nr_open.
    if (setrlimit(RLIMIT_NOFILE, &raised) != 0) {
      raised.rlim_cur = std::max<rlim_t>(current.rlim_cur, read_nr_open());
      if (setrlimit(RLIMIT_NOFILE, &raised) != 0) raised = current;
    }
    current = raised;
  }
  limit.soft = current.rlim_cur;
  return limit;
}

uint32_t ephemeral_port_count() {
  constexpr uint32_t kKernelDefault = 60999 - 32768 + 1;
  std::FILE* file = std::fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
  if (file == nullptr) return kKernelDefault;
  unsigned low = 0;
  unsigned high = 0;
  const int got = std::fscanf(file, "%u %u", &low, &high);
  std::fclose(file);
  if (got != 2 || high < low) return kKernelDefault;
  return high - low + 1;
}

}  // namespace shortline

#!/usr/bin/env bash
# Installs every Debian package that shortline's build, tests and benchmarks use (only the
# missing ones), then configures and builds. Safe to run again: it skips what is done.
#   tools/setup.sh [BUILD_DIR] [extra cmake args...]   (default: build/release, Release)
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential cmake ninja-build pkg-config clang libclang-rt-14-dev
  liburing-dev libconcurrentqueue-dev libmimalloc-dev nlohmann-json3-dev
  libpcap-dev libsodium-dev libcpp-httplib-dev libgtest-dev libbenchmark-dev
  libsystemd-dev systemd
  tcpdump procps nginx-light libnginx-mod-stream python3 chromium
  # ecmp_netns_test builds its network namespaces, veth pairs and ECMP route with ip, and
  # runs BIRD 2 in them for the route from a routing daemon.
  iproute2 bird2
  # shortline-replay --plot draws the ramp's picture with gnuplot (replay_load_test checks it).
  gnuplot-nox
  # metrics_test parses /metrics with the real Prometheus parser (Debian's /usr/bin/python3).
  python3-prometheus-client
)

bash tools/install_packages.sh "${packages[@]}"
# Debian's nginx package starts a service where an init system runs; shortline's benchmark
# starts its own nginx, so a system one is stopped to free the CPU (never fails setup).
# bird2 likewise: the tests run their own BIRDs inside network namespaces.
for service in nginx bird; do
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$service" 2>/dev/null; then
    systemctl stop "$service" 2>/dev/null || true
  fi
done

build_dir="${1:-build/release}"
shift || true
# Configure when new or when options are given (a re-configure of a cached tree is quick
# and makes the options stick even if the folder was first made with others).
mkdir -p "$(dirname "$build_dir")"
if [ ! -f "$build_dir/build.ninja" ] || (($#)); then
  cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSHORTLINE_WERROR=ON "$@" \
    >"$build_dir.configure.log" 2>&1 || { cat "$build_dir.configure.log"; exit 1; }
fi
cmake --build "$build_dir" -j "$(nproc)"

#!/usr/bin/env bash
# The knee benchmark in one command: installs knot (knotd), dnsperf (resperf and
# pcap-queryparse, which needs python3-dnspython and python3-pcapy) and, optionally,
# python3-matplotlib (the picture); builds shortline-lb and shortline-replay (a first run
# configures and builds everything with tools/setup.sh); then runs
# bench/replay/run_knee_bench.py (see bench/replay/README.md). Flags pass through.
#   bench/run_replay_knee.sh [--runs 3] [--max 160000] [--direct-max 260000]
#                            [--ramp-seconds 30] [--interval 0.5] [--capture FILE] ...
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir="${SHORTLINE_BUILD_DIR:-build/release}"
[ -f "$build_dir/build.ninja" ] || bash tools/setup.sh "$build_dir"
cmake --build "$build_dir" --target shortline-lb shortline-replay
bash tools/install_packages.sh knot dnsperf python3-dnspython python3-pcapy
bash tools/install_packages.sh --optional python3-matplotlib  # the picture; a note without
# Debian's knot package starts a service where an init system runs; the benchmark starts its
# own knotd, so a system one is stopped to free the CPU (never fails the run).
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet knot 2>/dev/null; then
  systemctl stop knot 2>/dev/null || true
fi
exec python3 bench/replay/run_knee_bench.py --build-dir "$build_dir" "$@"

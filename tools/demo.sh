#!/usr/bin/env bash
# The README's first command: installs what is missing, builds, then runs the whole system
# from config.json on loopback for a bounded time. shortline-controller starts shortline-lb
# and the servers, and client.count clients whose load rises and falls: the balancer asks
# the controller for servers when a queue passes 0.9 x server_scaling_threshold and gives
# them back when they sit idle. A live table shows each server's queue and the server count
# every second; at the end, a summary with the clients' latency. Nothing is left running:
# the controller stops every process it started, also on Ctrl-C.
#   tools/demo.sh [SECONDS]   (default 60; at least 10)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || ((seconds < 10 || seconds > 3600)); then
  echo "usage: tools/demo.sh [SECONDS]   (10 to 3600, default 60)" >&2
  exit 2
fi
bash tools/setup.sh build/release
echo "demo: shortline-controller --config config.json --demo --duration $seconds (logs in logs/)"
build/release/bin/shortline-controller --config config.json --demo --duration "$seconds"

#!/usr/bin/env bash
# The README's first command: installs what is missing, builds, then runs a short demo on
# loopback: four reference servers (one of them four times slower), shortline-lb in front
# of them, and a client that offers the same open-loop load twice, once placed by
# shortest-queue and once by round-robin, with a summary of each. Nothing is left running.
#   tools/demo.sh [SECONDS_PER_RUN]   (default 8)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-8}"
bash tools/setup.sh build/release
bin=build/release/bin
mkdir -p logs/balancer logs/servers logs/clients

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

# Starts a program in the background whose stdout names its address ("listening ...:PORT");
# sets started_pid and started_port. Runs in this shell so that cleanup knows every pid.
start_and_read_port() {
  local log=$1
  shift
  "$@" >"$log" 2>&1 &
  started_pid=$!
  pids+=("$started_pid")
  for _ in $(seq 1 200); do
    if grep -qE 'listening (on )?[^ ]*:[0-9]+' "$log"; then
      started_port=$(grep -oE 'listening (on )?[^ ]*:[0-9]+' "$log" | head -1 | grep -oE '[0-9]+$')
      return 0
    fi
    sleep 0.05
  done
  echo "demo: $* did not start; its output:" >&2
  cat "$log" >&2
  return 1
}

backends=""
speeds=(1 1 1 0.25)
for id in 0 1 2 3; do
  start_and_read_port "logs/servers/demo-server-$id.out" "$bin/shortline-server" \
    --port 0 --id "$id" --service-ms 1 --service-dist exponential --speed "${speeds[$id]}"
  backends+="${backends:+,}127.0.0.1:$started_port"
  echo "demo: server $id on 127.0.0.1:$started_port (speed ${speeds[$id]}, mean service $(python3 -c "print(1/${speeds[$id]})") ms)"
done
# Capacity: 3 x 1000/s + 250/s = 3250 requests/s; the client offers about 80% of it.
rate=2600

run_policy() {
  local policy=$1
  local log="logs/balancer/demo-shortline-lb-$policy.log"
  start_and_read_port "$log" "$bin/shortline-lb" --listen 127.0.0.1:0 \
    --backend "$backends" --workers 2 --policy "$policy"
  local port=$started_port lb_pid=$started_pid
  echo
  echo "=== $policy: $rate requests/s for ${seconds}s through shortline-lb on 127.0.0.1:$port ==="
  "$bin/shortline-client" --target "127.0.0.1:$port" --rate "$rate" --duration "$seconds" \
    --timeout-ms 2000 --retries 2 --id 1000
  kill -TERM "$lb_pid"
  wait "$lb_pid" || true
  echo "--- shortline-lb counters (non-zero) ---"
  sed -n '/counters/,$p' "$log" | grep -vE '^ +[a-z_]+ +0$' | sed 's/^/  /'
}

run_policy shortest-queue
run_policy round-robin
echo
echo "demo: done. Server 3 is four times slower: shortest-queue sends it far less work and"
echo "keeps the tail latency low; round-robin gives it a quarter of the requests and its queue"
echo "sets the p99. Logs are in logs/."

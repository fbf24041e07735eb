#!/usr/bin/env bash
# The end-to-end benchmark in one command: builds Release with tools/setup.sh, then runs
# bench/e2e/run_e2e.py (see bench/e2e/README.md). Flags pass through, e.g. --quick.
#   bench/run_e2e.sh [--quick] [--rows direct,relay,lb1,lb2,nginx,direct-churn,relay-churn,
#                    lb1-churn,nginx-churn,direct-flood,lb1-flood] [--sizes 64,512] ...
# The flood rows need root (a raw socket) and are left out without it.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir="${SHORTLINE_BUILD_DIR:-build/release}"
bash tools/setup.sh "$build_dir"
bash tools/install_packages.sh --optional python3-matplotlib  # the pictures; skipped with a note without
exec python3 bench/e2e/run_e2e.py --build-dir "$build_dir" "$@"

#!/usr/bin/env bash
# The balancing-quality benchmark in one command: builds Release with tools/setup.sh, then
# runs bench/quality/run_quality.py (see bench/quality/README.md). Flags pass through.
#   bench/run_quality.sh [--quick] [--duration S] [--loads 0.7,0.9] [--policies a,b] [--no-nginx]
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir="${SHORTLINE_BUILD_DIR:-build/release}"
bash tools/setup.sh "$build_dir"
exec python3 bench/quality/run_quality.py --build-dir "$build_dir" "$@"

#!/usr/bin/env bash
# The balancing-quality benchmark in one command: builds Release with tools/setup.sh, then
# runs bench/quality/run_quality.py (see bench/quality/README.md). Flags pass through.
# Also installs dnsdist (the plain modes' peer) and python3-matplotlib (the picture) when
# missing; without them those rows or the picture are skipped with a note.
#   bench/run_quality.sh [--quick] [--duration S] [--loads 0.7,0.9] [--policies a,b]
#                        [--modes static,weighted,reports,plain,plain-equal] [--no-nginx]
#                        [--no-dnsdist]
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir="${SHORTLINE_BUILD_DIR:-build/release}"
bash tools/setup.sh "$build_dir"
bash tools/install_packages.sh --optional dnsdist python3-matplotlib
# Debian's dnsdist package starts a service where an init system runs; the benchmark starts
# its own, so a system one is stopped to free the CPU (never fails the run).
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet dnsdist 2>/dev/null; then
  systemctl stop dnsdist 2>/dev/null || true
fi
exec python3 bench/quality/run_quality.py --build-dir "$build_dir" "$@"

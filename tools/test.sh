#!/usr/bin/env bash
# Installs what is missing, builds three ways and runs every test:
#   1. Release (gcc, warnings as errors): unit and integration tests
#   2. ASan+UBSan (clang): unit and integration tests, then each fuzz target for a bounded time
#   3. TSan (clang): unit and integration tests
# Run again, it rebuilds only what changed. Exits non-zero if any test fails.
set -euo pipefail
cd "$(dirname "$0")/.."

bash tools/setup.sh build/release
bash tools/setup.sh build/asan -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSHORTLINE_SANITIZE=address -DSHORTLINE_BUILD_FUZZ=ON
bash tools/setup.sh build/tsan -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSHORTLINE_SANITIZE=thread

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1

status=0
run_suite() {
  local name=$1 dir=$2
  shift 2
  echo "=== $name ==="
  ctest --test-dir "$dir" --output-on-failure --timeout 300 "$@" || status=1
}
run_suite "release" build/release -LE fuzz
run_suite "asan+ubsan" build/asan -LE fuzz
run_suite "fuzz (asan, bounded)" build/asan -L fuzz
run_suite "tsan" build/tsan -LE fuzz
exit $status

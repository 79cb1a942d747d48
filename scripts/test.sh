#!/usr/bin/env bash
# The whole test suite, as CI runs it (through ./dev test):
#   0. style: clang-format check of every C++ file, clang-tidy of the production sources
#      (scripts/lint.sh; either failing fails the run);
#   1. libFuzzer smoke runs of every fuzz target (clang, ASan+UBSan), FUZZ_SECONDS each;
#   2. the concurrent tests (label "concurrent") under ThreadSanitizer;
#   3. every test under AddressSanitizer + UndefinedBehaviorSanitizer (unit, end-to-end, crash,
#      fault tests). Its ctest summary is the last thing printed.
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=${JOBS:-$(nproc)}
export FUZZ_SECONDS=${FUZZ_SECONDS:-10}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}

# CI runs once on a fresh machine whose disk is not ours to size: a cold compiler cache only
# stores a second copy of every object (IMPULSE_CCACHE=1 keeps it), each build is removed once
# its tests passed, and the free space is printed at each phase.
ci=false
case "${CI:-}" in
  true | TRUE | True | 1 | yes)
    ci=true
    if [ "${IMPULSE_CCACHE:-}" != 1 ]; then export CCACHE_DISABLE=1; fi
    ;;
esac
disk() { echo "== disk: $(df -h --output=avail . | tail -1 | tr -d ' ') free, build/ $(du -sh build 2>/dev/null | cut -f1)"; }
disk

configure() {
  local dir=$1
  shift
  [ -f "$dir/CMakeCache.txt" ] || cmake -S . -B "$dir" "$@" >/dev/null
}

echo "== style (scripts/lint.sh)"
configure build/debug -DCMAKE_BUILD_TYPE=Debug -DIMPULSE_SANITIZE=address -DIMPULSE_BENCH=OFF
BUILD=build/debug bash scripts/lint.sh

echo "== fuzz smoke (${FUZZ_SECONDS}s per target)"
configure build/fuzz -DCMAKE_BUILD_TYPE=Debug -DIMPULSE_FUZZ=ON -DIMPULSE_TESTS=OFF -DIMPULSE_BENCH=OFF \
  -DCMAKE_CXX_COMPILER=clang++
cmake --build build/fuzz -j "$JOBS"
ctest --test-dir build/fuzz --output-on-failure -j "$JOBS"
disk
if $ci; then rm -rf build/fuzz; fi

echo "== ThreadSanitizer: concurrent tests"
configure build/tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DIMPULSE_SANITIZE=thread -DIMPULSE_BENCH=OFF
# nats_test exists when the build found libnats (IMPULSE_WITH_NATS).
tsan_targets=(runtime_test log_test server_test action_test agent_test)
# (The target list is captured first: `grep -q` closing the pipe early would fail it under pipefail.)
tsan_help=$(cmake --build build/tsan --target help)
if grep -qw nats_test <<<"$tsan_help"; then tsan_targets+=(nats_test); fi
cmake --build build/tsan -j "$JOBS" --target "${tsan_targets[@]}"
ctest --test-dir build/tsan --output-on-failure -L concurrent -j "$JOBS"
disk
if $ci; then rm -rf build/tsan; fi

echo "== AddressSanitizer + UndefinedBehaviorSanitizer: everything"
configure build/debug -DCMAKE_BUILD_TYPE=Debug -DIMPULSE_SANITIZE=address -DIMPULSE_BENCH=OFF
cmake --build build/debug -j "$JOBS"
disk
ctest --test-dir build/debug --output-on-failure -j "$JOBS"

#!/usr/bin/env bash
# Long fuzzing (opt-in; the suite runs a 10 s smoke of each target, scripts/test.sh):
#   scripts/fuzz.sh [options] [TARGET...]
#     --runs N          executions per target (default 10000000, libFuzzer -runs=)
#     --max-seconds S   stop a target after S seconds even if N is not reached (default 0: no cap)
#     --corpus-root D   where the corpora persist (default build/fuzz: corpus-<target>, the smoke
#                       runs' corpora, so every run starts from what the previous ones found)
#     --no-build        use build/fuzz as it is
# Builds build/fuzz (clang, libFuzzer + ASan + UBSan), then runs each target (default: every
# fuzz target of the build) in turn, and prints a table: executions, seconds, executions per
# second, corpus size, crashes (any crash-/leak-/timeout-/oom- artifact; libFuzzer stops a
# target at its first one, so 0 or 1). Artifacts and each target's output go to
# build/fuzz/fuzz-runs/<target>/. Exit status 1 if any target crashed.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=10000000
MAX_SECONDS=0
CORPUS_ROOT=build/fuzz
BUILD=1
TARGETS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) RUNS=$2; shift 2 ;;
    --max-seconds) MAX_SECONDS=$2; shift 2 ;;
    --corpus-root) CORPUS_ROOT=$2; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
    *) TARGETS+=("$1"); shift ;;
  esac
done

if [ "$BUILD" = 1 ]; then
  [ -f build/fuzz/CMakeCache.txt ] || cmake -S . -B build/fuzz -DCMAKE_BUILD_TYPE=Debug -DIMPULSE_FUZZ=ON \
    -DIMPULSE_TESTS=OFF -DIMPULSE_BENCH=OFF -DCMAKE_CXX_COMPILER=clang++ >/dev/null
  cmake --build build/fuzz -j "${JOBS:-$(nproc)}" >/dev/null
fi
if [ ${#TARGETS[@]} -eq 0 ]; then
  # Every target the build registered a smoke test for.
  mapfile -t TARGETS < <(ctest --test-dir build/fuzz -N -L fuzz | sed -n 's/^ *Test *#[0-9]*: \(.*\)_smoke$/\1/p')
fi
[ ${#TARGETS[@]} -gt 0 ] || { echo "fuzz.sh: no fuzz targets in build/fuzz" >&2; exit 2; }

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
artifacts() { find "$1" -maxdepth 1 \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l; }
RESULTS=()
failed=0
for t in "${TARGETS[@]}"; do
  bin=$(find build/fuzz -type f -executable -name "$t" | head -n 1)
  [ -n "$bin" ] || { echo "fuzz.sh: no binary for target $t" >&2; exit 2; }
  corpus=$CORPUS_ROOT/corpus-$t
  out=build/fuzz/fuzz-runs/$t
  mkdir -p "$corpus" "$out"
  before=$(artifacts "$out")
  cap=""; [ "$MAX_SECONDS" = 0 ] || cap=" (at most ${MAX_SECONDS}s)"
  echo "== $t: -runs=$RUNS$cap, corpus $corpus" >&2
  start=$(date +%s)
  rc=0
  "$bin" -runs="$RUNS" -max_total_time="$MAX_SECONDS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$out/" "$corpus" >"$out/output.txt" 2>&1 || rc=$?
  secs=$(($(date +%s) - start))
  # "Done N runs in S second(s)" on a normal end; the last status line otherwise.
  execs=$(sed -n 's/^Done \([0-9]*\) runs in.*/\1/p' "$out/output.txt" | tail -n 1)
  if [ -z "$execs" ]; then
    execs=$(sed -n 's/^#\([0-9]*\).*/\1/p' "$out/output.txt" | tail -n 1)
  fi
  after=$(artifacts "$out")
  crashes=$((after - before))
  if [ "$rc" -ne 0 ] && [ "$crashes" -eq 0 ]; then crashes="? (exit $rc)"; fi
  [ "$rc" -eq 0 ] || failed=1
  rate=$(( ${execs:-0} / (secs > 0 ? secs : 1) ))
  RESULTS+=("$(printf '| %s | %s | %s | %s | %s | %s |' "$t" "${execs:-?}" "$secs" "$rate" "$(ls "$corpus" | wc -l)" "$crashes")")
  echo "   $t: ${execs:-?} executions in ${secs}s, crashes: $crashes (output: $out/output.txt)" >&2
done

echo "| target | executions | seconds | exec/s | corpus files | crashes |"
echo "| --- | --- | --- | --- | --- | --- |"
printf '%s\n' "${RESULTS[@]}"
exit "$failed"

#!/usr/bin/env bash
# Style checks of the tree, run by scripts/test.sh (and so by ./dev test and CI):
#   1. clang-format: every tracked C++ file must be formatted as .clang-format says
#      (fix with: scripts/lint.sh --fix-format);
#   2. clang-tidy (.clang-tidy) over the production sources (src/, tools/, bench/, examples/; not
#      tests, benchmarks or fuzzers), with the compile commands of BUILD (default build/debug).
# Either failing fails the run. JOBS sets tidy's parallelism.
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=${JOBS:-$(nproc)}
BUILD=${BUILD:-build/debug}

mapfile -t cpp < <(git ls-files '*.cc' '*.h')
if [ "${1:-}" = --fix-format ]; then
  clang-format -i "${cpp[@]}"
  exit 0
fi

echo "== clang-format (${#cpp[@]} files)"
if ! clang-format --dry-run -Werror "${cpp[@]}" 2>/tmp/impulse-format.$$; then
  grep -E '^[^ ].*: (error|warning):' /tmp/impulse-format.$$ | cut -d: -f1 | sort -u | sed 's/^/  not formatted: /'
  rm -f /tmp/impulse-format.$$
  echo "lint: run scripts/lint.sh --fix-format" >&2
  exit 1
fi
rm -f /tmp/impulse-format.$$

[ -f "$BUILD/compile_commands.json" ] || { echo "lint: $BUILD/compile_commands.json missing (configure first)" >&2; exit 1; }
mapfile -t prod < <(git ls-files 'src/*.cc' 'tools/*.cc' 'bench/*.cc' 'examples/*.cc' |
                    grep -Ev '_test\.cc$|_benchmark\.cc$|fuzz')
echo "== clang-tidy (${#prod[@]} files, $JOBS jobs)"
# -Wno-unknown-warning-option: the compile commands carry g++-only warning flags.
if ! printf '%s\n' "${prod[@]}" |
     xargs -P "$JOBS" -n 4 clang-tidy -p "$BUILD" --quiet --extra-arg=-Wno-unknown-warning-option \
       >/tmp/impulse-tidy.$$ 2>&1; then
  grep -E '(error|warning): ' /tmp/impulse-tidy.$$ | sort -u | head -100
  rm -f /tmp/impulse-tidy.$$
  echo "lint: clang-tidy reported the findings above" >&2
  exit 1
fi
rm -f /tmp/impulse-tidy.$$
echo "lint: ok"

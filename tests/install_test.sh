#!/bin/sh
# The installed package end to end (docs/EMBEDDING.md): `cmake --install` of this build into a
# scratch prefix, examples/embed built as a separate project against it with
# find_package(impulse), run; the installed binary run from the installed layout; then the
# prefix moved elsewhere (relocatable) and both run again.
# Usage: install_test.sh BUILD_DIR SOURCE_DIR CMAKE CXX_COMPILER BUILD_TYPE
# The scratch directory is outside the build tree: there, a binary that misses a shipped file
# would fall back to the source tree its build names (common/share_dir.h) and hide the gap.
set -eu
build=$1 source=$2 cmake=$3 cxx=$4 build_type=$5
work=$(mktemp -d "${TMPDIR:-/tmp}/impulse-install-test.XXXXXX")
trap 'st=$?; if [ $st -ne 0 ]; then echo "install_test: failed; logs in $work" >&2; else rm -rf "$work"; fi' EXIT
"$cmake" --install "$build" --prefix "$work/prefix" >"$work/install.log"
test -f "$work/prefix/include/impulse/engine.h"
test -f "$work/prefix/lib/cmake/impulse/impulseConfig.cmake"
# The public headers include nothing private: every quoted include names impulse/..., and no
# include of either form names a folder of src/ (state/, ops/, expr/, ... whatever it holds).
private_includes() {
  grep -rnE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$1" | grep -vE '#[[:space:]]*include[[:space:]]*"impulse/'
  for dir in "$source"/src/*/; do
    name=$(basename "$dir")
    grep -rnE "^[[:space:]]*#[[:space:]]*include[[:space:]]*[<\"]$name/" "$1"
  done
}
if private_includes "$work/prefix/include" | grep .; then
  echo "install_test: a public header includes a private one" >&2
  exit 1
fi

# Compiler launcher (ccache) as the main build has it, if any; one file to compile.
"$cmake" -S "$source/examples/embed" -B "$work/embed" -DCMAKE_PREFIX_PATH="$work/prefix" \
  -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE="$build_type" >"$work/embed-configure.log"
"$cmake" --build "$work/embed" >"$work/embed-build.log"
"$work/embed/embed"

check_installed() {
  prefix=$1
  "$prefix/bin/impulse" demo fraud --help >/dev/null
  "$prefix/bin/impulse" validate "$prefix/share/impulse/examples/quickstart/pipeline.yaml"
  "$prefix/bin/impulse" validate "$prefix/share/impulse/examples/fraud/alerts.yaml"
  # The fraud demo finds its spec and models beside the installed binary (no --spec/--models).
  "$prefix/bin/impulse" demo fraud --days 1 --batch-seconds 1 --batch-interval 1 --idle-seconds 1 \
    --data-dir "$work/fraud-data" >"$work/fraud-demo.log" 2>&1 || { cat "$work/fraud-demo.log"; exit 1; }
  rm -rf "$work/fraud-data"
}
check_installed "$work/prefix"

# Relocatable: move the whole prefix and run the binary and the embed program again, then
# configure and build the embed program anew against the moved prefix (its package config
# must not point at the old place) and run that.
mv "$work/prefix" "$work/moved"
check_installed "$work/moved"
"$work/embed/embed" >/dev/null
"$cmake" -S "$source/examples/embed" -B "$work/embed-moved" -DCMAKE_PREFIX_PATH="$work/moved" \
  -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE="$build_type" >"$work/embed-moved-configure.log"
"$cmake" --build "$work/embed-moved" >"$work/embed-moved-build.log"
"$work/embed-moved/embed" >/dev/null
rm -rf "$work"
echo "install_test: OK"

#!/bin/sh
# The installed runtime in seconds: `cmake --install` of this build (no rebuild), the prefix
# moved elsewhere, then the moved binary's --version (the commit this tree is at) and validate
# on specs it ships (share/impulse found relative to the binary) and on the service's default
# spec. The scratch prefix is outside the build tree: there a binary missing a shipped file
# would fall back to its build's source tree (common/share_dir.h) and hide the gap.
# Usage: install_relocate_test.sh BUILD_DIR SOURCE_DIR CMAKE
set -eu
build=$1 source=$2 cmake=$3
work=$(mktemp -d "${TMPDIR:-/tmp}/impulse-relocate-test.XXXXXX")
trap 'st=$?; if [ $st -ne 0 ]; then echo "install_relocate_test: failed; files in $work" >&2; else rm -rf "$work"; fi' EXIT
fail() { echo "install_relocate_test: $*" >&2; exit 1; }

"$cmake" --install "$build" --prefix "$work/prefix" --component runtime >"$work/install.log"
for f in bin/impulse share/impulse/examples/quickstart/pipeline.yaml share/impulse/examples/fraud/alerts.yaml \
         etc/impulse/pipeline.yaml etc/default/impulse lib/systemd/system/impulse.service; do
  test -f "$work/prefix/$f" || fail "$f not installed"
done
# The unit runs the binary and the spec of this install (the paths are fixed at install time).
grep -qx "ExecStart=$work/prefix/bin/impulse run $work/prefix/etc/impulse/pipeline.yaml --data-dir /var/lib/impulse \$IMPULSE_OPTIONS" \
  "$work/prefix/lib/systemd/system/impulse.service" || fail "unexpected ExecStart in impulse.service"
# The environment file may hold the bearer token.
[ "$(stat -c %a "$work/prefix/etc/default/impulse")" = 600 ] || fail "etc/default/impulse is not mode 600"

mv "$work/prefix" "$work/moved"
bin=$work/moved/bin/impulse
version=$("$bin" --version)
echo "$version"
# The commit the build saw; a tree that is not a git checkout says so.
if commit=$(git -C "$source" rev-parse --verify HEAD 2>/dev/null) &&
   [ "$(cd "$(git -C "$source" rev-parse --show-toplevel)" && pwd -P)" = "$(cd "$source" && pwd -P)" ]; then
  short=$(echo "$commit" | cut -c1-12)
  echo "$version" | grep -Eq "^impulse [0-9]+\.[0-9]+\.[0-9]+ \(commit $short( with uncommitted changes)?\)$" ||
    fail "--version does not name the commit $short (the build may predate it: rebuild)"
else
  echo "$version" | grep -Eq "^impulse [0-9]+\.[0-9]+\.[0-9]+ \(unknown commit\)$" || fail "--version: unexpected '$version'"
fi
"$bin" validate "$work/moved/share/impulse/examples/quickstart/pipeline.yaml"
"$bin" validate "$work/moved/share/impulse/examples/fraud/alerts.yaml"
"$bin" validate "$work/moved/etc/impulse/pipeline.yaml"
# The fraud demo's defaults (spec and models) are found beside the moved binary.
"$bin" demo fraud --help >/dev/null
echo "install_relocate_test: OK"

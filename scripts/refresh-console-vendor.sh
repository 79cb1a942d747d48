#!/usr/bin/env bash
# Refreshes the console's vendored charting library (console/vendor/uplot/) from the npm
# registry at a pinned version: its ES module build, its stylesheet and its licence, nothing
# else. Bump UPLOT_VERSION, run this, rebuild (the files are compiled into the binary) and run
# the console test (ctest -R console_browser).
set -euo pipefail

UPLOT_VERSION="${UPLOT_VERSION:-1.6.32}"
here="$(cd "$(dirname "$0")/.." && pwd)"
dest="$here/console/vendor/uplot"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

(cd "$tmp" && npm pack --silent "uplot@$UPLOT_VERSION" >/dev/null)
tar -xzf "$tmp/uplot-$UPLOT_VERSION.tgz" -C "$tmp"
mkdir -p "$dest"
cp "$tmp/package/dist/uPlot.esm.js" "$tmp/package/dist/uPlot.min.css" "$tmp/package/LICENSE" "$dest/"
echo "$UPLOT_VERSION" >"$dest/VERSION"
echo "console/vendor/uplot: uPlot $UPLOT_VERSION"

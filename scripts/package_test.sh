#!/usr/bin/env bash
# The Debian package on a fresh Debian 12: a minimal root made by debootstrap (needs the Debian
# mirror), `apt install ./impulse_*.deb` in a chroot (its dependencies come from the mirror),
# then the unit's command line started by hand as the impulse user (systemd does not run in a
# chroot), /healthz asked, events ingested and the pipeline's output read back, the service
# stopped with SIGTERM, the package removed and purged. Opt-in (minutes, the network, root);
# not part of ./dev test. docs/OPERATIONS.md, "Installed as a service", records a run.
# Usage (as root): scripts/package_test.sh [--base DIR] [DEB...]
#   DEB      the packages to test (default build/package/impulse_*.deb, from ./dev package)
#   --base   copy this debootstrapped root instead of making one (a faster rerun)
set -euo pipefail
cd "$(dirname "$0")/.."
base=""
if [ "${1:-}" = --base ]; then base=$2; shift 2; fi
debs=("$@")
if [ ${#debs[@]} -eq 0 ]; then debs=(build/package/impulse_*.deb); fi
[ -f "${debs[0]}" ] || { echo "package_test: no package (run ./dev package first)" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "package_test: needs root (debootstrap, chroot)" >&2; exit 2; }
command -v debootstrap >/dev/null || { echo "package_test: needs debootstrap (scripts/setup.sh)" >&2; exit 2; }

work=$(mktemp -d /tmp/impulse-package-test.XXXXXX)
root=$work/root
pid=""
cleanup() {
  st=$?
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; fi
  for m in "$root/dev/pts" "$root/dev" "$root/proc" "$root/sys"; do
    if mountpoint -q "$m"; then umount -l "$m"; fi
  done
  if [ $st -eq 0 ]; then rm -rf "$work"; else echo "package_test: FAILED; the root and logs are in $work" >&2; fi
}
trap cleanup EXIT
step() { echo "== $*"; }
in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive "$@"; }

if [ -n "$base" ]; then
  step "copying the Debian 12 root $base"
  cp -a "$base" "$root"
else
  step "debootstrap --variant=minbase bookworm (minutes)"
  debootstrap --variant=minbase bookworm "$root" http://deb.debian.org/debian >"$work/debootstrap.log"
fi
mount --bind /dev "$root/dev"
mount --bind /dev/pts "$root/dev/pts"
mount -t proc proc "$root/proc"
mount -t sysfs sysfs "$root/sys"
cp /etc/resolv.conf "$root/etc/resolv.conf"
mkdir -p "$root/tmp/debs"
cp "${debs[@]}" "$root/tmp/debs/"

step "apt install ./$(basename "${debs[0]}")"
in_root apt-get update -qq
in_root sh -c 'cd /tmp/debs && apt-get install -y --no-install-recommends ./impulse_*.deb' >"$work/apt.log" 2>&1 ||
  { tail -30 "$work/apt.log"; exit 1; }
grep -E '^(Setting up|The following NEW)' "$work/apt.log" | head -3
in_root impulse --version
in_root dpkg-query -W -f='${Package} ${Version} depends on: ${Depends}\n' impulse

step "what the package set up"
in_root getent passwd impulse
[ "$(in_root stat -c '%U:%G %a' /var/lib/impulse)" = "impulse:impulse 750" ] || { echo "bad /var/lib/impulse" >&2; exit 1; }
in_root dpkg-query --showformat='${Conffiles}\n' --show impulse | grep -q /etc/impulse/pipeline.yaml
unit=$root/usr/lib/systemd/system/impulse.service
[ -f "$unit" ] || unit=$root/lib/systemd/system/impulse.service
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
echo "ExecStart=$exec_start"
# systemd absent: the unit is enabled for when it runs, and not started.
[ -L "$root/etc/systemd/system/multi-user.target.wants/impulse.service" ] || { echo "unit not enabled" >&2; exit 1; }
echo "unit enabled (multi-user.target.wants), not started: no systemd in the root"
in_root impulse validate /etc/impulse/pipeline.yaml

step "the unit's command line, as the impulse user"
# IMPULSE_OPTIONS as an administrator would set it in /etc/default/impulse: any free port.
command=${exec_start//\$IMPULSE_OPTIONS/--listen 127.0.0.1:0}
chroot "$root" /usr/bin/env -i PATH=/usr/bin:/bin setpriv --reuid impulse --regid impulse --init-groups \
  $command >"$work/impulse.log" 2>&1 &
pid=$!
port=""
for _ in $(seq 100); do
  port=$(grep -oE 'http://127\.0\.0\.1:[0-9]+' "$work/impulse.log" | head -1 | sed 's/.*://') || true
  if [ -n "$port" ]; then break; fi
  kill -0 "$pid" 2>/dev/null || { cat "$work/impulse.log"; exit 1; }
  sleep 0.1
done
[ -n "$port" ] || { cat "$work/impulse.log"; echo "package_test: no listen address logged" >&2; exit 1; }
head -3 "$work/impulse.log"
url=http://127.0.0.1:$port
curl -fsS "$url/healthz"; echo
events=""
for i in $(seq 0 9); do
  events+="{\"user_id\":\"u$i\",\"url\":\"/p$i\",\"amount\":$((i * 30)).5,\"ts\":$((1700000000000 + i * 1000))}"$'\n'
done
curl -fsS -XPOST --data-binary "$events" "$url/v1/streams/clicks/events"; echo
# amount > 100: i = 4..9, six events through big_clicks.
out=0
for _ in $(seq 100); do
  out=0
  for p in 0 1 2 3; do
    n=$(curl -fsS "$url/v1/streams/big_clicks/events?partition=$p&from=0&limit=100" | grep -c '"amount_cents"' || true)
    out=$((out + n))
  done
  if [ "$out" -ge 6 ]; then break; fi
  sleep 0.1
done
echo "big_clicks holds $out events (6 expected)"
[ "$out" -eq 6 ] || exit 1
[ "$(stat -c %u "/proc/$pid")" = "$(in_root id -u impulse)" ] || { echo "not running as impulse" >&2; exit 1; }
echo "running as impulse (uid $(stat -c %u "/proc/$pid")): $(tr '\0' ' ' <"/proc/$pid/cmdline")"
kill -TERM "$pid"
wait "$pid" || { cat "$work/impulse.log"; echo "package_test: impulse exited $?" >&2; exit 1; }
pid=""
tail -2 "$work/impulse.log"
in_root find /var/lib/impulse -maxdepth 2 ! -user impulse | grep . && { echo "files not owned by impulse" >&2; exit 1; }

step "apt remove, purge"
in_root apt-get remove -y impulse >"$work/remove.log" 2>&1
[ -d "$root/var/lib/impulse" ] && echo "remove keeps /var/lib/impulse"
in_root apt-get purge -y impulse >"$work/purge.log" 2>&1
[ ! -e "$root/var/lib/impulse" ] && [ ! -e "$root/etc/impulse" ] && echo "purge removed /var/lib/impulse and /etc/impulse"
echo "package_test: OK"

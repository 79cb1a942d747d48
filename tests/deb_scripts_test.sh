#!/bin/sh
# The .deb's maintainer scripts (packaging/debian) through the sequences dpkg runs them in: a
# first install, a remove then a reinstall (config files kept), an upgrade, a purge, and each
# step twice. No root and nothing of this machine touched: the commands they call
# (deb-systemd-helper, deb-systemd-invoke, systemctl, useradd...) are stubs keeping the unit's
# state (enabled, masked, running) in files, and the scripts' system paths point into a scratch
# directory. The stubs follow init-system-helpers: a masked unit does not start, `try-restart`
# starts nothing that is stopped, start and restart leave a disabled unit alone, `was-enabled`
# is true for a unit never seen.
# Usage: deb_scripts_test.sh SOURCE_DIR
set -eu
source=$1
work=$(mktemp -d "${TMPDIR:-/tmp}/impulse-deb-scripts-test.XXXXXX")
trap 'st=$?; if [ $st -ne 0 ]; then echo "deb_scripts_test: failed; files in $work" >&2; else rm -rf "$work"; fi' EXIT
fail() { echo "deb_scripts_test: $*" >&2; exit 1; }

state=$work/state bin=$work/bin
mkdir -p "$state" "$bin" "$work/run-systemd" "$work/etc-default"
: >"$work/etc-default/impulse"
for s in postinst prerm postrm; do
  sed -e "s|/run/systemd/system|$work/run-systemd|g" -e "s|/etc/default/impulse|$work/etc-default/impulse|g" \
    -e "s|/var/lib/impulse|$work/var-lib-impulse|g" "$source/packaging/debian/$s" >"$work/$s"
done

cat >"$bin/deb-systemd-helper" <<EOF
#!/bin/sh
[ "\$1" = --quiet ] && shift
case "\$1" in
  was-enabled) [ ! -e "$state/seen" ] || [ -e "$state/enabled" ] ;;
  enable) touch "$state/enabled" "$state/seen" ;;
  update-state) touch "$state/seen" ;;
  mask) touch "$state/masked" ;;
  unmask) rm -f "$state/masked" ;;
  purge) rm -f "$state/enabled" "$state/seen" ;;
  *) echo "deb-systemd-helper stub: \$*" >&2; exit 1 ;;
esac
EOF
cat >"$bin/deb-systemd-invoke" <<EOF
#!/bin/sh
case "\$1" in
  start|restart)
    if [ -e "$state/masked" ]; then exit 1; fi
    if [ -e "$state/enabled" ]; then touch "$state/running"; fi ;;
  try-restart) if [ -e "$state/masked" ]; then exit 1; fi ;;
  stop) rm -f "$state/running" ;;
  *) echo "deb-systemd-invoke stub: \$*" >&2; exit 1 ;;
esac
EOF
# Present user and group; install/chmod act on the scratch paths only (ownership is root's job).
printf '#!/bin/sh\nexit 0\n' >"$bin/getent"
printf '#!/bin/sh\nexit 0\n' >"$bin/systemctl"
printf '#!/bin/sh\necho "$0 $*" >&2; exit 1\n' >"$bin/groupadd"
cp "$bin/groupadd" "$bin/useradd"
cat >"$bin/install" <<'EOF'
#!/bin/sh
while [ $# -gt 1 ]; do shift; done
mkdir -p "$1"
EOF
chmod +x "$bin"/*
PATH=$bin:$PATH
export PATH

step() { echo "== $*"; }
expect() {  # expect running|stopped enabled|- masked|unmasked
  [ "$1" = running ] && { [ -e "$state/running" ] || fail "$step_name: not running"; }
  [ "$1" = stopped ] && { [ ! -e "$state/running" ] || fail "$step_name: still running"; }
  [ "$2" = enabled ] && { [ -e "$state/enabled" ] || fail "$step_name: not enabled"; }
  [ "$3" = masked ] && { [ -e "$state/masked" ] || fail "$step_name: not masked"; }
  [ "$3" = unmasked ] && { [ ! -e "$state/masked" ] || fail "$step_name: still masked"; }
  return 0
}
run() { step_name=$*; step "$*"; sh "$work/$1" "$2" ${3:+"$3"}; }

for twice in 1 2; do
  run postinst configure
  expect running enabled unmasked
done
[ -d "$work/var-lib-impulse" ] || fail "no data directory"
[ "$(stat -c %a "$work/etc-default/impulse")" = 600 ] || fail "/etc/default/impulse is not 0600"

step "upgrade to a new version"
run prerm upgrade 0.9.0
run postinst configure 0.9.0
expect running enabled unmasked

step "remove, then install again (the config files stayed: configure gets the old version)"
run prerm remove
run postrm remove
expect stopped - masked
[ -d "$work/var-lib-impulse" ] || fail "remove deleted the data directory"
run postinst configure 0.9.0
expect running enabled unmasked

step "a remove that fails after prerm stopped the service: dpkg calls postinst abort-remove"
run prerm remove
run postinst abort-remove
expect running enabled unmasked

step "a unit the administrator disabled stays disabled across an upgrade"
rm -f "$state/enabled"
run postinst configure 0.9.0
[ ! -e "$state/enabled" ] || fail "re-enabled a disabled unit"
touch "$state/enabled"

step "remove and purge"
run prerm remove
run postrm remove
for twice in 1 2; do
  run postrm purge
  expect stopped - unmasked
done
[ ! -e "$work/var-lib-impulse" ] || fail "purge kept the data directory"
echo "deb_scripts_test: OK"

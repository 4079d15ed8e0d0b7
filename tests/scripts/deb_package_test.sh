#!/usr/bin/env bash
# The Debian packages through their life cycle, with dpkg: build aisearchd and aisearch-emulator
# with CPack (and a rebuild with a bumped Debian revision), check them with lintian, then install,
# upgrade with an operator's changes in place, remove and purge, asserting after each step the
# files left and the commands the maintainer scripts ran.
#
# systemd does not run here, so the maintainer scripts' systemctl and deb-systemd-invoke calls
# are recorded by stand-ins put first on PATH (they act on nothing), and /run/systemd/system is
# created for the test if it is missing, so that the scripts take their "systemd is running"
# branches. deb-systemd-helper is the real one (it only edits links and its records under /etc
# and /var/lib), wrapped to record its calls too. ctest runs this test alone (RUN_SERIAL).
#
# Guarded: refuses to touch a machine where either package is installed or their files exist,
# and needs root (or password-less sudo) for dpkg.
set -euo pipefail
: "${AISEARCHD_BIN:?}" "${SOURCE_DIR:?}"
build_dir=$(cd "$(dirname "$AISEARCHD_BIN")" && pwd)
fail() { echo "FAIL: $*" >&2; exit 1; }

if [ "$(id -u)" -eq 0 ]; then
  as_root() { "$@"; }
elif sudo -n true 2>/dev/null; then
  as_root() { sudo -n "$@"; }
else
  fail "dpkg needs root or password-less sudo"
fi
command -v lintian >/dev/null || fail "lintian is not installed (scripts/install-deps.sh installs it)"
command -v deb-systemd-helper >/dev/null || fail "deb-systemd-helper (init-system-helpers) is missing"
for package in aisearchd aisearch-emulator; do
  if dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'installed'; then
    fail "$package is installed on this machine; not touching it"
  fi
done
wants=/etc/systemd/system/multi-user.target.wants/aisearchd.service
for path in /etc/aisearchd /usr/bin/aisearchd /usr/bin/aisearch-emulator /var/lib/aisearchd \
    /var/lib/private/aisearchd "$wants" /etc/systemd/system/aisearchd.service; do
  [ ! -e "$path" ] && [ ! -L "$path" ] || fail "$path exists on this machine; not touching it"
done

work=$(mktemp -d)
made_run_dir=0
cleanup() {
  for package in aisearchd aisearch-emulator; do
    if dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'installed\|config-files'; then
      as_root env PATH="$work/shim:$PATH" dpkg -P "$package" >/dev/null 2>&1 || true
    fi
  done
  if [ "$made_run_dir" = 1 ]; then as_root rmdir /run/systemd/system 2>/dev/null || true; fi
  # None of these existed before (checked above); a failed step may have left them.
  as_root rm -rf /var/lib/aisearchd /var/lib/private/aisearchd /etc/aisearchd "$wants" \
    /etc/systemd/system/aisearchd.service
  rm -rf "$work"
}
trap cleanup EXIT

# --- build: version 0.1.0-1 and the same tree rebuilt as 0.1.0-2 -------------------------------
for release in 1 2; do
  (cd "$build_dir" && cpack -G DEB -B "$work/r$release" -D CPACK_DEBIAN_PACKAGE_RELEASE=$release \
      >"$work/cpack$release.log" 2>&1) || { cat "$work/cpack$release.log" >&2; fail "cpack failed"; }
done
daemon1=$(ls "$work"/r1/aisearchd_*-1_*.deb 2>/dev/null) || fail "no aisearchd .deb: $(ls "$work/r1")"
emulator1=$(ls "$work"/r1/aisearch-emulator_*-1_*.deb 2>/dev/null) || fail "no aisearch-emulator .deb"
daemon2=$(ls "$work"/r2/aisearchd_*-2_*.deb 2>/dev/null) || fail "no rebuilt aisearchd .deb"
emulator2=$(ls "$work"/r2/aisearch-emulator_*-2_*.deb 2>/dev/null) || fail "no rebuilt emulator .deb"
version1=$(dpkg-deb -f "$daemon1" Version)
version2=$(dpkg-deb -f "$daemon2" Version)
dpkg --compare-versions "$version2" gt "$version1" || fail "$version2 is not newer than $version1"

# --- what each package holds ---------------------------------------------------------------
has() { dpkg-deb -c "$1" | awk '{print $6}' | grep -qx "$2"; }
for path in ./usr/bin/aisearchd ./usr/lib/systemd/system/aisearchd.service \
    ./etc/aisearchd/aisearchd.yaml ./usr/share/doc/aisearchd/examples/single-file/aisearch.yaml \
    ./usr/share/doc/aisearchd/copyright ./usr/share/doc/aisearchd/changelog.Debian.gz \
    ./usr/share/man/man1/aisearchd.1.gz ./usr/share/man/man5/aisearchd.yaml.5.gz \
    ./usr/share/bash-completion/completions/aisearchd ./usr/share/zsh/vendor-completions/_aisearchd \
    ./usr/share/fish/vendor_completions.d/aisearchd.fish; do
  has "$daemon1" "$path" || fail "$path missing from aisearchd"
done
for path in ./usr/bin/aisearch-emulator ./usr/share/man/man1/aisearch-emulator.1.gz \
    ./usr/share/doc/aisearch-emulator/copyright \
    ./usr/share/doc/aisearch-emulator/changelog.Debian.gz; do
  has "$emulator1" "$path" || fail "$path missing from aisearch-emulator"
done
! has "$daemon1" ./usr/bin/aisearch-emulator || fail "the emulator is in the daemon's package"
dpkg-deb -f "$daemon1" Depends | grep -q 'init-system-helpers' ||
  fail "aisearchd does not depend on init-system-helpers (deb-systemd-helper)"
dpkg-deb -f "$daemon1" Depends | grep -q libc6 || fail "no shared-library dependencies recorded"
for deb in "$daemon1" "$emulator1"; do
  description=$(dpkg-deb -f "$deb" Description)
  case "$description" in
    *";"* | "") fail "description of $deb is empty or has list separators: $description" ;;
  esac
done
dpkg-deb -e "$daemon1" "$work/control1"
grep -qx /etc/aisearchd/aisearchd.yaml "$work/control1/conffiles" || fail "config is not a conffile"
dpkg-deb --fsys-tarfile "$daemon2" | tar -xO ./usr/share/doc/aisearchd/changelog.Debian.gz |
  gzip -dc | head -n1 | grep -qF "aisearchd ($version2) " ||
  fail "the rebuilt package's changelog does not start with $version2"
dpkg-deb --fsys-tarfile "$daemon1" | tar -xO ./usr/share/doc/aisearchd/changelog.Debian.gz |
  gzip -dc >"$work/changelog1"
head -n1 "$work/changelog1" | grep -qF "aisearchd ($version1) " ||
  fail "changelog does not start with $version1: $(head -n1 "$work/changelog1")"

# --- lintian: no errors, on the first build and on the rebuild; each warning is one the README
# lists with its reason ----------------------------------------------------------------------
lintian --fail-on error "$daemon1" "$emulator1" "$daemon2" "$emulator2" >"$work/lintian.log" 2>&1 ||
  { cat "$work/lintian.log" >&2; fail "lintian reports errors"; }
readme_section=$(sed -n '/^### lintian warnings/,/^#/p' "$SOURCE_DIR/README.md")
while read -r tag; do
  printf '%s\n' "$readme_section" | grep -qF "\`$tag\`" ||
    fail "lintian warning $tag is not listed (with its reason) in README's \"lintian warnings\""
done < <(sed -n 's/^W: [^:]*: \([a-z0-9-]*\).*/\1/p' "$work/lintian.log" | sort -u)

# --- stand-ins that record the maintainer scripts' calls ----------------------------------
mkdir -p "$work/shim"
calls="$work/calls.log"
for tool in systemctl deb-systemd-invoke; do
  printf '#!/bin/sh\necho "%s $*" >>"%s"\nexit 0\n' "$tool" "$calls" >"$work/shim/$tool"
done
printf '#!/bin/sh\necho "deb-systemd-helper $*" >>"%s"\nexec %s "$@"\n' "$calls" \
  "$(command -v deb-systemd-helper)" >"$work/shim/deb-systemd-helper"
chmod +x "$work/shim"/*
if [ ! -d /run/systemd/system ]; then
  as_root mkdir -p /run/systemd/system
  made_run_dir=1
fi
# Some images exclude /usr/share/doc and /usr/share/man from dpkg installs; both are checked here.
dpkg_run() {
  : >"$calls"
  as_root env PATH="$work/shim:$PATH" dpkg --path-include='/usr/share/doc/*' \
    --path-include='/usr/share/man/*' "$@" >"$work/dpkg.log" 2>&1 ||
    { cat "$work/dpkg.log" >&2; fail "dpkg $* failed"; }
}
called() { grep -qx -- "$1" "$calls" || fail "$step: the maintainer scripts did not run \`$1\`: $(cat "$calls")"; }
not_called() { ! grep -q -- "$1" "$calls" || fail "$step: the maintainer scripts ran $1: $(cat "$calls")"; }
exists() { [ -e "$1" ] || [ -L "$1" ] || fail "$step: $1 is missing"; }
gone() { [ ! -e "$1" ] && [ ! -L "$1" ] || fail "$step: $1 is left"; }
installed_version() { dpkg-query -W -f='${Version}' "$1"; }
dsh_state=/var/lib/systemd/deb-systemd-helper-enabled/aisearchd.service.dsh-also

# --- 1. install: nothing enabled, nothing started --------------------------------------------
step="install $version1"
dpkg_run -i "$daemon1" "$emulator1"
[ "$(installed_version aisearchd)" = "$version1" ] || fail "$step: aisearchd is not $version1"
called "deb-systemd-helper update-state aisearchd.service"
called "systemctl --system daemon-reload"
not_called "deb-systemd-invoke"
not_called "deb-systemd-helper enable"
gone "$wants"
exists "$dsh_state"
for path in /usr/bin/aisearchd /usr/bin/aisearch-emulator /usr/share/man/man5/aisearchd.yaml.5.gz \
    /usr/share/man/man1/aisearch-emulator.1.gz /usr/share/doc/aisearchd/copyright; do
  exists "$path"
done
/usr/bin/aisearchd --version >/dev/null
for example in /usr/share/doc/aisearchd/examples/single-file/aisearch.yaml \
    /usr/share/doc/aisearchd/examples/multi-namespace; do
  env -u CLOUDFLARE_API_TOKEN /usr/bin/aisearchd validate -c /etc/aisearchd/aisearchd.yaml \
    -m "$example" >/dev/null || fail "installed aisearchd validate failed on $example"
done

# --- the operator enables the service, edits the config, and the daemon has made state ------
as_root mkdir -p "$(dirname "$wants")" /var/lib/private/aisearchd
as_root ln -s /usr/lib/systemd/system/aisearchd.service "$wants"  # what `systemctl enable` does
printf '\n# edited by the operator\n' | as_root tee -a /etc/aisearchd/aisearchd.yaml >/dev/null
echo '{"owned": "by the daemon"}' | as_root tee /var/lib/private/aisearchd/state.json >/dev/null
as_root ln -s private/aisearchd /var/lib/aisearchd  # StateDirectory= with DynamicUser=yes
echo 'a-token' | as_root tee /etc/aisearchd/token >/dev/null

# --- 2. upgrade: still enabled, restarted if running, never stopped or started --------------
step="upgrade to $version2"
dpkg_run -i "$daemon2" "$emulator2"
[ "$(installed_version aisearchd)" = "$version2" ] || fail "$step: aisearchd is not $version2"
[ "$(installed_version aisearch-emulator)" = "$version2" ] || fail "$step: emulator not upgraded"
called "deb-systemd-invoke try-restart aisearchd.service"
called "deb-systemd-helper enable aisearchd.service"
not_called "deb-systemd-invoke stop"
not_called "deb-systemd-invoke start"
exists "$wants"
grep -q 'edited by the operator' /etc/aisearchd/aisearchd.yaml || fail "$step: the config edit is lost"
grep -q 'by the daemon' /var/lib/aisearchd/state.json || fail "$step: the state is lost"
gzip -dc /usr/share/doc/aisearchd/changelog.Debian.gz | head -n1 | grep -qF "($version2)" ||
  fail "$step: the installed changelog is not $version2's"

# --- 3. remove: stopped, binary gone, config and state kept, unit masked --------------------
step="remove"
dpkg_run -r aisearchd
called "deb-systemd-invoke stop aisearchd.service"
called "deb-systemd-helper mask aisearchd.service"
gone /usr/bin/aisearchd
gone /usr/lib/systemd/system/aisearchd.service
exists /etc/aisearchd/aisearchd.yaml
exists /etc/aisearchd/token
exists /var/lib/private/aisearchd/state.json
exists /usr/bin/aisearch-emulator  # its own package
[ "$(readlink /etc/systemd/system/aisearchd.service)" = /dev/null ] || fail "$step: not masked"

# --- 4. purge: links, records, config, token and state all gone ------------------------------
step="purge"
dpkg_run -P aisearchd
called "deb-systemd-helper purge aisearchd.service"
called "deb-systemd-helper unmask aisearchd.service"
for path in /etc/aisearchd /var/lib/aisearchd /var/lib/private/aisearchd "$wants" "$dsh_state" \
    /etc/systemd/system/aisearchd.service; do
  gone "$path"
done
dpkg_run -P aisearch-emulator
gone /usr/bin/aisearch-emulator

# --- 5. a service never enabled stays disabled through an upgrade ----------------------------
step="install, upgrade without enabling"
dpkg_run -i "$daemon1"
dpkg_run -i "$daemon2"
not_called "deb-systemd-helper enable"
called "deb-systemd-invoke try-restart aisearchd.service"
gone "$wants"
dpkg_run -P aisearchd
gone "$dsh_state"
gone /etc/aisearchd

# --- 6. an install into another root (dpkg --root, chrootless scripts: $DPKG_ROOT) acts there
# only: it neither calls this machine's systemd nor removes this machine's state on purge -------
step="install into and purge from another root"
root="$work/root"
mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates"
touch "$root/var/lib/dpkg/status"
as_root mkdir -p /var/lib/private/aisearchd /etc/aisearchd
echo 'this machine' | as_root tee /var/lib/private/aisearchd/state.json /etc/aisearchd/token >/dev/null
as_root ln -s private/aisearchd /var/lib/aisearchd
dpkg_run --root="$root" --force-script-chrootless --force-depends -i "$daemon1"
exists "$root/usr/bin/aisearchd"
not_called "systemctl"
mkdir -p "$root/var/lib/private/aisearchd"
echo 'the other root' >"$root/var/lib/private/aisearchd/state.json"
dpkg_run --root="$root" --force-script-chrootless --force-depends -P aisearchd
not_called "deb-systemd-invoke"
not_called "systemctl"
gone "$root/var/lib/private/aisearchd"
gone "$root/etc/aisearchd"
grep -q 'this machine' /var/lib/private/aisearchd/state.json || fail "$step: this machine's state is gone"
grep -q 'this machine' /etc/aisearchd/token || fail "$step: this machine's token is gone"
as_root rm -rf /var/lib/aisearchd /var/lib/private/aisearchd /etc/aisearchd

# --- 7. purge never fails on what the operator made of /etc/aisearchd (here a link) ----------
step="purge with /etc/aisearchd a link"
mkdir -p "$work/etc-aisearchd"
as_root ln -s "$work/etc-aisearchd" /etc/aisearchd
dpkg_run -i "$daemon1"
dpkg_run -P aisearchd
[ "$(dpkg-query -W -f='${Status}' aisearchd 2>/dev/null || true)" = "" ] ||
  [ "$(dpkg-query -W -f='${Status}' aisearchd 2>/dev/null)" = "unknown ok not-installed" ] ||
  fail "$step: aisearchd is left as $(dpkg-query -W -f='${Status}' aisearchd)"
as_root rm -f /etc/aisearchd

echo "ok: $(basename "$daemon1") and $(basename "$emulator1"): lintian clean of errors;" \
  "install, upgrade to $version2, remove and purge leave what they should"

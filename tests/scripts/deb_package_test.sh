#!/usr/bin/env bash
# Builds the .deb with CPack from the build directory, installs it with dpkg, runs the installed
# `aisearchd validate` on the installed config and example, then purges the package.
# Guarded: refuses to touch a machine where aisearchd is already installed or /etc/aisearchd
# exists, and needs root (or password-less sudo) for dpkg.
set -euo pipefail
: "${AISEARCHD_BIN:?}"
build_dir=$(cd "$(dirname "$AISEARCHD_BIN")" && pwd)
fail() { echo "FAIL: $*" >&2; exit 1; }

if [ "$(id -u)" -eq 0 ]; then
  as_root() { "$@"; }
elif sudo -n true 2>/dev/null; then
  as_root() { sudo -n "$@"; }
else
  fail "dpkg -i needs root or password-less sudo"
fi
if dpkg-query -W -f='${Status}' aisearchd 2>/dev/null | grep -q 'installed'; then
  fail "aisearchd is already installed on this machine; not touching it"
fi
[ ! -e /etc/aisearchd ] || fail "/etc/aisearchd exists on this machine; not touching it"
[ ! -e /usr/bin/aisearchd ] || fail "/usr/bin/aisearchd exists on this machine; not touching it"

work=$(mktemp -d)
installed=0
cleanup() {
  if [ "$installed" = 1 ]; then as_root dpkg -P aisearchd >/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

(cd "$build_dir" && cpack -G DEB -B "$work" >"$work/cpack.log" 2>&1) || {
  cat "$work/cpack.log" >&2
  fail "cpack -G DEB failed"
}
deb=$(ls "$work"/aisearchd_*.deb 2>/dev/null | head -n1)
[ -n "$deb" ] || fail "no .deb produced: $(ls "$work")"

contents=$(dpkg-deb -c "$deb")
for path in ./usr/bin/aisearchd ./usr/bin/aisearch-emulator \
    ./usr/lib/systemd/system/aisearchd.service ./etc/aisearchd/aisearchd.yaml \
    ./usr/share/doc/aisearchd/examples/single-file/aisearch.yaml \
    ./usr/share/man/man1/aisearchd.1.gz ./usr/share/bash-completion/completions/aisearchd \
    ./usr/share/zsh/vendor-completions/_aisearchd ./usr/share/fish/vendor_completions.d/aisearchd.fish; do
  printf '%s\n' "$contents" | grep -q " $path\$" || fail "$path missing from the package"
done
dpkg-deb -f "$deb" Depends | grep -q libc6 || fail "no shared-library dependencies recorded"
description=$(dpkg-deb -f "$deb" Description)
case "$description" in
  *";"* | "") fail "package description is empty or has list separators: $description" ;;
esac
dpkg-deb -e "$deb" "$work/control"
grep -qx /etc/aisearchd/aisearchd.yaml "$work/control/conffiles" || fail "config is not a conffile"

# Some images exclude /usr/share/doc from dpkg installs; the examples are part of this test.
as_root dpkg --path-include='/usr/share/doc/aisearchd/*' -i "$deb" >"$work/dpkg.log" 2>&1 || {
  cat "$work/dpkg.log" >&2
  fail "dpkg -i failed"
}
installed=1
[ -x /usr/bin/aisearchd ] || fail "/usr/bin/aisearchd not installed"
/usr/bin/aisearchd --version
for example in /usr/share/doc/aisearchd/examples/single-file/aisearch.yaml \
    /usr/share/doc/aisearchd/examples/multi-namespace; do
  env -u CLOUDFLARE_API_TOKEN /usr/bin/aisearchd validate -c /etc/aisearchd/aisearchd.yaml \
      -m "$example" || fail "installed aisearchd validate failed on $example"
done

as_root dpkg -P aisearchd >/dev/null
installed=0
[ ! -e /usr/bin/aisearchd ] || fail "/usr/bin/aisearchd left after purge"
[ ! -e /etc/aisearchd/aisearchd.yaml ] || fail "config left after purge"
echo "ok: $(basename "$deb") builds, installs, validates and purges"

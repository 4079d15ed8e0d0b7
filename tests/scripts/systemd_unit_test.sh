#!/usr/bin/env bash
# The systemd unit: `systemd-analyze verify` reports nothing, `systemd-analyze security` scores
# <= 1.1 (issue 18), and the directives the daemon relies on are present.
set -euo pipefail
: "${SOURCE_DIR:?}" "${AISEARCHD_BIN:?}"
unit="$SOURCE_DIR/systemd/aisearchd.service"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

for directive in 'Type=notify' 'ExecReload=/bin/kill -HUP $MAINPID' 'DynamicUser=yes' \
    'StateDirectory=aisearchd' 'LoadCredential=cloudflare-api-token:' 'Restart=on-failure' \
    'WatchdogSec=' 'ProtectSystem=strict' 'PrivateDevices=yes' \
    'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX' 'SystemCallFilter=@system-service' \
    'CapabilityBoundingSet=' 'NoNewPrivileges=yes' 'Documentation=man:aisearchd(1) man:aisearchd.yaml(5)'; do
  grep -qF -- "$directive" "$unit" || fail "unit lacks $directive"
done

# verify: the unit as installed names /usr/bin/aisearchd; point it at the built binary so the
# check does not depend on what this machine has installed.
sed "s#/usr/bin/aisearchd#$AISEARCHD_BIN#g" "$unit" > "$work/aisearchd.service"
out=$(systemd-analyze verify --man=no "$work/aisearchd.service" 2>&1) || fail "verify failed: $out"
[ -z "$out" ] || fail "verify reported: $out"

security=$(systemd-analyze security --offline=yes "$unit" 2>&1) || fail "security failed: $security"
score=$(printf '%s\n' "$security" | sed -n 's/.*Overall exposure level for .*: \([0-9.]*\).*/\1/p')
[ -n "$score" ] || fail "no score in: $security"
awk -v s="$score" 'BEGIN { exit !(s <= 1.1) }' || fail "exposure $score > 1.1"
echo "ok: verify clean, exposure $score"

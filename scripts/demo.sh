#!/usr/bin/env bash
# The main job, end to end against the bundled emulator (no Cloudflare account needed):
# build, start aisearch-emulator on a free loopback port, then with examples/demo:
# validate -> plan -> apply -> plan again (no changes) -> sync -> status -> a few daemon cycles.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
AISEARCHD_SKIP_PRISM=1 scripts/install-deps.sh
cmake -S . -B build -G Ninja -DAISEARCHD_WERROR=ON >/dev/null
cmake --build build -j "$(nproc)" --target aisearchd aisearch-emulator

work=$(mktemp -d)
emulator_pid=""
daemon_pid=""
cleanup() {
  [[ -n "$daemon_pid" ]] && kill "$daemon_pid" 2>/dev/null || true
  [[ -n "$emulator_pid" ]] && kill "$emulator_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

export CLOUDFLARE_API_TOKEN=demo-token
build/aisearch-emulator --port 0 --token "$CLOUDFLARE_API_TOKEN" --account-id demo-account \
  --job-duration 2s --job-cooldown 3s --user someone@example.com >"$work/emulator.out" 2>"$work/emulator.log" &
emulator_pid=$!
for _ in $(seq 100); do
  grep -q '^listening on ' "$work/emulator.out" 2>/dev/null && break
  sleep 0.1
done
base=$(sed -n 's/^listening on //p' "$work/emulator.out" | head -n1)
[[ -n "$base" ]] || { echo "emulator did not start:"; cat "$work/emulator.log"; exit 1; }

aisearchd() {
  build/aisearchd -c examples/demo/aisearchd.yaml -m examples/demo/aisearch.yaml \
    --api-url "$base/client/v4" --account-id demo-account --state-dir "$work/state" "$@"
}
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "aisearchd validate (offline)"
aisearchd validate
step "aisearchd plan (what would change)"
aisearchd plan
step "aisearchd apply"
aisearchd apply
step "aisearchd plan --detailed-exitcode (after apply: nothing to do, exit 0)"
aisearchd plan --detailed-exitcode
step "someone edits an instance by hand: drift"
curl -fsS -X PUT -H "Authorization: Bearer $CLOUDFLARE_API_TOKEN" -H 'Content-Type: application/json' \
  -d '{"max_num_results": 3}' "$base/client/v4/accounts/demo-account/ai-search/namespaces/default/instances/docs" >/dev/null
aisearchd plan || true
step "aisearchd sync default/docs (trigger, follow, report)"
aisearchd sync default/docs
step "aisearchd status"
aisearchd status
step "aisearchd run: the daemon, for a few seconds (corrects the drift and schedules the syncs: a slot due meanwhile runs)"
build/aisearchd -c examples/demo/aisearchd.yaml -m examples/demo/aisearch.yaml \
  --api-url "$base/client/v4" --account-id demo-account --state-dir "$work/state" \
  run --listen 127.0.0.1:0 --log-level info &
daemon_pid=$!
sleep "${DEMO_RUN_SECONDS:-12}"
kill -TERM "$daemon_pid"
status=0
wait "$daemon_pid" || status=$?
[[ $status -eq 0 ]] || { echo "daemon exited with status $status"; exit 1; }
echo "daemon exited cleanly on SIGTERM"
daemon_pid=""
step "aisearchd plan after the daemon ran (exit 0: remote equals the manifest)"
aisearchd plan --detailed-exitcode

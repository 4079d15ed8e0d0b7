#!/usr/bin/env bash
# The daemon following 1,000 running jobs (issue 13): RSS and threads of `aisearchd run` while
# 1,000 instances have jobs that never end (emulator job outcome `stall`) and 10 more sync every
# minute; prints how late each of the 10's slots started (target: within jitter + 5 s, jitter 0).
# No thread per job: the thread count stays that of an idle daemon.
#
#   bench/sync_follow_rss.sh [BUILD_DIR]   (default: build; AISEARCHD_BIN / EMULATOR_BIN win)
#   STALLED=1000 NORMAL=10 MINUTES=3 bench/sync_follow_rss.sh build-release
set -euo pipefail
build=${1:-build}
bin=${AISEARCHD_BIN:-$build/aisearchd}
emu_bin=${EMULATOR_BIN:-$build/aisearch-emulator}
stalled=${STALLED:-1000}
normal=${NORMAL:-10}
minutes=${MINUTES:-3}
[ -x "$bin" ] || { echo "no aisearchd binary at $bin" >&2; exit 1; }
[ -x "$emu_bin" ] || { echo "no emulator binary at $emu_bin" >&2; exit 1; }

work=$(mktemp -d)
emu_pid=""
daemon_pid=""
cleanup() {
  [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null || true
  [ -n "$emu_pid" ] && kill "$emu_pid" 2>/dev/null && wait "$emu_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

"$emu_bin" --port 0 --token bench-token --account-id bench --job-outcome stall \
  --job-duration 20s --job-cooldown 5s >"$work/emu.log" 2>&1 &
emu_pid=$!
for _ in $(seq 100); do
  url=$(grep -o 'http://[0-9.]*:[0-9]*' "$work/emu.log" | head -n1 || true)
  [ -n "$url" ] && break
  sleep 0.1
done
[ -n "$url" ] || { cat "$work/emu.log" >&2; echo "emulator did not start" >&2; exit 1; }
# The normal instances' jobs end (20 s); every other job never does.
outcomes=$(python3 -c "import json; print(json.dumps({'default/normal-%d' % i: 'ok' for i in range(1, $normal + 1)}))")
curl -fsS -X PUT -H 'Content-Type: application/json' --data-binary "{\"job_outcomes\": $outcomes}" \
  "$url/__emulator/config" >/dev/null

{
  echo "apiVersion: aisearchd/v1"
  echo "namespaces:"
  echo "  default:"
  echo "    instances:"
  for i in $(seq "$stalled"); do
    echo "      stuck-$i: { type: r2, source: stuck-$i, sync: { every: 24h, on_change: true } }"
  done
  for i in $(seq "$normal"); do
    echo "      normal-$i: { type: r2, source: normal-$i, sync: { every: 1m } }"
  done
} >"$work/manifest.yaml"
cat >"$work/config.yaml" <<YAML
api_url: $url/client/v4
account_id: bench
state_dir: $work/state
manifest: $work/manifest.yaml
request_budget: 100000/1m
concurrency: 16
listen: 127.0.0.1:0
log_level: warn
YAML
mkdir -p "$work/state"
export CLOUDFLARE_API_TOKEN=bench-token
"$bin" run -c "$work/config.yaml" >"$work/daemon.log" 2>&1 &
daemon_pid=$!

running() {
  python3 - "$work/state/state.json" <<'PY'
import json, sys
try:
    s = json.load(open(sys.argv[1]))
except Exception:
    print(0); sys.exit()
print(sum(len(v.get("running", [])) for v in s.get("sync", {}).values()))
PY
}
echo "waiting for $stalled running jobs to be followed..."
for _ in $(seq 600); do
  n=$(running)
  [ "$n" -ge "$stalled" ] && break
  sleep 1
done
echo "following $(running) running jobs; measuring for $minutes minute(s)"
start=$(date +%s)
max_rss=0
while [ $(( $(date +%s) - start )) -lt $(( minutes * 60 )) ]; do
  rss=$(awk '/^VmRSS/ {print $2}' /proc/$daemon_pid/status)
  [ "$rss" -gt "$max_rss" ] && max_rss=$rss
  sleep 2
done
threads=$(awk '/^Threads/ {print $2}' /proc/$daemon_pid/status)
rss=$(awk '/^VmRSS/ {print $2}' /proc/$daemon_pid/status)
echo "aisearchd following $(running) running jobs: RSS $((rss / 1024)) MiB (max $((max_rss / 1024)) MiB), $threads threads"
# Slots from the measurement's start on: the start-up burst (1,010 creates, 1,000 on_change
# triggers) is not what this measures.
curl -fsS "$url/__emulator/state" | MEASURE_FROM=$start python3 -c "
import json, os, sys, datetime
s = json.load(sys.stdin)
since = datetime.datetime.fromtimestamp(int(os.environ['MEASURE_FROM']), datetime.timezone.utc)
def t(x): return datetime.datetime.fromisoformat(x.replace('Z', '+00:00'))
late = []
for inst in s['instances']:
    if not inst['id'].startswith('normal-'): continue
    for job in inst['jobs']:
        d = (job.get('view') or job).get('description') or ''
        if ' slot ' not in d: continue
        slot = d.split(' slot ')[1].split()[0]
        started = (job.get('view') or job).get('started_at')
        if t(slot) < since: continue
        late.append((t(started) - t(slot)).total_seconds())
if late:
    print('normal instances: %d scheduled jobs while the 1,000 were followed, start after slot: max %.1f s, mean %.1f s (target <= 5 s)'
          % (len(late), max(late), sum(late) / len(late)))
else:
    print('normal instances: no scheduled job ran')
"

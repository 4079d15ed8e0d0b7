#!/usr/bin/env bash
# The idle daemon's footprint: RSS and CPU of `aisearchd run` over 60 s with 1,000 instances
# managed (10 namespaces x 100, each with a yearly sync schedule) and nothing due.
# Targets: RSS <= 20 MiB, CPU < 0.5% of one core.
#
#   bench/idle_daemon.sh [BUILD_DIR]        (default: build; AISEARCHD_BIN / EMULATOR_BIN win)
#   SECONDS_IDLE=60 INSTANCES_PER_NS=100 NAMESPACES=10 bench/idle_daemon.sh
#   BREAKDOWN=1 bench/idle_daemon.sh build-x   (also: where the RSS is, from /proc/PID/smaps)
set -euo pipefail
build=${1:-build}
bin=${AISEARCHD_BIN:-$build/aisearchd}
emu_bin=${EMULATOR_BIN:-$build/aisearch-emulator}
idle=${SECONDS_IDLE:-60}
per_ns=${INSTANCES_PER_NS:-100}
nss=${NAMESPACES:-10}
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

"$emu_bin" --port 0 --token bench-token --account-id bench >"$work/emu.log" 2>&1 &
emu_pid=$!
for _ in $(seq 100); do
  url=$(grep -o 'http://[0-9.]*:[0-9]*' "$work/emu.log" | head -n1 || true)
  [ -n "$url" ] && break
  sleep 0.1
done
[ -n "$url" ] || { cat "$work/emu.log" >&2; echo "emulator did not start" >&2; exit 1; }

{
  echo "apiVersion: aisearchd/v1"
  echo "namespaces:"
  for n in $(seq "$nss"); do
    [ "$n" = 1 ] && echo "  default:" || echo "  team-$n:"
    echo "    instances:"
    for i in $(seq "$per_ns"); do
      echo "      kb-$n-$i: { type: r2, source: bucket-$n-$i, sync: { schedule: \"0 3 1 1 *\" } }"
    done
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
YAML
mkdir -p "$work/state"
export CLOUDFLARE_API_TOKEN=bench-token

echo "creating $((nss * per_ns)) instances with aisearchd apply ..."
"$bin" apply -c "$work/config.yaml" -o json >/dev/null 2>"$work/apply.log" || {
  tail -n 20 "$work/apply.log" >&2
  echo "apply failed" >&2
  exit 1
}

# The environment systemd/aisearchd.service gives the daemon.
GNUTLS_NO_IMPLICIT_INIT=1 GLIBC_TUNABLES=glibc.malloc.tcache_count=0 "$bin" run -c "$work/config.yaml" >"$work/daemon.log" 2>&1 &
daemon_pid=$!
port=""
for _ in $(seq 300); do
  port=$(sed -n 's/.* port=\([0-9]*\).*/\1/p' "$work/daemon.log" | head -n1)
  [ -n "$port" ] && curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null || {
  tail -n 20 "$work/daemon.log" >&2
  echo "daemon not ready" >&2
  exit 1
}
managed=$(curl -fsS "http://127.0.0.1:$port/metrics" | sed -n 's/^aisearchd_manifest_instances \(.*\)/\1/p')

ticks() { awk '{ print $14 + $15 }' "/proc/$daemon_pid/stat"; }
hz=$(getconf CLK_TCK)
t0=$(ticks)
sleep "$idle"
t1=$(ticks)
rss_kib=$(awk '/^VmRSS:/ { print $2 }' "/proc/$daemon_pid/status")
hwm_kib=$(awk '/^VmHWM:/ { print $2 }' "/proc/$daemon_pid/status")
threads=$(awk '/^Threads:/ { print $2 }' "/proc/$daemon_pid/status")
# RSS = the daemon's own (anonymous) pages + the shared libraries' and binary's mapped file pages.
anon_kib=$(awk '/^RssAnon:/ { print $2 }' "/proc/$daemon_pid/status")
file_kib=$(awk '/^RssFile:/ { print $2 }' "/proc/$daemon_pid/status")
cpu=$(awk -v d=$((t1 - t0)) -v hz="$hz" -v s="$idle" 'BEGIN { printf "%.3f", 100 * d / hz / s }')
rss_mib=$(awk -v k="$rss_kib" 'BEGIN { printf "%.1f", k / 1024 }')
hwm_mib=$(awk -v k="$hwm_kib" 'BEGIN { printf "%.1f", k / 1024 }')
if [ -n "${BREAKDOWN:-}" ]; then
  # Resident KiB per mapping (anonymous by kind, files by name), largest first, then the totals.
  awk '
    /^[0-9a-f]+-[0-9a-f]+ / { name = ($6 == "") ? "[anon]" : $6; n = split(name, p, "/"); name = p[n] }
    /^Rss:/ { rss[name] += $2 }
    /^Private_Dirty:/ { dirty[name] += $2 }
    END { for (k in rss) if (rss[k] > 0) printf "%8d KiB rss %8d KiB private dirty  %s\n", rss[k], dirty[k], k }
  ' "/proc/$daemon_pid/smaps" | sort -rn | head -n 25
  grep -E '^(Rss|Pss|Shared|Private|Anonymous)' "/proc/$daemon_pid/smaps_rollup"
fi
echo "instances managed: $managed"
awk -v a="$anon_kib" -v f="$file_kib" 'BEGIN { printf "rss split: anonymous %.1f MiB, file-backed %.1f MiB\n", a / 1024, f / 1024 }'
echo "idle ${idle}s: cpu ${cpu}% of one core (target < 0.5%), rss ${rss_mib} MiB (target <= 20 MiB), peak rss ${hwm_mib} MiB, threads $threads"
awk -v c="$cpu" -v r="$rss_mib" 'BEGIN { exit !(c < 0.5 && r <= 20) }' && echo "targets: met" || echo "targets: MISSED"

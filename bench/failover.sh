#!/usr/bin/env bash
# High availability (PRODUCT.md §11): two `aisearchd run` nodes sharing one etcd and the emulator.
# 1. Failover: TRIALS times, kill -9 the leader and time until the standby's /status says
#    "leader"; the killed node comes back as the standby for the next trial.
# 2. Steady state: etcd requests each daemon sends per minute (aisearchd_etcd_requests_total over
#    STEADY_SECONDS), leadership keep-alives and standby rounds included, nothing to do.
# Targets: failover p50 <= lease_ttl + 5 s; <= 20 etcd requests per minute per daemon.
#
#   bench/failover.sh [BUILD_DIR]        (default: build; AISEARCHD_BIN / EMULATOR_BIN win)
#   TRIALS=20 LEASE_TTL=15 STEADY_SECONDS=60 bench/failover.sh
set -euo pipefail
build=${1:-build}
bin=${AISEARCHD_BIN:-$build/aisearchd}
emu_bin=${EMULATOR_BIN:-$build/aisearch-emulator}
etcd_bin=${ETCD_BIN:-/usr/bin/etcd}
trials=${TRIALS:-20}
ttl=${LEASE_TTL:-15}
steady=${STEADY_SECONDS:-60}
for b in "$bin" "$emu_bin" "$etcd_bin"; do
  [ -x "$b" ] || { echo "no executable at $b" >&2; exit 1; }
done

work=$(mktemp -d)
declare -A pid port
emu_pid="" etcd_pid=""
cleanup() {
  for n in "${!pid[@]}"; do kill -9 "${pid[$n]}" 2>/dev/null || true; done
  [ -n "$emu_pid" ] && kill "$emu_pid" 2>/dev/null || true
  [ -n "$etcd_pid" ] && kill "$etcd_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
now_ms() { date +%s%3N; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# etcd on loopback.
cport=$(free_port) pport=$(free_port)
"$etcd_bin" --name bench --data-dir "$work/etcd" \
  --listen-client-urls "http://127.0.0.1:$cport" --advertise-client-urls "http://127.0.0.1:$cport" \
  --listen-peer-urls "http://127.0.0.1:$pport" --initial-advertise-peer-urls "http://127.0.0.1:$pport" \
  --initial-cluster "bench=http://127.0.0.1:$pport" >"$work/etcd.log" 2>&1 &
etcd_pid=$!
for _ in $(seq 150); do curl -fsS "http://127.0.0.1:$cport/health" 2>/dev/null | grep -q true && break; sleep 0.1; done
curl -fsS "http://127.0.0.1:$cport/health" | grep -q true || { echo "etcd did not start" >&2; exit 1; }

# The emulator and a manifest of 20 instances without schedules.
"$emu_bin" --port 0 --token bench-token --account-id bench >"$work/emu.log" 2>&1 &
emu_pid=$!
url=""
for _ in $(seq 100); do
  url=$(grep -o 'http://[0-9.]*:[0-9]*' "$work/emu.log" | head -n1 || true)
  [ -n "$url" ] && break
  sleep 0.1
done
[ -n "$url" ] || { echo "emulator did not start" >&2; exit 1; }
{
  echo "apiVersion: aisearchd/v1"
  echo "namespaces:"
  echo "  default:"
  echo "    instances:"
  for i in $(seq 20); do echo "      inst-$i: { type: r2, source: bucket-$i }"; done
} >"$work/aisearch.yaml"
for n in a b; do
  mkdir -p "$work/node-$n"
  cat >"$work/node-$n/config.yaml" <<EOF
api_url: $url/client/v4
account_id: bench
manifest: $work/aisearch.yaml
state_dir: $work/node-$n
reconcile_interval: 5m
listen: 127.0.0.1:0
node_name: node-$n
state_backend:
  type: etcd
  endpoints: [http://127.0.0.1:$cport]
  prefix: /bench/
  lease_ttl: ${ttl}s
EOF
done
export CLOUDFLARE_API_TOKEN=bench-token

start_node() {
  local n=$1 log="$work/node-$1/daemon.log"
  : >"$log"
  "$bin" run -c "$work/node-$n/config.yaml" >>"$log" 2>&1 &
  pid[$n]=$!
  port[$n]=""
  for _ in $(seq 200); do
    port[$n]=$(grep -o ' port=[0-9]*' "$log" | head -n1 | cut -d= -f2 || true)
    [ -n "${port[$n]}" ] && return 0
    sleep 0.05
  done
  echo "node-$n did not start:" >&2; cat "$log" >&2; exit 1
}
role_of() {
  curl -fsS -m 2 "http://127.0.0.1:${port[$1]}/status" 2>/dev/null |
    grep -o '"role": *"[a-z]*"' | head -n1 | grep -o '[a-z]*"$' | tr -d '"' || true
}
wait_role() {  # node role timeout_s
  local deadline=$(($(now_ms) + $3 * 1000))
  while [ "$(now_ms)" -lt "$deadline" ]; do
    [ "$(role_of "$1")" = "$2" ] && return 0
    sleep 0.1
  done
  return 1
}
other() { [ "$1" = a ] && echo b || echo a; }

start_node a
wait_role a leader 30 || { echo "node-a did not lead" >&2; exit 1; }
start_node b
wait_role b standby 30 || { echo "node-b is not a standby" >&2; exit 1; }

echo "failover: $trials trials, lease_ttl ${ttl}s, kill -9 of the leader at a random moment"
leader=a
times=()
for t in $(seq "$trials"); do
  sleep "$(awk -v r=$RANDOM -v ttl="$ttl" 'BEGIN { printf "%.2f", (r / 32768.0) * ttl / 3 }')"
  next=$(other $leader)
  kill -9 "${pid[$leader]}"
  wait "${pid[$leader]}" 2>/dev/null || true
  t0=$(now_ms)
  wait_role "$next" leader $((3 * ttl)) || { echo "trial $t: node-$next did not take over" >&2; exit 1; }
  ms=$(($(now_ms) - t0))
  times+=("$ms")
  printf '  trial %2d: node-%s -> node-%s in %s s\n' "$t" "$leader" "$next" "$(awk -v ms="$ms" 'BEGIN { printf "%.1f", ms / 1000 }')"
  start_node "$leader"
  wait_role "$leader" standby 30 || { echo "trial $t: node-$leader did not come back as standby" >&2; exit 1; }
  leader=$next
done
sorted=$(printf '%s\n' "${times[@]}" | sort -n)
p50=$(echo "$sorted" | awk -v n="${#times[@]}" 'NR == int((n + 1) / 2) { print }')
max=$(echo "$sorted" | tail -n1)
p50_s=$(awk -v ms="$p50" 'BEGIN { printf "%.1f", ms / 1000 }')
max_s=$(awk -v ms="$max" 'BEGIN { printf "%.1f", ms / 1000 }')
target_ms=$(((ttl + 5) * 1000))
verdict=$([ "$p50" -le "$target_ms" ] && echo met || echo "NOT met")
echo "failover time: p50 ${p50_s} s, max ${max_s} s (target p50 <= $((ttl + 5)) s: $verdict)"

counter() {
  curl -fsS -m 2 "http://127.0.0.1:${port[$1]}/metrics" | awk '/^aisearchd_etcd_requests_total /{ print $2 }'
}
standby=$(other $leader)
sleep 5  # let the restarted standby settle into its rounds
l0=$(counter "$leader") s0=$(counter "$standby")
sleep "$steady"
l1=$(counter "$leader") s1=$(counter "$standby")
lpm=$(awk -v a="$l0" -v b="$l1" -v s="$steady" 'BEGIN { printf "%.1f", (b - a) * 60 / s }')
spm=$(awk -v a="$s0" -v b="$s1" -v s="$steady" 'BEGIN { printf "%.1f", (b - a) * 60 / s }')
ok=$(awk -v l="$lpm" -v s="$spm" 'BEGIN { print (l <= 20 && s <= 20) ? 1 : 0 }')
echo "etcd requests per minute in steady state (${steady} s): leader ${lpm}, standby ${spm} (target <= 20 each: $([ "$ok" = 1 ] && echo met || echo "NOT met"))"

# Shared by the bench scripts: start the emulator, talk to its control API, clean up.
# Usage: source bench/lib.sh; bench_start_emulator EXTRA_ARGS...; then $BASE is set.
BUILD=${BUILD:-build}
AISEARCHD=${AISEARCHD_BIN:-$BUILD/aisearchd}
EMULATOR=${EMULATOR_BIN:-$BUILD/aisearch-emulator}
WORK=$(mktemp -d)
EMULATOR_PID=""
bench_cleanup() {
  [[ -n "$EMULATOR_PID" ]] && kill "$EMULATOR_PID" 2>/dev/null && wait "$EMULATOR_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap bench_cleanup EXIT
bench_start_emulator() {
  "$EMULATOR" --port 0 --token bench-token --account-id bench "$@" >"$WORK/emulator.out" 2>/dev/null &
  EMULATOR_PID=$!
  for _ in $(seq 100); do grep -q '^listening on ' "$WORK/emulator.out" && break; sleep 0.1; done
  BASE=$(sed -n 's/^listening on //p' "$WORK/emulator.out" | head -n1)
  [[ -n "$BASE" ]] || { echo "emulator did not start" >&2; exit 1; }
  export CLOUDFLARE_API_TOKEN=bench-token
}
control() {
  local args=(-fsS -X "$1" -H 'Content-Type: application/json')
  [[ $# -ge 3 ]] && args+=(--data-binary "$3")
  curl "${args[@]}" "$BASE/__emulator/$2"
}
now_ms() { date +%s%3N; }

# The start every emulator-backed script test shares. Source it right after `set -euo pipefail`:
#   source "$(dirname "$0")/lib/emulator.sh"
#   start_emulator --token T --account-id A [more aisearch-emulator flags]
# It gives:
#   $work            a temporary directory, removed at exit
#   fail MESSAGE     print "FAIL: MESSAGE" and exit 1
#   $base            the emulator's base URL (127.0.0.1, an ephemeral port)
#   control METHOD PATH [JSON]   a call of the emulator's control API (/__emulator/PATH)
#   kill_at_exit PID a process the exit trap kills (-9) before it stops the emulator
# and an EXIT trap that stops the emulator and removes $work.
work=$(mktemp -d)
emulator_pid=""
at_exit_pids=()
cleanup() {
  for pid in "${at_exit_pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  [[ -n "$emulator_pid" ]] && kill "$emulator_pid" 2>/dev/null
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
kill_at_exit() { at_exit_pids+=("$1"); }

start_emulator() {
  "$EMULATOR_BIN" --port 0 "$@" >"$work/emulator.out" 2>/dev/null &
  emulator_pid=$!
  for _ in $(seq 600); do grep -q '^listening on ' "$work/emulator.out" && break; sleep 0.1; done  # 60 s, for a busy machine
  base=$(sed -n 's/^listening on //p' "$work/emulator.out")
  [[ -n "$base" ]] || fail "emulator did not start"
}

control() {
  local args=(-fsS -X "$1" -H 'Content-Type: application/json')
  [[ $# -ge 3 ]] && args+=(--data-binary "$3")
  curl "${args[@]}" "$base/__emulator/$2"
}

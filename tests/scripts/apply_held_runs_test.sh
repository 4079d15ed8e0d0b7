#!/usr/bin/env bash
# A one-shot apply takes up what earlier runs left in state, as the daemon does at start
# (issue 17, item 8; second breaker round): one held on_change run makes exactly one job, also
# when the apply that sent its trigger was killed before the answer came; a targeted apply
# leaves other instances' held runs alone; a manual `sync` covers a held run.
set -euo pipefail
source "$(dirname "$0")/lib/emulator.sh"
start_emulator --token held-token --account-id acct --job-duration 300ms --job-cooldown 0s
export CLOUDFLARE_API_TOKEN=held-token NO_COLOR=1
jobs_url() { echo "$base/client/v4/accounts/acct/ai-search/namespaces/default/instances/$1/jobs"; }
job_count() {
  curl -fsS -H "Authorization: Bearer $CLOUDFLARE_API_TOKEN" "$(jobs_url "$1")" |
    python3 -c 'import json, sys; print(len(json.load(sys.stdin)["result"]))'
}
jobs_ended() {  # jobs_ended ID: waits (at most 60 s) until no job of default/ID runs
  for _ in $(seq 600); do
    curl -fsS -H "Authorization: Bearer $CLOUDFLARE_API_TOKEN" "$(jobs_url "$1")" | python3 -c '
import json, sys
sys.exit(0 if all(j.get("ended_at") for j in json.load(sys.stdin)["result"]) else 1)' && return 0
    sleep 0.1
  done
  fail "a job of default/$1 still runs after 60 s"
}
held_of() {
  "$AISEARCHD_BIN" --state-dir "$work/state" state show | python3 -c '
import json, sys
print(json.load(sys.stdin)["sync"].get(sys.argv[1], {}).get("held") or "-")' "default/$1"
}
run() {
  "$AISEARCHD_BIN" -m "$work/m.yaml" --api-url "$base/client/v4" --account-id acct \
    --state-dir "$work/state" "$@"
}
manifest() {  # manifest CHUNK_S CHUNK_O
  cat >"$work/m.yaml" <<YAML
apiVersion: aisearchd/v1
namespaces:
  default:
    instances:
      s: { type: r2, source: s-bucket, chunk_size: $1, sync: { every: 24h, on_change: true } }
      o: { type: r2, source: o-bucket, chunk_size: $2, sync: { every: 24h, on_change: true } }
YAML
}

# Both created (one on_change job each); then, while long jobs run, both change: held.
manifest 512 512
run apply >/dev/null 2>&1 || fail "first apply"
jobs_ended s
jobs_ended o
control PUT config '{"job_duration_ms": 600000}' >/dev/null
for id in s o; do
  curl -fsS -X POST -H "Authorization: Bearer $CLOUDFLARE_API_TOKEN" -H 'Content-Type: application/json' \
    --data-binary '{}' "$(jobs_url "$id")" >/dev/null || fail "a job for $id"
done
manifest 1024 1024
run apply >"$work/held.txt" 2>/dev/null || fail "apply while jobs run"
grep -q "^sync default/s (on_change): held" "$work/held.txt" && grep -q "^sync default/o (on_change): held" "$work/held.txt" ||
  fail "not held: $(cat "$work/held.txt")"
# The running jobs end (cancelled).
for id in s o; do
  for job in $(curl -fsS -H "Authorization: Bearer $CLOUDFLARE_API_TOKEN" "$(jobs_url "$id")" | python3 -c '
import json, sys
print(" ".join(j["id"] for j in json.load(sys.stdin)["result"] if not j.get("ended_at")))'); do
    curl -fsS -X PATCH -H "Authorization: Bearer $CLOUDFLARE_API_TOKEN" -H 'Content-Type: application/json' \
      --data-binary '{"action": "cancel"}' "$(jobs_url "$id")/$job" >/dev/null
  done
  jobs_ended "$id"
done
control PUT config '{"job_duration_ms": 300}' >/dev/null

# A targeted apply of o leaves s's held run alone.
before_s=$(job_count s)
manifest 1024 2048
run apply --target default/o >"$work/targeted.txt" 2>/dev/null || fail "targeted apply: $(cat "$work/targeted.txt")"
grep -q "^sync default/s" "$work/targeted.txt" && fail "a targeted apply reported s: $(cat "$work/targeted.txt")"
[[ $(job_count s) -eq $before_s ]] || fail "a targeted apply of o started a job of s"
[[ $(held_of s) == on_change ]] || fail "s is no longer held after a targeted apply of o"
jobs_ended o

# s's held run: its trigger's answer never comes and the apply is killed (kill -9) after the
# POST; the next apply finds the job that trigger made instead of sending another.
before_s=$(job_count s)
control PUT config '{"faults": ["timeout"], "fault_rate": 1.0, "fault_path": "/instances/s/jobs", "fault_methods": ["POST"]}' >/dev/null
"$AISEARCHD_BIN" -m "$work/m.yaml" --api-url "$base/client/v4" --account-id acct \
  --state-dir "$work/state" apply >/dev/null 2>&1 &
apply_pid=$!  # the process itself, so kill -9 hits it
kill_at_exit "$apply_pid"
for _ in $(seq 300); do [[ $(job_count s) -gt $before_s ]] && break; sleep 0.1; done
[[ $(job_count s) -eq $((before_s + 1)) ]] || fail "the held run's trigger made no job"
kill -9 "$apply_pid"
wait "$apply_pid" 2>/dev/null || true
control PUT config '{"fault_rate": 0}' >/dev/null
jobs_ended s
run apply >"$work/settle.txt" 2>"$work/settle.err" || fail "apply after the kill: $(cat "$work/settle.txt" "$work/settle.err")"
jobs_ended s
run apply >/dev/null 2>&1 || fail "one more apply"
[[ $(job_count s) -eq $((before_s + 1)) ]] ||
  fail "one held run made $(($(job_count s) - before_s)) jobs: $(cat "$work/settle.txt")"
[[ $(held_of s) == - ]] || fail "s is still held: $(held_of s)"

# A manual sync covers a held run: no extra job at the next apply.
control PUT config '{"job_duration_ms": 600000}' >/dev/null
curl -fsS -X POST -H "Authorization: Bearer $CLOUDFLARE_API_TOKEN" -H 'Content-Type: application/json' \
  --data-binary '{}' "$(jobs_url o)" >/dev/null
manifest 1024 4096
run apply >"$work/held-o.txt" 2>/dev/null || fail "apply holding o"
grep -q "^sync default/o (on_change): held" "$work/held-o.txt" || fail "o not held: $(cat "$work/held-o.txt")"
for job in $(curl -fsS -H "Authorization: Bearer $CLOUDFLARE_API_TOKEN" "$(jobs_url o)" | python3 -c '
import json, sys
print(" ".join(j["id"] for j in json.load(sys.stdin)["result"] if not j.get("ended_at")))'); do
  curl -fsS -X PATCH -H "Authorization: Bearer $CLOUDFLARE_API_TOKEN" -H 'Content-Type: application/json' \
    --data-binary '{"action": "cancel"}' "$(jobs_url o)/$job" >/dev/null
done
jobs_ended o
control PUT config '{"job_duration_ms": 300}' >/dev/null
run sync default/o >/dev/null 2>&1 || fail "manual sync of o"
[[ $(held_of o) == - ]] || fail "a manual sync left o's run held"
before_o=$(job_count o)
run apply >/dev/null 2>&1 || fail "apply after the manual sync"
[[ $(job_count o) -eq $before_o ]] || fail "the next apply started a job the manual sync covered"
# plan --out never writes into a manifest directory (its *.yaml would become manifest).
mkdir -p "$work/mdir"
cp "$work/m.yaml" "$work/mdir/"
set +e
"$AISEARCHD_BIN" -m "$work/mdir" --api-url "$base/client/v4" --account-id acct --state-dir "$work/state" \
  plan --out "$work/mdir/plan.yaml" >/dev/null 2>"$work/mdir.err"
code=$?
set -e
[[ $code -eq 1 ]] && grep -q "is inside the manifest directory" "$work/mdir.err" || fail "plan --out into the manifest directory: $code $(cat "$work/mdir.err")"
[[ ! -e "$work/mdir/plan.yaml" ]] || fail "plan --out wrote into the manifest directory"
echo PASS

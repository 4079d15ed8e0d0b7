#!/usr/bin/env bash
# The CLI against the emulator as a user runs it: `plan` sends no write and writes no local file;
# `sync` exits 0 on a succeeded job and 1 on a failed one; `status -o json` shows the outcome.
set -euo pipefail
source "$(dirname "$0")/lib/emulator.sh"
start_emulator --token flow-token --account-id flow --job-duration 300ms --job-cooldown 0s
export CLOUDFLARE_API_TOKEN=flow-token NO_COLOR=1
run() {
  "$AISEARCHD_BIN" -m "$SOURCE_DIR/examples/demo/aisearch.yaml" --api-url "$base/client/v4" \
    --account-id flow --state-dir "$work/state" "$@"
}

# plan: reads only, and leaves no state behind.
set +e
run plan --detailed-exitcode >"$work/plan.txt"
code=$?
set -e
[[ $code -eq 2 ]] || fail "plan --detailed-exitcode exited $code, expected 2 (changes present)"
grep -q "Plan: 5 to create" "$work/plan.txt" || fail "unexpected plan: $(cat "$work/plan.txt")"
control GET requests | python3 -c '
import json, sys
writes = [r for r in json.load(sys.stdin) if r["method"] != "GET"]
sys.exit(f"plan sent {len(writes)} write request(s): {writes}" if writes else 0)' || fail "plan wrote remotely"
[[ ! -e "$work/state" ]] || fail "plan created $work/state"

# Without state, ownership is unknown (issue 17, item 1): the plan says so first, naming the state
# location, and the JSON carries "ownership": "unknown"; --require-state fails instead (exit 1)
# before anything is planned or written, for plan and apply alike.
head -1 "$work/plan.txt" | grep -q "^Ownership unknown: the state at file $work/state/state.json records no instance" ||
  fail "a plan without state does not say ownership is unknown: $(head -3 "$work/plan.txt")"
run plan -o json | python3 -c 'import json, sys; o = json.load(sys.stdin)["ownership"]; sys.exit(o != "unknown" and f"ownership {o}")' ||
  fail "the JSON plan without state does not say ownership unknown"
requests_before=$(control GET requests | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
for command in plan apply; do
  set +e
  run "$command" --require-state >"$work/require.txt" 2>&1
  code=$?
  set -e
  [[ $code -eq 1 ]] || fail "$command --require-state without state exited $code: $(cat "$work/require.txt")"
  grep -q -- "--require-state: the state at file $work/state/state.json records no instance" "$work/require.txt" ||
    fail "$command --require-state output: $(cat "$work/require.txt")"
done
writes=$(control GET requests | python3 -c '
import json, sys
print(sum(r["method"] != "GET" for r in json.load(sys.stdin)[int(sys.argv[1]):]))' "$requests_before")
[[ "$writes" == 0 ]] || fail "--require-state without state sent $writes write(s)"
[[ ! -e "$work/state/state.json" ]] || fail "--require-state without state wrote state"

# A token the API refuses is said once, not once per namespace, and never printed (issue 18).
for command in plan apply; do
  set +e
  CLOUDFLARE_API_TOKEN=wrong-token-8c1f run "$command" >"$work/rejected.out" 2>"$work/rejected.err"
  code=$?
  set -e
  [[ $code -eq 1 ]] || fail "$command with a rejected token exited $code"
  [[ $(grep -c "the API token was rejected (HTTP 401)" "$work/rejected.err") -eq 1 ]] ||
    fail "$command with a rejected token: $(cat "$work/rejected.err")"
  grep -q "Skipped namespaces" "$work/rejected.out" && fail "$command listed each namespace: $(cat "$work/rejected.out")"
  grep -q "wrong-token-8c1f" "$work/rejected.out" "$work/rejected.err" && fail "$command printed the token"
done

run apply >/dev/null || fail "apply failed"
run plan --detailed-exitcode --require-state >"$work/plan-after.txt" || fail "plan after apply is not clean"
grep -q "Ownership unknown" "$work/plan-after.txt" && fail "a plan with state says ownership is unknown"
run plan -o json | python3 -c 'import json, sys; o = json.load(sys.stdin)["ownership"]; sys.exit(o != "known" and f"ownership {o}")' ||
  fail "the JSON plan with state does not say ownership known"

# Colour only on a terminal, and never with --no-color (as with NO_COLOR): the plan run under a
# pseudo-terminal (script(1)) is painted, with --no-color it is not.
cmd="$AISEARCHD_BIN -m $SOURCE_DIR/examples/demo/aisearch.yaml --api-url $base/client/v4 --account-id flow --state-dir $work/state plan"
env -u NO_COLOR script -qec "$cmd" /dev/null >"$work/plan-tty.txt" || fail "plan under a terminal failed"
grep -q $'\e\[' "$work/plan-tty.txt" || fail "a plan on a terminal is not coloured: $(cat -v "$work/plan-tty.txt")"
env -u NO_COLOR script -qec "$cmd --no-color" /dev/null >"$work/plan-nocolor.txt" || fail "plan --no-color failed"
grep -q "No changes" "$work/plan-nocolor.txt" || fail "plan --no-color output: $(cat -v "$work/plan-nocolor.txt")"
grep -q $'\e\[' "$work/plan-nocolor.txt" && fail "plan --no-color is coloured: $(cat -v "$work/plan-nocolor.txt")"

# sync: succeeded -> exit 0, failed -> exit 1, and status shows the outcome.
run sync default/docs >"$work/sync-ok.txt" || fail "sync of a succeeding job exited non-zero: $(cat "$work/sync-ok.txt")"
grep -q "default/docs: succeeded" "$work/sync-ok.txt" || fail "sync output: $(cat "$work/sync-ok.txt")"
control PUT config '{"job_outcomes": {"default/notes": "fail"}}' >/dev/null
set +e
run sync default/notes >"$work/sync-fail.txt"
code=$?
set -e
[[ $code -eq 1 ]] || fail "sync of a failing job exited $code, expected 1"
grep -q "default/notes: failed" "$work/sync-fail.txt" || fail "sync output: $(cat "$work/sync-fail.txt")"
run status -o json | python3 -c '
import json, sys
rows = {r["address"]: r for r in json.load(sys.stdin)["instances"]}
assert rows["default/docs"]["last_outcome"] == "succeeded", rows["default/docs"]
assert rows["default/notes"]["last_outcome"] == "failed", rows["default/notes"]
assert rows["default/docs"]["last_success"], rows["default/docs"]
' || fail "status -o json does not show the outcomes"
# The status table (issue 18, item 4): SYNC is the last outcome and its age, HEALTH fresh, stale
# or never; -o markdown is a table, not the text silently.
run status >"$work/status.txt"
head -1 "$work/status.txt" | grep -Eq "^INSTANCE +OWNED +SYNC +HEALTH +DRIFT +NEXT DUE +UNSTABLE" || fail "status header: $(head -1 "$work/status.txt")"
grep -Eq "^default/docs +yes +succeeded, [0-9.]+s ago +fresh" "$work/status.txt" || fail "status docs row: $(cat "$work/status.txt")"
grep -Eq "^default/notes +yes +failed, " "$work/status.txt" || fail "status notes row: $(cat "$work/status.txt")"
run status -o markdown >"$work/status.md"
head -2 "$work/status.md" | tail -1 | grep -q '^|---|' || fail "status -o markdown: $(head -3 "$work/status.md")"
grep -q '^| default/docs | yes | succeeded, ' "$work/status.md" || fail "status -o markdown rows: $(cat "$work/status.md")"
run status -o json | python3 -c '
import json, sys
rows = {r["address"]: r for r in json.load(sys.stdin)["instances"]}
assert rows["default/docs"]["health"] == "fresh", rows["default/docs"]
assert rows["default/notes"]["health"] in ("never", "stale", "fresh", None), rows["default/notes"]
assert rows["default/docs"]["last_outcome_at"], rows["default/docs"]
' || fail "status -o json health"

# sync.suspend stops a manual sync too: exit 1, a message, no job started.
sed 's/sync: { every: 2m, on_change: true, max_staleness: 10m }/sync: { every: 2m, suspend: true }/' \
  "$SOURCE_DIR/examples/demo/aisearch.yaml" >"$work/suspended.yaml"
grep -q "suspend: true" "$work/suspended.yaml" || fail "could not write a suspended manifest"
jobs_before=$(control GET requests | python3 -c 'import json,sys; print(sum(r["method"]=="POST" and r["path"].endswith("/jobs") for r in json.load(sys.stdin)))')
set +e
"$AISEARCHD_BIN" -m "$work/suspended.yaml" --api-url "$base/client/v4" --account-id flow \
  --state-dir "$work/state" sync default/docs >"$work/sync-suspended.txt" 2>&1
code=$?
set -e
[[ $code -eq 1 ]] || fail "sync of a suspended instance exited $code: $(cat "$work/sync-suspended.txt")"
grep -q "sync is suspended" "$work/sync-suspended.txt" || fail "sync output: $(cat "$work/sync-suspended.txt")"
jobs_after=$(control GET requests | python3 -c 'import json,sys; print(sum(r["method"]=="POST" and r["path"].endswith("/jobs") for r in json.load(sys.stdin)))')
[[ "$jobs_before" == "$jobs_after" ]] || fail "sync of a suspended instance started a job"
# So does a suspended instance (aisearchd leaves it alone), though its sync: is not suspended.
sed 's/        sync: { every: 2m, on_change: true, max_staleness: 10m }/        suspend: true\n&/' \
  "$SOURCE_DIR/examples/demo/aisearch.yaml" >"$work/instance-suspended.yaml"
grep -q "^        suspend: true" "$work/instance-suspended.yaml" || fail "could not write an instance-suspended manifest"
set +e
"$AISEARCHD_BIN" -m "$work/instance-suspended.yaml" --api-url "$base/client/v4" --account-id flow \
  --state-dir "$work/state" sync default/docs >"$work/sync-instance-suspended.txt" 2>&1
code=$?
set -e
[[ $code -eq 1 ]] || fail "sync of a suspended instance exited $code: $(cat "$work/sync-instance-suspended.txt")"
grep -q "the instance is suspended" "$work/sync-instance-suspended.txt" || fail "sync output: $(cat "$work/sync-instance-suspended.txt")"
jobs_after=$(control GET requests | python3 -c 'import json,sys; print(sum(r["method"]=="POST" and r["path"].endswith("/jobs") for r in json.load(sys.stdin)))')
[[ "$jobs_before" == "$jobs_after" ]] || fail "sync of an instance with suspend: true started a job"

# Under forbid, `sync` during a running job (here one started by hand; the daemon's alike) waits
# for it to end, then starts one: the runs coalesce, nothing is skipped or superseded. The
# emulator's clock stands still until the test moves it, so the job runs as long as the test says.
control PUT config '{"clock": "manual"}' >/dev/null
jobs_url="$base/client/v4/accounts/flow/ai-search/namespaces/default/instances/docs/jobs"
first_job=$(curl -fsS -X POST -H "Authorization: Bearer flow-token" -H 'Content-Type: application/json' \
  --data-binary '{}' "$jobs_url" | python3 -c 'import json,sys; print(json.load(sys.stdin)["result"]["id"])')
posts() { control GET requests | python3 -c 'import json,sys; print(sum(r["method"]=="POST" and r["path"].endswith("/docs/jobs") for r in json.load(sys.stdin)))'; }
posts_before=$(posts)
run sync default/docs >"$work/sync-coalesced.txt" 2>"$work/sync-coalesced.err" &
sync_pid=$!
for _ in $(seq 600); do grep -q "is running (concurrency: forbid): waiting" "$work/sync-coalesced.err" && break; sleep 0.1; done
grep -q "job $first_job is running (concurrency: forbid): waiting" "$work/sync-coalesced.err" ||
  fail "sync did not wait for the running job: $(cat "$work/sync-coalesced.txt" "$work/sync-coalesced.err")"
[[ "$(posts)" == "$posts_before" ]] || fail "sync started a job while one ran"
control POST clock/advance '{"ms": 1000}' >/dev/null  # the running job ends
for _ in $(seq 600); do [[ "$(posts)" != "$posts_before" ]] && break; sleep 0.1; done  # the CLI's next poll sees it
[[ "$(posts)" == "$((posts_before + 1))" ]] || fail "sync did not start its job after the running one ended"
control POST clock/advance '{"ms": 1000}' >/dev/null  # its own job ends
set +e
wait "$sync_pid"
code=$?
set -e
[[ $code -eq 0 ]] || fail "coalesced sync exited $code: $(cat "$work/sync-coalesced.txt" "$work/sync-coalesced.err")"
grep -q "default/docs: succeeded" "$work/sync-coalesced.txt" || fail "sync output: $(cat "$work/sync-coalesced.txt")"
# While it waits, the command names the job it started (a job may run for hours).
grep -Eq "default/docs: job [0-9a-f-]+ started; waiting for it to end" "$work/sync-coalesced.err" ||
  fail "sync did not say which job it follows: $(cat "$work/sync-coalesced.err")"
control GET state | python3 -c '
import json, sys
first = sys.argv[1]
docs = [i for i in json.load(sys.stdin)["instances"] if i["namespace"] == "default" and i["id"] == "docs"][0]
ended = {j["view"]["id"]: j["view"].get("end_reason") for j in docs["jobs"]}
assert ended[first] == "completed", ended
' "$first_job" || fail "the running job did not end by itself"
control PUT config '{"clock": "wall"}' >/dev/null

# A manifest path that comes from the config file says so when it is missing.
printf 'manifest: %s/no-such-dir\n' "$work" >"$work/config.yaml"
set +e
"$AISEARCHD_BIN" -c "$work/config.yaml" validate >"$work/validate.txt" 2>&1
code=$?
set -e
[[ $code -ne 0 ]] || fail "validate of a missing manifest exited 0"
grep -q "no-such-dir: no such file or directory (the manifest path is \`manifest:\` in $work/config.yaml)" \
  "$work/validate.txt" || fail "validate output: $(cat "$work/validate.txt")"
# Adoption is shown (issue 17, item 2): with no record of them (a fresh state directory), the
# existing declared instances plan as `= ... will be adopted` and count, and the plan is not "No
# changes." (exit 2 with --detailed-exitcode): from then on prune can delete them.
set +e
"$AISEARCHD_BIN" -m "$SOURCE_DIR/examples/demo/aisearch.yaml" --api-url "$base/client/v4" \
  --account-id flow --state-dir "$work/fresh-state" plan --detailed-exitcode >"$work/plan-adopt.txt"
code=$?
set -e
[[ $code -eq 2 ]] || fail "plan of instances to adopt exited $code: $(cat "$work/plan-adopt.txt")"
grep -q "^  = default/docs will be adopted" "$work/plan-adopt.txt" || fail "plan hides the adoption: $(cat "$work/plan-adopt.txt")"
grep -q "^Plan: [1-9][0-9]* to adopt, 0 to create, 0 to update" "$work/plan-adopt.txt" || fail "summary: $(cat "$work/plan-adopt.txt")"
# `adopt` of an instance the manifest does not declare, in a namespace with prune: true, would
# be the next apply's delete: refused without --force, adopted with it (and said so).
curl -fsS -X POST -H "Authorization: Bearer flow-token" -H 'Content-Type: application/json' \
  --data-binary '{"id": "hand-made", "type": "r2", "source": "hand-bucket"}' \
  "$base/client/v4/accounts/flow/ai-search/namespaces/default/instances" >/dev/null || fail "could not make hand-made"
set +e
run adopt default/hand-made >"$work/adopt.txt" 2>&1
code=$?
set -e
[[ $code -eq 1 ]] || fail "adopt of an undeclared instance in a pruning namespace exited $code: $(cat "$work/adopt.txt")"
grep -q "the next apply would delete it" "$work/adopt.txt" || fail "adopt output: $(cat "$work/adopt.txt")"
python3 -c 'import json, sys; sys.exit("default/hand-made" in json.load(open(sys.argv[1]))["owned"])' \
  "$work/state/state.json" || fail "a refused adopt recorded the instance as owned"
# A manifest that does not load leaves the prune check undone: refused without --force too.
printf 'apiVersion: aisearchd/v1\nbogus_key: 1\n' >"$work/bad-manifest.yaml"
set +e
"$AISEARCHD_BIN" -m "$work/bad-manifest.yaml" --api-url "$base/client/v4" --account-id flow \
  --state-dir "$work/state" adopt default/hand-made >"$work/adopt-bad.txt" 2>&1
code=$?
set -e
[[ $code -eq 1 ]] || fail "adopt with a manifest that does not load exited $code: $(cat "$work/adopt-bad.txt")"
grep -q "does not load, so whether the next apply would delete default/hand-made" "$work/adopt-bad.txt" ||
  fail "adopt output: $(cat "$work/adopt-bad.txt")"
run adopt --force default/hand-made >"$work/adopt-force.txt" 2>&1 || fail "adopt --force failed: $(cat "$work/adopt-force.txt")"
grep -q "warning: default/hand-made is not in the manifest" "$work/adopt-force.txt" || fail "adopt --force output: $(cat "$work/adopt-force.txt")"
grep -q "adopted default/hand-made" "$work/adopt-force.txt" || fail "adopt --force output: $(cat "$work/adopt-force.txt")"
python3 -c 'import json, sys; sys.exit("default/hand-made" not in json.load(open(sys.argv[1]))["owned"])' \
  "$work/state/state.json" || fail "adopt --force did not record the instance as owned"
# adopt and forget -o json: one JSON object saying what was done.
run adopt --force default/hand-made -o json | python3 -c '
import json, sys
o = json.load(sys.stdin)
assert o == {"address": "default/hand-made", "result": "already_owned", "message": "default/hand-made is already owned"}, o' ||
  fail "adopt -o json of an owned instance"
run forget default/hand-made -o json | python3 -c '
import json, sys
o = json.load(sys.stdin)
assert o["address"] == "default/hand-made" and o["result"] == "forgot", o' || fail "forget -o json"
echo "cli flow: ok"

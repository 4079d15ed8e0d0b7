#!/usr/bin/env bash
# The GitOps workflow's saved plans, targets and on_change (issue 17, items 4, 5 and 8), as a
# user runs them against the emulator:
# - `plan -out FILE` (Terraform's spelling of --out) saves the plan; `apply FILE` applies exactly
#   it; a saved plan holds no secret (masked values, never the token);
# - `apply FILE` of a stale plan (an instance modified remotely, or the manifest changed) refuses
#   with exit 1, names what changed and sends no write;
# - `--target NS/ID` plans and applies only that instance: a targeted apply never prunes the
#   others; status and sync take --target too;
# - a one-shot apply triggers the on_change runs as the daemon does and reports them: started,
#   or held while a job of the instance runs (concurrency: forbid), recorded in state.
set -euo pipefail
source "$(dirname "$0")/lib/emulator.sh"
start_emulator --token saved-token-5e2a --account-id acct --job-duration 300ms --job-cooldown 0s
export CLOUDFLARE_API_TOKEN=saved-token-5e2a NO_COLOR=1
api_put() {  # api_put NS/ID JSON: someone changes an instance outside aisearchd
  curl -fsS -X PUT -H "Authorization: Bearer $CLOUDFLARE_API_TOKEN" -H 'Content-Type: application/json' \
    --data-binary "$2" "$base/client/v4/accounts/acct/ai-search/namespaces/${1%%/*}/instances/${1#*/}" >/dev/null
}
writes_since() {  # the number of write requests the emulator saw after request number $1
  control GET requests | python3 -c '
import json, sys
print(sum(r["method"] != "GET" for r in json.load(sys.stdin)[int(sys.argv[1]):]))' "$1"
}
requests() { control GET requests | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }
run() {
  "$AISEARCHD_BIN" -m "$work/aisearch.yaml" --api-url "$base/client/v4" --account-id acct \
    --state-dir "$work/state" "$@"
}
# The demo manifest with a sensitive header value on the crawler.
python3 - "$SOURCE_DIR/examples/demo/aisearch.yaml" "$work/aisearch.yaml" <<'PY'
import sys
text = open(sys.argv[1]).read()
text = text.replace("""        source: https://blog.example.com
""", """        source: https://blog.example.com
        source_params:
          web_crawler:
            parse_options:
              include_headers: { X-Api-Key: hush-4711 }
""")
open(sys.argv[2], "w").write(text)
PY
set_field() {  # set_field ID KEY VALUE: edit the manifest like a pull request would
  python3 - "$work/aisearch.yaml" "$@" <<'PY'
import re, sys
path, ident, key, value = sys.argv[1:]
lines = open(path).read().split("\n")
start = lines.index(f"      {ident}:")
for i in range(start + 1, len(lines)):
    if re.match(rf"^        {key}:", lines[i]):
        lines[i] = f"        {key}: {value}"
        break
    if not lines[i].startswith("        "):
        lines.insert(i, f"        {key}: {value}")
        break
open(path, "w").write("\n".join(lines))
PY
}

# --- A saved plan, applied exactly; the first apply triggers docs' on_change run. ---
run plan -out "$work/first.plan" --detailed-exitcode >"$work/plan.txt" 2>"$work/plan.err" && fail "plan with changes exited 0"
grep -q "Plan: 5 to create" "$work/plan.txt" || fail "first plan: $(cat "$work/plan.txt")"
grep -q "Saved the plan to $work/first.plan" "$work/plan.err" || fail "plan -out said: $(cat "$work/plan.err")"
grep -q "hush-4711" "$work/first.plan" && fail "the saved plan holds the sensitive header value"
grep -q "saved-token-5e2a" "$work/first.plan" && fail "the saved plan holds the token"
python3 - "$work/first.plan" <<'PY' || fail "the saved plan's shape"
import json, sys
p = json.load(open(sys.argv[1]))
assert p["kind"] == "aisearchd-saved-plan" and p["version"] == 1, p.keys()
assert p["plan"]["summary"]["create"] == 5, p["plan"]["summary"]
assert set(p["touched"]) == {"default/docs", "default/blog", "default/notes", "support/faq"}, p["touched"]
PY
run apply "$work/first.plan" >"$work/apply.txt" 2>/dev/null || fail "apply of the saved plan: $(cat "$work/apply.txt")"
grep -q "Apply complete: 5 done, 0 failed" "$work/apply.txt" || fail "apply: $(cat "$work/apply.txt")"
grep -Eq "^sync default/docs \(on_change\): started, job [0-9a-f]+" "$work/apply.txt" ||
  fail "the one-shot apply did not report docs' on_change run: $(cat "$work/apply.txt")"
grep -q "sync default/notes" "$work/apply.txt" && fail "notes has no sync: no on_change run"
run plan --detailed-exitcode >/dev/null || fail "plan after applying the saved plan is not clean"

# --- A stale saved plan: an instance modified remotely after the plan. ---
set_field blog max_num_results 12
run plan --out "$work/stale.plan" >/dev/null 2>&1
api_put default/blog '{"max_num_results": 3}'
before=$(requests)
set +e
run apply "$work/stale.plan" >"$work/stale.out" 2>"$work/stale.err"
code=$?
set -e
[[ $code -eq 1 ]] || fail "apply of a stale plan exited $code"
grep -q "default/blog: modified remotely since the plan was saved" "$work/stale.err" ||
  fail "the stale plan's refusal: $(cat "$work/stale.err")"
[[ $(writes_since "$before") -eq 0 ]] || fail "apply of a stale plan wrote"
# The manifest changed after the plan.
run plan --out "$work/fresh.plan" >/dev/null 2>&1
set_field blog max_num_results 13
before=$(requests)
set +e
run apply "$work/fresh.plan" >/dev/null 2>"$work/manifest.err"
code=$?
set -e
[[ $code -eq 1 ]] || fail "apply of a plan made from another manifest exited $code"
grep -q "the manifest changed since the plan was saved" "$work/manifest.err" || fail "$(cat "$work/manifest.err")"
[[ $(writes_since "$before") -eq 0 ]] || fail "apply of a plan made from another manifest wrote"
# Not a plan at all.
echo '{"changes": []}' >"$work/bogus.plan"
set +e
run apply "$work/bogus.plan" >/dev/null 2>"$work/bogus.err"
code=$?
set -e
[[ $code -eq 1 ]] && grep -q "not an aisearchd saved plan" "$work/bogus.err" || fail "a bogus plan file: $code $(cat "$work/bogus.err")"
# --out never overwrites the state or the manifest (breaker finding F2), and a saved plan put
# where the state goes is not read as an empty state.
expect_refused() {  # expect_refused MESSAGE ARGS...
  local message=$1 code
  shift
  set +e
  run "$@" >/dev/null 2>"$work/refused.err"
  code=$?
  set -e
  [[ $code -eq 1 ]] && grep -qF -- "$message" "$work/refused.err" || fail "$*: exit $code: $(cat "$work/refused.err")"
}
cp "$work/state/state.json" "$work/state-before.json"
cp "$work/aisearch.yaml" "$work/manifest-before.yaml"
expect_refused "is inside the state directory" plan --out "$work/state/state.json"
expect_refused "exists and is not a saved plan: not overwritten" plan --out "$work/aisearch.yaml"
cmp -s "$work/state/state.json" "$work/state-before.json" || fail "plan --out changed the state"
cmp -s "$work/aisearch.yaml" "$work/manifest-before.yaml" || fail "plan --out changed the manifest"
mkdir -p "$work/plan-as-state"
cp "$work/first.plan" "$work/plan-as-state/state.json"
set +e
"$AISEARCHD_BIN" --state-dir "$work/plan-as-state" state show >/dev/null 2>"$work/plan-state.err"
code=$?
set -e
[[ $code -eq 1 ]] && grep -q "a saved plan?" "$work/plan-state.err" || fail "a saved plan read as state: $code $(cat "$work/plan-state.err")"
# apply FILE reads nothing that is not a plan-sized file (breaker finding F3).
expect_refused "not a file" apply /dev/zero
truncate -s 65M "$work/huge.plan"
expect_refused "larger than 64 MiB" apply "$work/huge.plan"

# --- Targets: notes leaves the manifest (prune: true), blog changes; only blog is applied. ---
python3 - "$work/aisearch.yaml" <<'PY'
import sys
path = sys.argv[1]
text = open(path).read()
start = text.index("      notes:\n")
end = text.index("  support:\n")
open(path, "w").write(text[:start] + text[end:])
PY
run plan -o json | python3 -c '
import json, sys
actions = {(c["address"], c["action"]) for c in json.load(sys.stdin)["changes"]}
assert ("default/notes", "delete") in actions and ("default/blog", "update") in actions, actions' ||
  fail "the whole plan should delete notes and update blog"
run plan --target default/blog -o json | python3 -c '
import json, sys
p = json.load(sys.stdin)
actions = [(c["address"], c["action"]) for c in p["changes"]]
assert actions == [("default/blog", "update")], actions
assert any("--target in effect" in w for w in p["warnings"]), p["warnings"]' || fail "plan --target default/blog"
run apply --target default/blog >"$work/targeted.txt" 2>/dev/null || fail "targeted apply: $(cat "$work/targeted.txt")"
grep -q "Apply complete: 1 done" "$work/targeted.txt" || fail "targeted apply: $(cat "$work/targeted.txt")"
control GET state | python3 -c '
import json, sys
ids = json.dumps(json.load(sys.stdin))
assert "notes" in ids, "notes was deleted by an apply targeting blog"' || fail "a targeted apply pruned notes"
# A saved targeted plan keeps its target.
run plan --target default/notes --out "$work/notes.plan" >/dev/null 2>&1
python3 -c 'import json,sys; assert json.load(open(sys.argv[1]))["targets"] == ["default/notes"]' "$work/notes.plan" ||
  fail "the saved plan does not carry its target"
set +e
run apply --target default/docs "$work/notes.plan" >/dev/null 2>"$work/both.err"
code=$?
set -e
[[ $code -eq 1 ]] && grep -q "carries its own targets" "$work/both.err" || fail "apply FILE --target: $code"
set +e
run plan --target default/nothing-here >/dev/null 2>"$work/typo.err"
code=$?
set -e
[[ $code -eq 1 ]] && grep -q "default/nothing-here matches no instance" "$work/typo.err" || fail "a target that names nothing: $code"
run status --target default/docs -o json | python3 -c '
import json, sys
addresses = [i["address"] for i in json.load(sys.stdin)["instances"]]
assert addresses == ["default/docs"], addresses' || fail "status --target"
run sync --target default/docs --target support/faq --target default/docs >"$work/sync.txt" 2>"$work/sync.err" || fail "sync --target: $(cat "$work/sync.txt" "$work/sync.err")"
grep -q "^default/docs: succeeded" "$work/sync.txt" && grep -q "^support/faq: succeeded" "$work/sync.txt" ||
  fail "sync --target twice: $(cat "$work/sync.txt")"
[[ $(grep -c "^default/docs: " "$work/sync.txt") -eq 1 ]] || fail "a target given twice was synced twice: $(cat "$work/sync.txt")"
# An instance neither declared nor owned is not aisearchd's to sync (breaker finding F7).
curl -fsS -X POST -H "Authorization: Bearer $CLOUDFLARE_API_TOKEN" -H 'Content-Type: application/json' \
  --data-binary '{"id": "hand", "type": "r2", "source": "hand-bucket"}' \
  "$base/client/v4/accounts/acct/ai-search/namespaces/default/instances" >/dev/null || fail "create hand"
before=$(requests)
set +e
run sync default/hand >/dev/null 2>"$work/hand.err"
code=$?
set -e
[[ $code -eq 1 ]] && grep -q "neither in the manifest nor owned by aisearchd" "$work/hand.err" || fail "sync of an unmanaged instance: $code $(cat "$work/hand.err")"
[[ $(writes_since "$before") -eq 0 ]] || fail "sync of an unmanaged instance wrote"

# --- on_change in a sync cooldown (429, code 7020): waited out, then started; one job. ---
# A job started by someone else; its end starts the cooldown (checked when a trigger comes).
jobs_url="$base/client/v4/accounts/acct/ai-search/namespaces/default/instances/docs/jobs"
curl -fsS -X POST -H "Authorization: Bearer $CLOUDFLARE_API_TOKEN" -H 'Content-Type: application/json' \
  --data-binary '{}' "$jobs_url" >/dev/null || fail "POST jobs"
jobs_ended() {  # waits (at most 60 s) until no job of default/docs runs
  for _ in $(seq 600); do
    curl -fsS -H "Authorization: Bearer $CLOUDFLARE_API_TOKEN" "$jobs_url" | python3 -c '
import json, sys
sys.exit(0 if all(j.get("ended_at") for j in json.load(sys.stdin)["result"]) else 1)' && return 0
    sleep 0.1
  done
  fail "a job of default/docs still runs after 60 s"
}
jobs_ended
control PATCH config '{"job_cooldown_ms": 15000}' >/dev/null
before=$(requests)
set_field docs chunk_size 768
run apply >"$work/cooldown.txt" 2>/dev/null || fail "apply in a cooldown: $(cat "$work/cooldown.txt")"
grep -Eq "^sync default/docs \(on_change\): started, job [0-9a-f]+" "$work/cooldown.txt" ||
  fail "the on_change run in a cooldown: $(cat "$work/cooldown.txt")"
control GET requests | python3 -c '
import json, sys
posts = [r for r in json.load(sys.stdin)[int(sys.argv[1]):] if r["method"] == "POST" and r["path"].endswith("/jobs")]
statuses = [r["status"] for r in posts]
assert statuses.count(200) == 1 and 429 in statuses, statuses' "$before" ||
  fail "the cooldown was not met, or made more than one job"
control PATCH config '{"job_cooldown_ms": 0}' >/dev/null

# --- on_change while a job runs (forbid): held, saved in state for the daemon. ---
jobs_ended  # the on_change job above (300 ms) must not be the one the next sync finds
control PATCH config '{"job_duration_ms": 600000}' >/dev/null
run sync default/docs --no-wait >/dev/null 2>&1 || fail "sync --no-wait"
set_field docs chunk_size 1024
run apply -o json >"$work/held.json" 2>/dev/null || fail "apply with a running job"
python3 - "$work/held.json" <<'PY' || fail "the held on_change run: $(cat "$work/held.json")"
import json, sys
out = json.load(open(sys.argv[1]))
syncs = out["syncs"]
assert [s["address"] for s in syncs] == ["default/docs"], syncs
assert syncs[0]["result"] == "held" and syncs[0]["job_id"] is None, syncs
PY
run state show | python3 -c '
import json, sys
held = json.load(sys.stdin)["sync"]["default/docs"].get("held")
assert held == "on_change", held' || fail "the held run is not in state"
# With no daemon, the next apply starts the held run once the job that held it has ended
# (breaker finding F4: it stayed held for ever).
for id in $(curl -fsS -H "Authorization: Bearer $CLOUDFLARE_API_TOKEN" "$jobs_url" | python3 -c '
import json, sys
print(" ".join(j["id"] for j in json.load(sys.stdin)["result"] if not j.get("ended_at")))'); do
  curl -fsS -X PATCH -H "Authorization: Bearer $CLOUDFLARE_API_TOKEN" -H 'Content-Type: application/json' \
    --data-binary '{"action": "cancel"}' "$jobs_url/$id" >/dev/null || fail "cancel $id"
done
jobs_ended
control PATCH config '{"job_duration_ms": 300}' >/dev/null
run apply >"$work/held-again.txt" 2>/dev/null || fail "apply after the held run's job ended: $(cat "$work/held-again.txt")"
grep -Eq "^sync default/docs \(on_change\): started, job [0-9a-f]+" "$work/held-again.txt" ||
  fail "the next apply did not start the held run: $(cat "$work/held-again.txt")"
run state show | python3 -c '
import json, sys
held = json.load(sys.stdin)["sync"]["default/docs"].get("held")
assert not held, held' || fail "the held run is still held after its job started"

# status shows what the last reconcile saw (issue 18, item 4): the fields it found drifted, and
# the remote instances aisearchd does not manage.
api_put default/blog '{"max_num_results": 4}'
run apply >/dev/null 2>&1 || fail "apply correcting drift"
run status >"$work/status.txt"
grep -Eq "^default/blog .* max_num_results " "$work/status.txt" || fail "status DRIFT: $(cat "$work/status.txt")"
grep -Eq "^default/hand +no \(unmanaged\)" "$work/status.txt" || fail "status unmanaged: $(cat "$work/status.txt")"
grep -q "^(drift and unmanaged instances as the reconcile at " "$work/status.txt" || fail "status footer: $(cat "$work/status.txt")"
run status -o json | python3 -c '
import json, sys
rows = {r["address"]: r for r in json.load(sys.stdin)["instances"]}
assert rows["default/blog"]["drift"] == ["max_num_results"], rows["default/blog"]
assert rows["default/hand"]["unmanaged"] and not rows["default/hand"]["owned"], rows["default/hand"]
assert rows["default/docs"]["drift"] == [], rows["default/docs"]' || fail "status -o json drift/unmanaged"
echo "PASS"

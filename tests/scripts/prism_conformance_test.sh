#!/usr/bin/env bash
# OpenAPI conformance of aisearch-emulator: Prism (`prism proxy --errors`) validates every request
# and every emulator answer against shared/cloudflare-ai-search/openapi.json while this script
# drives each operation that file covers (namespaces list/create/get/update/delete, move, stats,
# purge_cache, job create, job get (account form), job logs) plus the error answers it declares.
# Any violation Prism reports (an error status, an `sl-violations` header, or an error line in
# its log) fails the test.
#
# Env: EMULATOR_BIN, SOURCE_DIR (set by ctest); PRISM and OPENAPI_SPEC override the defaults;
# EMULATOR_EXTRA_ARGS is appended to the emulator's command line (e.g. to see a check fail).
set -euo pipefail

SOURCE_DIR=${SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
EMULATOR_BIN=${EMULATOR_BIN:-$SOURCE_DIR/build/aisearch-emulator}
PRISM=${PRISM:-$SOURCE_DIR/build-tools/node_modules/.bin/prism}
# The official operation definitions: the shared copy beside the checkout when there is one,
# else the copy kept with the tests (tests/data/cloudflare-ai-search/openapi.json).
if [[ -z "${OPENAPI_SPEC:-}" ]]; then
  OPENAPI_SPEC=$SOURCE_DIR/../shared/cloudflare-ai-search/openapi.json
  [[ -f "$OPENAPI_SPEC" ]] || OPENAPI_SPEC=$SOURCE_DIR/tests/data/cloudflare-ai-search/openapi.json
fi
TOKEN=test-token
ACCOUNT=test-account

die() { echo "prism_conformance: $*" >&2; exit 1; }
[[ -x "$EMULATOR_BIN" ]] || die "emulator binary not found: $EMULATOR_BIN"
[[ -x "$PRISM" ]] || die "prism not found: $PRISM (run scripts/install-deps.sh)"
[[ -f "$OPENAPI_SPEC" ]] || die "openapi.json not found: $OPENAPI_SPEC"
command -v curl >/dev/null || die "curl is required"
command -v python3 >/dev/null || die "python3 is required"

tmp=$(mktemp -d)
emulator_pid=""
prism_pid=""
cleanup() {
  for pid in "$prism_pid" "$emulator_pid"; do
    [[ -n "$pid" ]] && kill "$pid" 2>/dev/null || true
  done
  for pid in "$prism_pid" "$emulator_pid"; do
    [[ -n "$pid" ]] && wait "$pid" 2>/dev/null || true
  done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the emulator: job fields left out while unset (openapi.json types them as non-nullable
# strings; real servers answer null, which is the emulator's default), short jobs, short cooldown,
# on the manual clock: a job ends when the script advances the clock, however slow the machine.
"$EMULATOR_BIN" --host 127.0.0.1 --port 0 --token "$TOKEN" --account-id "$ACCOUNT" \
  --job-duration 1s --job-cooldown 2s --job-unset-fields omit --clock manual ${EMULATOR_EXTRA_ARGS:-} \
  >"$tmp/emulator.out" 2>"$tmp/emulator.err" &
emulator_pid=$!
emu_port=""
for _ in $(seq 1 600); do  # 60 s, for a busy machine
  if line=$(head -n1 "$tmp/emulator.out" 2>/dev/null) && [[ "$line" == "listening on http://"* ]]; then
    emu_port=${line##*:}
    break
  fi
  kill -0 "$emulator_pid" 2>/dev/null || break
  sleep 0.1
done
[[ -n "$emu_port" ]] || { cat "$tmp/emulator.err" >&2; die "emulator did not start"; }
emu="http://127.0.0.1:$emu_port"

# --- Prism in front of it, on a free loopback port (retried if the port gets taken).
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
prism_port=""
for attempt in 1 2 3; do
  port=$(free_port)
  "$PRISM" proxy --errors -h 127.0.0.1 -p "$port" "$OPENAPI_SPEC" "$emu/client/v4" \
    >"$tmp/prism.log" 2>&1 &
  prism_pid=$!
  for _ in $(seq 1 600); do
    if grep -q "Prism is listening" "$tmp/prism.log"; then prism_port=$port; break; fi
    kill -0 "$prism_pid" 2>/dev/null || break
    sleep 0.1
  done
  [[ -n "$prism_port" ]] && break
  kill "$prism_pid" 2>/dev/null || true
  wait "$prism_pid" 2>/dev/null || true
  prism_pid=""
  echo "prism_conformance: prism did not start (attempt $attempt)" >&2
  tail -5 "$tmp/prism.log" >&2 || true
done
[[ -n "$prism_port" ]] || die "prism did not start"
log_start=$(wc -l <"$tmp/prism.log")
api="http://127.0.0.1:$prism_port/accounts/$ACCOUNT/ai-search"

passed=0
failed=0
last_body=""

# call NAME EXPECTED_STATUS METHOD PATH [JSON_BODY]: one request through Prism.
call() {
  local name=$1 expected=$2 method=$3 path=$4 body=${5-}
  local args=(-s --max-time 30 -X "$method" -H "Authorization: Bearer $TOKEN" -D "$tmp/headers"
              -o "$tmp/body" -w '%{http_code}')
  if [[ -n "$body" ]]; then args+=(-H 'Content-Type: application/json' --data "$body"); fi
  local status
  status=$(curl "${args[@]}" "$api$path") || status="curl-failed"
  last_body=$(cat "$tmp/body" 2>/dev/null || true)
  local violations
  violations=$(grep -i '^sl-violations:' "$tmp/headers" || true)
  if [[ "$status" == "$expected" && -z "$violations" ]]; then
    passed=$((passed + 1))
    echo "ok   $name ($method $path -> $status)"
  else
    failed=$((failed + 1))
    echo "FAIL $name ($method $path): status $status, expected $expected"
    [[ -n "$violations" ]] && echo "     $violations"
    echo "     body: ${last_body:0:600}"
  fi
}

# emulator_call METHOD PATH [JSON_BODY]: set-up straight at the emulator (operations that
# openapi.json does not cover, and the control API).
emulator_call() {
  local method=$1 path=$2 body=${3-}
  local args=(-s --max-time 30 -f -X "$method" -H "Authorization: Bearer $TOKEN")
  if [[ -n "$body" ]]; then args+=(-H 'Content-Type: application/json' --data "$body"); fi
  curl "${args[@]}" "$emu$path" || die "set-up call failed: $method $path"
}
json_get() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval("d"+sys.argv[1]))' "$1"; }

direct="/client/v4/accounts/$ACCOUNT/ai-search"

# ---- namespaces ---------------------------------------------------------------------------
call "list namespaces (empty)" 200 GET "/namespaces"
call "create namespace" 201 POST "/namespaces" '{"name":"prod","description":"Production"}'
call "create namespace without description" 201 POST "/namespaces" '{"name":"staging"}'
call "create namespace that exists" 409 POST "/namespaces" '{"name":"prod"}'
call "create namespace 'default'" 409 POST "/namespaces" '{"name":"default"}'
call "create namespace, invalid public endpoint (400 with path)" 400 POST "/namespaces" \
  '{"name":"edge","public_endpoint_params":{"rate_limit":{"period_ms":5}}}'
call "list namespaces, paged and filtered" 200 GET "/namespaces?page=1&per_page=1&search=prod"
call "list namespaces, page 2" 200 GET "/namespaces?page=2&per_page=1"
call "get namespace" 200 GET "/namespaces/prod"
call "get namespace default" 200 GET "/namespaces/default"
call "get missing namespace" 404 GET "/namespaces/nope"
call "update namespace" 200 PUT "/namespaces/prod" '{"description":"Production v2"}'
call "update namespace description to null" 200 PUT "/namespaces/staging" '{"description":null}'
call "update default namespace" 400 PUT "/namespaces/default" '{"description":"x"}'
call "update missing namespace" 404 PUT "/namespaces/nope" '{"description":"x"}'

# ---- instances (created directly: openapi.json does not cover instance CRUD) ---------------
emulator_call POST "$direct/instances" '{"id":"docs","source":"docs-bucket"}' >/dev/null
emulator_call POST "$direct/namespaces/prod/instances" '{"id":"docs","source":"prod-docs"}' >/dev/null
emulator_call POST "$direct/namespaces/prod/instances" \
  '{"id":"kb","source":"https://support.example.com"}' >/dev/null

call "delete non-empty namespace" 400 DELETE "/namespaces/prod"
call "delete default namespace" 400 DELETE "/namespaces/default"
call "delete missing namespace" 404 DELETE "/namespaces/nope"

call "stats" 200 GET "/namespaces/prod/instances/kb/stats"
call "stats of default-namespace instance" 200 GET "/namespaces/default/instances/docs/stats"
call "stats of missing instance" 404 GET "/namespaces/prod/instances/missing/stats"
call "purge cache" 200 POST "/namespaces/prod/instances/kb/purge_cache"
call "purge cache of missing instance" 404 POST "/namespaces/prod/instances/missing/purge_cache"

# ---- jobs -----------------------------------------------------------------------------------
call "create job" 200 POST "/namespaces/default/instances/docs/jobs" '{"description":"conformance"}'
first_job=$(printf '%s' "$last_body" | json_get '["result"]["id"]')
call "get running job (account form)" 200 GET "/instances/docs/jobs/$first_job"
call "create job without body fields (supersedes the running one)" 200 POST \
  "/namespaces/default/instances/docs/jobs" '{}'
second_job=$(printf '%s' "$last_body" | json_get '["result"]["id"]')
call "get superseded job" 200 GET "/instances/docs/jobs/$first_job"
emulator_call POST /__emulator/clock/advance '{"ms":1500}' >/dev/null  # the second job ends
call "get ended job" 200 GET "/instances/docs/jobs/$second_job"
call "create job during cooldown" 429 POST "/namespaces/default/instances/docs/jobs" '{}'
emulator_call POST /__emulator/clock/advance '{"ms":5000}' >/dev/null
call "create job after cooldown" 200 POST "/namespaces/default/instances/docs/jobs" '{}'
call "create job for missing instance" 404 POST "/namespaces/default/instances/missing/jobs" '{}'
call "get missing job" 404 GET "/instances/docs/jobs/0123456789abcdef"
call "get job of missing instance" 404 GET "/instances/missing/jobs/$first_job"
call "job logs" 200 GET "/namespaces/default/instances/docs/jobs/$second_job/logs"
call "job logs, paged" 200 GET "/namespaces/default/instances/docs/jobs/$second_job/logs?page=2&per_page=1"
call "job logs of missing job" 404 GET "/namespaces/default/instances/docs/jobs/0123456789abcdef/logs"
emulator_call PUT /__emulator/config '{"job_outcomes":{"prod/kb":"fail"}}' >/dev/null
call "create failing job" 200 POST "/namespaces/prod/instances/kb/jobs" '{}'
failing_job=$(printf '%s' "$last_body" | json_get '["result"]["id"]')
emulator_call POST /__emulator/clock/advance '{"ms":1500}' >/dev/null
call "logs of failed job" 200 GET "/namespaces/prod/instances/kb/jobs/$failing_job/logs?per_page=500"
call "stats after failed job" 200 GET "/namespaces/prod/instances/kb/stats"

# ---- move -----------------------------------------------------------------------------------
call "move onto an existing id" 400 PATCH "/namespaces/prod/instances/docs" '{"new_namespace":"default"}'
call "move missing instance" 404 PATCH "/namespaces/prod/instances/missing" '{"new_namespace":"staging"}'
call "move to missing namespace" 404 PATCH "/namespaces/prod/instances/kb" '{"new_namespace":"nowhere"}'
call "move" 200 PATCH "/namespaces/prod/instances/kb" '{"new_namespace":"staging"}'
call "move back to default" 200 PATCH "/namespaces/staging/instances/kb" '{"new_namespace":"default"}'
emulator_call DELETE "$direct/namespaces/prod/instances/docs" >/dev/null
call "delete empty namespace" 200 DELETE "/namespaces/prod"
call "list namespaces after delete" 200 GET "/namespaces?per_page=100"

# ---- Prism's own log: no violation, no error, every call reached the emulator --------------
log_errors=$(tail -n +"$((log_start + 1))" "$tmp/prism.log" | grep -E 'VIOLATIONS|✖|error  ' || true)
if [[ -n "$log_errors" ]]; then
  failed=$((failed + 1))
  echo "FAIL prism log reports errors:"
  echo "$log_errors" | head -20
else
  passed=$((passed + 1))
  echo "ok   prism log has no violation"
fi
forwarded=$(grep -c 'Forwarding' "$tmp/prism.log" || true)
expected_forwarded=$((passed + failed - 1))
if [[ "$forwarded" -ne "$expected_forwarded" ]]; then
  failed=$((failed + 1))
  echo "FAIL prism forwarded $forwarded requests, expected $expected_forwarded"
else
  passed=$((passed + 1))
  echo "ok   prism forwarded all $forwarded requests to the emulator"
fi

echo "$passed passed, $failed failed"
[[ "$failed" -eq 0 ]]

#!/usr/bin/env bash
# The CI examples run as written (issue 17, item 7): examples/ci/github-actions.yml and
# examples/ci/gitlab-ci.yml, with examples/ci/aisearchd-ci.yaml, are run by ci_runner.py (a local
# stand-in for GitHub Actions and GitLab CI: the jobs' own shell commands, in order, the way the
# CI system runs them; ci_runner.py's docstring lists what it substitutes and why) against
# - the emulator as the API (vars/variable AISEARCHD_API_URL),
# - a real etcd on loopback with auth on: the daemon's state under /aisearchd/prod/, written by
#   the daemon's host (a first `aisearchd apply`), a read-only user aisearchd-ci for the plan
#   job and a read-write user aisearchd-apply for the apply job (etcd RBAC on the prefix),
# - a gh CLI stub and a fake GitLab API that record comments/notes and serve the merged pull or
#   merge request and its saved plan artifact.
# For each example, what a user sees:
#  (a) a pull request removing an owned instance: the plan comment shows the delete, plan's exit
#      2 is a green job, the saved plan is kept as an artifact, nothing is written;
#  (b) its merge: the apply job applies that saved plan: the instance is gone;
#  (c) a pull request whose plan fails (no state yet; a manifest that does not validate; the API
#      down): the comment shows the error, the job fails, no plan is kept;
#  (d) a stale plan (an instance modified remotely between review and merge): the apply job
#      fails, writes nothing, and the pull request is told why;
#  (e) a push to main without a pull request: nothing reviewed, the apply job fails, says so.
set -euo pipefail
fail() { echo "FAIL: $*"; exit 1; }
: "${AISEARCHD_BIN:?AISEARCHD_BIN is not set}" "${EMULATOR_BIN:?EMULATOR_BIN is not set}" "${SOURCE_DIR:?SOURCE_DIR is not set}"
ETCD_BIN=${ETCD_BIN:-/usr/bin/etcd}
for bin in "$AISEARCHD_BIN" "$EMULATOR_BIN" "$ETCD_BIN"; do [[ -x "$bin" ]] || fail "$bin is missing"; done
for tool in curl jq bash; do command -v "$tool" >/dev/null || fail "$tool is missing"; done
python=$(python3 -c 'import sys, yaml; print(sys.executable)') || fail "python3 with yaml (python3-yaml) is missing"
examples="$SOURCE_DIR/examples/ci"
runner="$SOURCE_DIR/tests/scripts/ci_runner.py"
for f in github-actions.yml gitlab-ci.yml aisearchd-ci.yaml; do [[ -f "$examples/$f" ]] || fail "$examples/$f is missing"; done

started=$SECONDS
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [[ -n "${CI_EXAMPLES_KEEP:-}" ]]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

# --- The API: the emulator. ---
token=ci-examples-token-3f9a
"$EMULATOR_BIN" --port 0 --token "$token" --account-id acct >"$work/emulator.out" 2>/dev/null &
pids+=($!)
for _ in $(seq 600); do grep -q '^listening on ' "$work/emulator.out" && break; sleep 0.1; done  # 60 s, for a busy machine
base=$(sed -n 's/^listening on //p' "$work/emulator.out")
[[ -n "$base" ]] || fail "the emulator did not start"
api_url="$base/client/v4"
control() {
  local args=(-fsS -X "$1" -H 'Content-Type: application/json')
  [[ $# -ge 3 ]] && args+=(--data-binary "$3")
  curl "${args[@]}" "$base/__emulator/$2"
}
requests() { control GET requests | jq length; }
writes_since() { control GET requests | jq --argjson n "$1" '[.[$n:][] | select(.method != "GET")] | length'; }
instances() { control GET state | jq -r '[.instances[] | .namespace + "/" + .id] | sort | join(" ")'; }
field() { control GET state | jq -r --arg id "$1" --arg f "$2" '.instances[] | select(.id == $id) | .fields[$f]'; }

# --- The state: etcd on loopback, auth on, read-only and read-write users (etcd RBAC). ---
free_ports() {
  "$python" -c 'import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])'
}
etcd_up=""
for attempt in 1 2 3 4 5; do
  read -r client_port peer_port < <(free_ports)
  etcd_url="http://127.0.0.1:$client_port"
  "$ETCD_BIN" --name ci --data-dir "$work/etcd-$attempt" --listen-client-urls "$etcd_url" \
    --advertise-client-urls "$etcd_url" --listen-peer-urls "http://127.0.0.1:$peer_port" \
    --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
    --initial-cluster "ci=http://127.0.0.1:$peer_port" >"$work/etcd-$attempt.log" 2>&1 &
  etcd_pid=$!
  pids+=($etcd_pid)
  for _ in $(seq 600); do
    kill -0 "$etcd_pid" 2>/dev/null || break
    curl -fsS "$etcd_url/health" 2>/dev/null | grep -q '"health":"true"' && { etcd_up=1; break; }
    sleep 0.1
  done
  [[ -n "$etcd_up" ]] && break
  kill "$etcd_pid" 2>/dev/null || true  # a port taken meanwhile: try others
done
[[ -n "$etcd_up" ]] || fail "etcd did not start: $(tail -5 "$work/etcd-$attempt.log")"
b64() { printf '%s' "$1" | base64 -w0; }
etcd_root_token=""
etcd() {  # etcd PATH JSON: one call of etcd's JSON gateway (as root once auth is on)
  local auth=()
  [[ -n "$etcd_root_token" ]] && auth=(-H "Authorization: $etcd_root_token")
  curl -fsS -X POST "${auth[@]}" "$etcd_url$1" --data-binary "$2" >/dev/null || fail "etcd $1 $2"
}
prefix=/aisearchd/prod/
range="\"key\":\"$(b64 /aisearchd/)\",\"range_end\":\"$(b64 /aisearchd0)\""
etcd /v3/auth/user/add '{"name":"root","password":"root-pw"}'
etcd /v3/auth/role/add '{"name":"root"}'
etcd /v3/auth/user/grant '{"user":"root","role":"root"}'
etcd /v3/auth/role/add '{"name":"aisearchd-ci"}'
etcd /v3/auth/role/grant "{\"name\":\"aisearchd-ci\",\"perm\":{\"permType\":\"READ\",$range}}"
etcd /v3/auth/user/add '{"name":"aisearchd-ci","password":"ci-pw-71c2"}'
etcd /v3/auth/user/grant '{"user":"aisearchd-ci","role":"aisearchd-ci"}'
etcd /v3/auth/role/add '{"name":"aisearchd-apply"}'
etcd /v3/auth/role/grant "{\"name\":\"aisearchd-apply\",\"perm\":{\"permType\":\"READWRITE\",$range}}"
etcd /v3/auth/user/add '{"name":"aisearchd-apply","password":"apply-pw-0d4e"}'
etcd /v3/auth/user/grant '{"user":"aisearchd-apply","role":"aisearchd-apply"}'
etcd /v3/auth/enable '{}'
etcd_root_token=$(curl -fsS -X POST "$etcd_url/v3/auth/authenticate" -d '{"name":"root","password":"root-pw"}' | jq -r .token)
[[ -n "$etcd_root_token" && "$etcd_root_token" != null ]] || fail "etcd root authentication"

# --- The fake GitLab API and the gh stub; aisearchd on PATH. ---
store="$work/store"
mkdir -p "$store/github" "$store/gitlab" "$work/bin"
echo '{"repository": "acme/ai-search"}' >"$store/github/repo.json"
ln -s "$AISEARCHD_BIN" "$work/bin/aisearchd"
printf '#!/bin/sh\nexec %s %s gh "$@"\n' "$python" "$runner" >"$work/bin/gh"
chmod +x "$work/bin/gh"
gitlab_token=glpat-ci-examples-5b1e
"$python" "$runner" gitlab-api --store "$store" --token "$gitlab_token" --port-file "$work/gitlab.port" \
  2>"$work/gitlab-api.err" &
pids+=($!)
for _ in $(seq 600); do [[ -s "$work/gitlab.port" ]] && break; sleep 0.1; done
[[ -s "$work/gitlab.port" ]] || fail "the fake GitLab API did not start: $(cat "$work/gitlab-api.err")"
gitlab_url="http://127.0.0.1:$(cat "$work/gitlab.port")"

# --- The manifest repository (fixture) and its changes. ---
mkdir -p "$work/trees/main/ai-search" "$work/trees/main/ci" "$work/trees/main/.github/workflows"
cp "$examples/aisearchd-ci.yaml" "$work/trees/main/ci/aisearchd.yaml"
cp "$examples/github-actions.yml" "$work/trees/main/.github/workflows/aisearch.yml"
cp "$examples/gitlab-ci.yml" "$work/trees/main/.gitlab-ci.yml"
cat >"$work/trees/main/ai-search/aisearch.yaml" <<'EOF'
apiVersion: aisearchd/v1
namespaces:
  default:
    prune: true
    instances:
      docs: { type: r2, source: docs-bucket }
      notes: { type: r2, source: notes-bucket }
      blog: { type: web-crawler, source: "https://blog.example.com", max_num_results: 5 }
EOF
seed_tree="$work/trees/seed"
cp -r "$work/trees/main" "$seed_tree"
tree() {  # tree NAME SED-EXPRESSION: a branch = main's tree with its manifest edited
  rm -rf "$work/trees/$1"
  cp -r "$work/trees/main" "$work/trees/$1"
  sed -i "$2" "$work/trees/$1/ai-search/aisearch.yaml"
}
merge() {  # merge NAME: main's tree becomes the branch's
  rm -rf "$work/trees/main"
  cp -r "$work/trees/$1" "$work/trees/main"
}

# The daemon's host: its state in etcd (read-write user), a fresh account and prefix per example.
daemon_apply() {
  (cd "$seed_tree" && printf 'apply-pw-0d4e\n' >"$work/apply.pw" &&
    env -i PATH="$PATH" HOME="$work" NO_COLOR=1 CLOUDFLARE_ACCOUNT_ID=acct CLOUDFLARE_API_TOKEN="$token" \
      AISEARCHD_API_URL="$api_url" AISEARCHD_ETCD_ENDPOINT="$etcd_url" AISEARCHD_ETCD_USER=aisearchd-apply \
      AISEARCHD_ETCD_PASSWORD_FILE="$work/apply.pw" AISEARCHD_STATE_DIR="$work/daemon-state" \
      "$AISEARCHD_BIN" -c ci/aisearchd.yaml -m ai-search/ apply >"$work/daemon-apply.out" 2>&1) ||
    fail "the daemon host's apply: $(cat "$work/daemon-apply.out")"
}
fresh_start() {  # an empty account and no state, then (after $1, a check) the daemon's first apply
  control POST reset '{}' >/dev/null
  etcd /v3/kv/deleterange "{$range}"
  rm -rf "$work/trees/main"
  cp -r "$seed_tree" "$work/trees/main"
  "$@"
  daemon_apply
  [[ "$(instances)" == "default/blog default/docs default/notes" ]] || fail "seeding: $(instances)"
}

new_sha() { od -An -tx1 -N20 /dev/urandom | tr -d ' \n'; }
comments() { cat "$store/$1"/* 2>/dev/null || true; }   # comments KIND/NUMBER: all of them, in order
last_comment() { local f; f=$(ls "$store/$1"/* 2>/dev/null | tail -1); [[ -n "$f" ]] && cat "$f"; }
count() { ls "$store/$1" 2>/dev/null | wc -l; }

# --- GitHub Actions ---
gh_ctx() {  # gh_ctx EVENT SHA [PR HEAD_REF HEAD_SHA] [API_URL]
  local event=$1 sha=$2 pr=${3:-} head_ref=${4:-} head_sha=${5:-} api=${6:-$api_url}
  jq -n --arg event "$event" --arg sha "$sha" --arg pr "$pr" --arg head_ref "$head_ref" \
    --arg head_sha "$head_sha" --arg api "$api" --arg token "$token" --arg etcd "$etcd_url" '{
    secrets: {CLOUDFLARE_ACCOUNT_ID: "acct", CLOUDFLARE_API_TOKEN_READ: $token,
              CLOUDFLARE_API_TOKEN_APPLY: $token, AISEARCHD_ETCD_ENDPOINT: $etcd,
              AISEARCHD_ETCD_READ_PASSWORD: "ci-pw-71c2", AISEARCHD_ETCD_APPLY_PASSWORD: "apply-pw-0d4e"},
    vars: {AISEARCHD_DEB_URL: "https://releases.example.invalid/aisearchd_0.1.0_amd64.deb",
           AISEARCHD_API_URL: $api},
    github: ({event_name: $event, repository: "acme/ai-search", repository_owner: "acme",
              token: "ghs_stub-token", sha: $sha, actor: "octocat"} +
             if $event == "pull_request" then
               {ref: ("refs/pull/" + $pr + "/merge"), ref_name: ($pr + "/merge"), head_ref: $head_ref,
                base_ref: "main", event: {pull_request: {number: ($pr | tonumber),
                head: {sha: $head_sha, ref: $head_ref}, base: {ref: "main"}}}}
             else {ref: "refs/heads/main", ref_name: "main", head_ref: "", base_ref: "",
                   event: {ref: "refs/heads/main", after: $sha}} end)
  }' >"$work/ctx.json"
}
run_ci() {  # run_ci github|gitlab FILE TREE LABEL: run TREE's FILE with $work/ctx.json through
  # ci_runner.py; sets $code (0 the pipeline passed, 1 a job failed), output in $work/LABEL.log
  local kind=$1 file=$2 tree_name=$3 label=$4
  set +e
  timeout 100 "$python" "$runner" "$kind" "$work/trees/$tree_name/$file" \
    --context "$work/ctx.json" --repo "$work/trees/$tree_name" --store "$store" \
    --work "$work/job-$label" --host-path "$work/bin" --result "$work/$label.result" >"$work/$label.log" 2>&1
  code=$?
  set -e
  [[ $code -le 1 ]] || fail "$label: the runner failed ($code): $(cat "$work/$label.log")"
}
github() {  # github EVENT TREE LABEL ...gh_ctx args: run the workflow
  local event=$1 tree_name=$2 label=$3
  shift 3
  gh_ctx "$event" "$@"
  run_ci github .github/workflows/aisearch.yml "$tree_name" "$label"
}
job_result() { jq -r --arg j "$2" '.jobs[$j]' "$work/$1.result"; }

github_no_state() {  # (c) before the daemon's first apply: --require-state fails the plan, said
  github pull_request main gh-c0 "$(new_sha)" 6 first "$(new_sha)"
  [[ $code -eq 1 && "$(job_result gh-c0 plan)" == failure ]] || fail "(c) a plan without state passed: $(cat "$work/gh-c0.log")"
  last_comment github/comments/6 | grep -q "the state at etcd .* key /aisearchd/prod/state records no instance" ||
    fail "(c) without state: $(comments github/comments/6)"
}

github_scenarios() {
  fresh_start github_no_state
  local before pr_sha run merge_sha

  # (a) A pull request removes notes (owned, prune: true).
  tree remove-notes '/notes:/d'
  pr_sha=$(new_sha)
  before=$(requests)
  github pull_request remove-notes gh-a "$(new_sha)" 7 remove-notes "$pr_sha"
  [[ $code -eq 0 ]] || fail "(a) github plan job failed: $(cat "$work/gh-a.log")"
  [[ "$(job_result gh-a plan)" == success && "$(job_result gh-a apply)" == skipped ]] ||
    fail "(a) jobs: $(cat "$work/gh-a.result")"
  last_comment github/comments/7 | grep -qF '| `-` delete | `default/notes` |' ||
    fail "(a) the pull request comment does not show the delete: $(comments github/comments/7)"
  last_comment github/comments/7 | grep -q "Ownership unknown" && fail "(a) the CI plan did not see the state"
  last_comment github/comments/7 | grep -qF "$pr_sha" || fail "(a) the comment does not name the commit"
  run=$(jq -r .run_id "$work/gh-a.result")
  jq -e '.kind == "aisearchd-saved-plan"' "$store/github/artifacts/$run/aisearch-plan/aisearch.plan" >/dev/null ||
    fail "(a) no saved plan artifact: $(cat "$work/gh-a.log")"
  [[ $(writes_since "$before") -eq 0 ]] || fail "(a) the plan job wrote to the API"
  [[ "$(instances)" == *default/notes* ]] || fail "(a) notes is gone before the merge"

  # (b) The merge: the apply job applies the reviewed plan.
  merge remove-notes
  merge_sha=$(new_sha)
  echo "[{\"number\": 7, \"merged_at\": \"2026-12-07T01:00:00Z\", \"head\": {\"sha\": \"$pr_sha\", \"ref\": \"remove-notes\"}}]" \
    >"$store/github/commit-pulls.tmp"
  mkdir -p "$store/github/commit-pulls" && mv "$store/github/commit-pulls.tmp" "$store/github/commit-pulls/$merge_sha.json"
  github push main gh-b "$merge_sha"
  [[ $code -eq 0 ]] || fail "(b) github apply job failed: $(cat "$work/gh-b.log")"
  [[ "$(job_result gh-b apply)" == success && "$(job_result gh-b plan)" == skipped ]] || fail "(b) jobs: $(cat "$work/gh-b.result")"
  [[ "$(instances)" == "default/blog default/docs" ]] || fail "(b) after the apply job: $(instances)"
  last_comment github/comments/7 | grep -q "aisearchd apply succeeded" ||
    fail "(b) the pull request was not told: $(comments github/comments/7)"
  last_comment github/comments/7 | grep -q "Apply complete: 1 done, 0 failed" || fail "(b) $(last_comment github/comments/7)"
  grep -qF "[\"run\", \"download\", \"$run\"" "$store/github/gh-calls.log" ||
    fail "(b) the apply job did not download run $run's plan: $(cat "$store/github/gh-calls.log")"

  # (c) A pull request whose manifest does not validate, then one planned with the API down.
  tree bad-manifest 's/max_num_results: 5/max_num_results: 500/'
  github pull_request bad-manifest gh-c "$(new_sha)" 8 bad-manifest "$(new_sha)"
  [[ $code -eq 1 && "$(job_result gh-c plan)" == failure ]] || fail "(c) a failed plan left the job green: $(cat "$work/gh-c.log")"
  last_comment github/comments/8 | grep -q "aisearchd plan failed" || fail "(c) no failure comment: $(comments github/comments/8)"
  last_comment github/comments/8 | grep -q "ai-search/aisearch.yaml:7:.*max_num_results: 500 is out of range" ||
    fail "(c) the comment does not show the error: $(last_comment github/comments/8)"
  [[ ! -d "$store/github/artifacts/$(jq -r .run_id "$work/gh-c.result")" ]] || fail "(c) a failed plan was kept"
  tree more-results 's/max_num_results: 5/max_num_results: 6/'
  github pull_request more-results gh-c2 "$(new_sha)" 9 more-results "$(new_sha)" "http://127.0.0.1:9/client/v4"
  [[ $code -eq 1 ]] || fail "(c) a plan with the API down left the job green: $(cat "$work/gh-c2.log")"
  last_comment github/comments/9 | grep -q "aisearchd plan failed" || fail "(c) API down: $(comments github/comments/9)"
  last_comment github/comments/9 | grep -q "could not be listed" || fail "(c) API down: $(last_comment github/comments/9)"

  # (d) A stale plan: blog is changed remotely between the review and the merge.
  tree blog-7 's/max_num_results: 5/max_num_results: 7/'
  pr_sha=$(new_sha)
  github pull_request blog-7 gh-d "$(new_sha)" 10 blog-7 "$pr_sha"
  [[ $code -eq 0 ]] || fail "(d) plan: $(cat "$work/gh-d.log")"
  last_comment github/comments/10 | grep -qF '| `~` update | `default/blog` |' || fail "(d) $(comments github/comments/10)"
  curl -fsS -X PUT -H "Authorization: Bearer $token" -H 'Content-Type: application/json' --data '{"max_num_results": 3}' \
    "$api_url/accounts/acct/ai-search/namespaces/default/instances/blog" >/dev/null
  merge blog-7
  merge_sha=$(new_sha)
  echo "[{\"number\": 10, \"merged_at\": \"2026-12-07T01:10:00Z\", \"head\": {\"sha\": \"$pr_sha\", \"ref\": \"blog-7\"}}]" \
    >"$store/github/commit-pulls/$merge_sha.json"
  before=$(requests)
  github push main gh-d2 "$merge_sha"
  [[ $code -eq 1 && "$(job_result gh-d2 apply)" == failure ]] || fail "(d) a stale plan was applied: $(cat "$work/gh-d2.log")"
  [[ $(writes_since "$before") -eq 0 ]] || fail "(d) the stale apply wrote to the API"
  [[ "$(field blog max_num_results)" == 3 ]] || fail "(d) blog changed: $(field blog max_num_results)"
  last_comment github/comments/10 | grep -q "aisearchd apply failed" || fail "(d) not told: $(comments github/comments/10)"
  last_comment github/comments/10 | grep -q "default/blog: modified remotely since the plan was saved" ||
    fail "(d) the comment does not say why: $(last_comment github/comments/10)"
  grep -q "modified remotely since the plan was saved" "$work/gh-d2.log" || fail "(d) the job log does not say why"
  # (e) A push to main without a pull request: nothing reviewed, the apply job fails and says so.
  before=$(requests)
  github push main gh-e "$(new_sha)"
  [[ $code -eq 1 && "$(job_result gh-e apply)" == failure ]] || fail "(e) a push without a pull request: $(cat "$work/gh-e.log")"
  grep -q "no merged pull request for .*: nothing reviewed to apply" "$work/gh-e.log" || fail "(e) $(cat "$work/gh-e.log")"
  [[ $(writes_since "$before") -eq 0 ]] || fail "(e) the apply job wrote without a reviewed plan"
  echo "github-actions.yml: ok ($((SECONDS - started)) s)"
}

# --- GitLab CI ---
gl_ctx() {  # gl_ctx SOURCE SHA [IID SOURCE_BRANCH] [API_URL]
  local source=$1 sha=$2 iid=${3:-} branch=${4:-} api=${5:-$api_url}
  jq -n --arg source "$source" --arg sha "$sha" --arg iid "$iid" --arg branch "$branch" --arg api "$api" \
    --arg token "$token" --arg etcd "$etcd_url" --arg server "$gitlab_url" --arg gl "$gitlab_token" '{
    project_id: "42", project_path: "acme/ai-search", server_url: $server, default_branch: "main",
    pipeline_source: $source, sha: $sha,
    variables: {CLOUDFLARE_ACCOUNT_ID: "acct", CLOUDFLARE_API_TOKEN_READ: $token, AISEARCHD_ETCD_ENDPOINT: $etcd,
                GITLAB_API_TOKEN: $gl, AISEARCHD_API_URL: $api,
                AISEARCHD_DEB_URL: "https://releases.example.invalid/aisearchd_0.1.0_amd64.deb"},
    file_variables: {AISEARCHD_ETCD_READ_PASSWORD: "ci-pw-71c2\n"}} *
    if $source == "merge_request_event" then
      {ref_name: $branch, merge_request: {iid: ($iid | tonumber), source_branch: $branch, target_branch: "main"}}
    else  # a protected branch: the protected variables too
      {ref_name: "main"} | .variables.CLOUDFLARE_API_TOKEN_APPLY = $token
      | .file_variables.AISEARCHD_ETCD_APPLY_PASSWORD = "apply-pw-0d4e\n"
    end' >"$work/ctx.json"
}
gitlab() {  # gitlab TREE LABEL ...gl_ctx args: run the pipeline
  local tree_name=$1 label=$2
  shift 2
  gl_ctx "$@"
  run_ci gitlab .gitlab-ci.yml "$tree_name" "$label"
}
pipeline_job() { jq -r --arg j "$2" '.jobs[$j].status // "none"' "$work/$1.result"; }

gitlab_no_state() {  # (c) before the daemon's first apply: --require-state fails the plan, said
  gitlab main gl-c0 merge_request_event "$(new_sha)" 2 first
  [[ $code -eq 1 && "$(pipeline_job gl-c0 aisearch-plan)" == failed ]] || fail "(c) a plan without state passed: $(cat "$work/gl-c0.log")"
  last_comment gitlab/notes/2 | grep -q "the state at etcd .* key /aisearchd/prod/state records no instance" ||
    fail "(c) without state: $(comments gitlab/notes/2)"
}

gitlab_scenarios() {
  fresh_start gitlab_no_state
  local before pr_sha merge_sha

  # (a) A merge request removes notes.
  tree remove-notes '/notes:/d'
  pr_sha=$(new_sha)
  before=$(requests)
  gitlab remove-notes gl-a merge_request_event "$pr_sha" 3 remove-notes
  [[ $code -eq 0 ]] || fail "(a) gitlab plan job failed: $(cat "$work/gl-a.log")"
  [[ "$(pipeline_job gl-a aisearch-plan)" == success && "$(pipeline_job gl-a aisearch-apply)" == none ]] ||
    fail "(a) jobs: $(cat "$work/gl-a.result")"
  last_comment gitlab/notes/3 | grep -qF '| `-` delete | `default/notes` |' ||
    fail "(a) the merge request note does not show the delete: $(comments gitlab/notes/3)"
  last_comment gitlab/notes/3 | grep -q "Ownership unknown" && fail "(a) the CI plan did not see the state"
  jq -e '.kind == "aisearchd-saved-plan"' "$(jq -r '.jobs["aisearch-plan"].artifacts' "$work/gl-a.result")/aisearch.plan" >/dev/null ||
    fail "(a) no saved plan artifact: $(cat "$work/gl-a.log")"
  [[ $(writes_since "$before") -eq 0 ]] || fail "(a) the plan job wrote to the API"

  # (b) The merge.
  merge remove-notes
  merge_sha=$(new_sha)
  mkdir -p "$store/gitlab/commit-mrs"
  echo "[{\"iid\": 3, \"state\": \"merged\", \"source_branch\": \"remove-notes\", \"sha\": \"$pr_sha\"}]" \
    >"$store/gitlab/commit-mrs/$merge_sha.json"
  gitlab main gl-b push "$merge_sha"
  [[ $code -eq 0 ]] || fail "(b) gitlab apply job failed: $(cat "$work/gl-b.log")"
  [[ "$(pipeline_job gl-b aisearch-apply)" == success && "$(pipeline_job gl-b aisearch-plan)" == none ]] ||
    fail "(b) jobs: $(cat "$work/gl-b.result")"
  [[ "$(instances)" == "default/blog default/docs" ]] || fail "(b) after the apply job: $(instances)"
  last_comment gitlab/notes/3 | grep -q "aisearchd apply succeeded" || fail "(b) not told: $(comments gitlab/notes/3)"
  grep -q "jobs/artifacts/refs%2Fmerge-requests%2F3%2Fhead/raw/aisearch.plan?job=aisearch-plan" "$store/gitlab/api.log" ||
    fail "(b) the plan was not fetched from the merge request's pipeline: $(cat "$store/gitlab/api.log")"

  # (c) A merge request whose manifest does not validate, then the API down.
  tree bad-manifest 's/max_num_results: 5/max_num_results: 500/'
  gitlab bad-manifest gl-c merge_request_event "$(new_sha)" 4 bad-manifest
  [[ $code -eq 1 && "$(pipeline_job gl-c aisearch-plan)" == failed ]] || fail "(c) a failed plan left the job green: $(cat "$work/gl-c.log")"
  last_comment gitlab/notes/4 | grep -q "aisearchd plan failed" || fail "(c) no failure note: $(comments gitlab/notes/4)"
  last_comment gitlab/notes/4 | grep -q "ai-search/aisearch.yaml:7:.*max_num_results: 500 is out of range" ||
    fail "(c) the note does not show the error: $(last_comment gitlab/notes/4)"
  tree more-results 's/max_num_results: 5/max_num_results: 6/'
  gitlab more-results gl-c2 merge_request_event "$(new_sha)" 5 more-results "http://127.0.0.1:9/client/v4"
  [[ $code -eq 1 ]] || fail "(c) a plan with the API down left the job green: $(cat "$work/gl-c2.log")"
  last_comment gitlab/notes/5 | grep -q "could not be listed" || fail "(c) API down: $(comments gitlab/notes/5)"

  # (d) A stale plan.
  tree blog-7 's/max_num_results: 5/max_num_results: 7/'
  pr_sha=$(new_sha)
  gitlab blog-7 gl-d merge_request_event "$pr_sha" 6 blog-7
  [[ $code -eq 0 ]] || fail "(d) plan: $(cat "$work/gl-d.log")"
  last_comment gitlab/notes/6 | grep -qF '| `~` update | `default/blog` |' || fail "(d) $(comments gitlab/notes/6)"
  curl -fsS -X PUT -H "Authorization: Bearer $token" -H 'Content-Type: application/json' --data '{"max_num_results": 3}' \
    "$api_url/accounts/acct/ai-search/namespaces/default/instances/blog" >/dev/null
  merge blog-7
  merge_sha=$(new_sha)
  echo "[{\"iid\": 6, \"state\": \"merged\", \"source_branch\": \"blog-7\", \"sha\": \"$pr_sha\"}]" \
    >"$store/gitlab/commit-mrs/$merge_sha.json"
  before=$(requests)
  gitlab main gl-d2 push "$merge_sha"
  [[ $code -eq 1 && "$(pipeline_job gl-d2 aisearch-apply)" == failed ]] || fail "(d) a stale plan was applied: $(cat "$work/gl-d2.log")"
  [[ $(writes_since "$before") -eq 0 ]] || fail "(d) the stale apply wrote to the API"
  [[ "$(field blog max_num_results)" == 3 ]] || fail "(d) blog changed: $(field blog max_num_results)"
  last_comment gitlab/notes/6 | grep -q "aisearchd apply failed" || fail "(d) not told: $(comments gitlab/notes/6)"
  last_comment gitlab/notes/6 | grep -q "default/blog: modified remotely since the plan was saved" ||
    fail "(d) the note does not say why: $(last_comment gitlab/notes/6)"
  # (e) A push to main without a merge request.
  before=$(requests)
  gitlab main gl-e push "$(new_sha)"
  [[ $code -eq 1 && "$(pipeline_job gl-e aisearch-apply)" == failed ]] || fail "(e) a push without a merge request: $(cat "$work/gl-e.log")"
  grep -q "no merged merge request for " "$work/gl-e.log" || fail "(e) $(cat "$work/gl-e.log")"
  [[ $(writes_since "$before") -eq 0 ]] || fail "(e) the apply job wrote without a reviewed plan"
  echo "gitlab-ci.yml: ok ($((SECONDS - started)) s)"
}

github_scenarios
gitlab_scenarios
echo "PASS ($((SECONDS - started)) s)"

#!/usr/bin/env bash
# `aisearchd export` against the emulator as a user bootstraps from an existing account (issue
# 17, item 3): the export of instances with varied non-default fields in three namespaces (an R2
# source, a web crawler with include_headers, upload-only storage, odd values) validates; a plan
# of it with no state adopts every instance and does nothing else (exit 2); after apply the plan
# is clean (exit 0). `export NS` exports that namespace only; a failed or partial list exits 1
# with no manifest; two exports differ only in their time line; a rejected token is said once.
set -euo pipefail
source "$(dirname "$0")/lib/emulator.sh"
start_emulator --token export-token --account-id export
export CLOUDFLARE_API_TOKEN=export-token NO_COLOR=1
aisearchd() {  # aisearchd MANIFEST ARGS...
  local manifest=$1
  shift
  "$AISEARCHD_BIN" -m "$manifest" --api-url "$base/client/v4" --account-id export \
    --state-dir "$work/state" "$@"
}
# Export needs no manifest; -m names one that does not exist to show it is not read.
export_() { "$AISEARCHD_BIN" --api-url "$base/client/v4" --account-id export export "$@"; }

# The account as someone built it by hand: defaults mostly, a few fields each changed. The seed
# is not validated, so it also carries what a real API answer may: fields the manifest does not
# know (top level and nested, deeply nested), unicode, quotes, newlines and "${...}" in strings.
deep='"end"'
for _ in $(seq 40); do deep="{\"d\": $deep}"; done
control POST seed "$(cat <<EOF
{"namespaces": [{"name": "team-a", "description": "Team A's knowledge – ünïcode ✓, costs \$5, \${HOME}"},
                {"name": "team-b", "description": "Empty for now"}],
 "instances": [
  {"namespace": "default", "id": "docs", "type": "r2", "source": "docs-bucket",
   "token_id": "2c5a0b7e-1111-2222-3333-444455556666", "chunk_size": 512, "score_threshold": 0.55,
   "indexing_options": {"keyword_tokenizer": "trigram", "use_ocr": false},
   "custom_metadata": [{"field_name": "lang", "data_type": "text"}],
   "sync_interval": 3600, "cache_ttl": 172800, "fusion_method": "RRF",
   "account_tag": "abc", "internal_id": "x-1", "future_field": $deep},
  {"namespace": "team-a", "id": "kb", "type": "web-crawler", "source": "https://support.example.com",
   "max_num_results": 20, "fusion_method": "max", "cache": false,
   "source_params": {"web_crawler": {"parse_type": "sitemap", "future": $deep,
      "parse_options": {"include_headers": {"X-Api-Key": "s3cr3t-header-value", "Accept-Language": "de-CH"},
                        "include_images": true}}},
   "public_endpoint_params": {"enabled": true,
      "rate_limit": {"period_ms": 60000, "requests": 100, "technique": "fixed"}}},
  {"namespace": "team-a", "id": "files", "source": "team-a-files", "paused": true,
   "index_method": {"keyword": false, "vector": true}, "hybrid_search_enabled": false,
   "source_params": {"prefix": "docs/", "include_items": ["**/*.md", "**/*.pdf"], "r2_jurisdiction": "eu"},
   "retrieval_options": {"boost_by": [{"field": "timestamp", "direction": "desc", "dataType": "datetime"}],
                         "keyword_match_mode": "or"},
   "system_prompt_ai_search": "Answer as \"Team A\".\nNever say \${SECRET} or \$\$; ünïcode ✓ 日本語 🙂",
   "chunk": false},
  {"namespace": "team-a", "id": "uploads", "embedding_model": "@cf/qwen/qwen3-embedding-0.6b",
   "chunk_overlap": 0, "metadata": {"worker_domain": "uploads.example.com"}}
 ]}
EOF
)" >/dev/null || fail "could not seed the emulator"

# export: exit 0, a header with the time and what was exported, the secret named (not its
# value) on stderr, the unknown fields said to be left out.
export_ >"$work/export.yaml" 2>"$work/export.err" || fail "export failed: $(cat "$work/export.err")"
grep -q "^# Export time: 20[0-9-]*T[0-9:.]*Z" "$work/export.yaml" || fail "no export time: $(head -5 "$work/export.yaml")"
grep -q "^# Exported by .aisearchd export. from account export: all namespaces (3 namespaces, 4 instances)" \
  "$work/export.yaml" || fail "header: $(head -5 "$work/export.yaml")"
grep -q "team-a/kb: source_params.web_crawler.parse_options.include_headers holds secret values" "$work/export.err" ||
  fail "the secret include_headers are not pointed out: $(cat "$work/export.err")"
grep -q "s3cr3t-header-value" "$work/export.err" && fail "export printed a secret value on stderr"
# (The emulator answers only the fields it knows; a key nested in a known object is passed on.)
grep -q "left out team-a/kb: source_params.web_crawler.future: not a field the manifest knows" "$work/export.err" ||
  fail "an unknown nested key is not said to be left out: $(cat "$work/export.err")"
grep -q "^# Left out: team-a/files: retrieval_options.boost_by\[0\].dataType: not a field the manifest knows" \
  "$work/export.yaml" || fail "the header does not say what was left out: $(head -12 "$work/export.yaml")"
python3 - "$work/export.yaml" <<'EOF' || fail "the exported manifest: $(cat "$work/export.yaml")"
import sys, yaml
m = yaml.safe_load(open(sys.argv[1]))
ns = m["namespaces"]
assert m["apiVersion"] == "aisearchd/v1", m
assert sorted(ns) == ["default", "team-a", "team-b"], sorted(ns)
assert ns["team-b"] == {"description": "Empty for now"}, ns["team-b"]
assert ns["team-a"]["description"].startswith("Team A's knowledge – ünïcode ✓, costs $$5, $${HOME}"), ns["team-a"]
docs = ns["default"]["instances"]["docs"]
# Only what differs from the server's defaults; nothing the server adds, no token_id.
assert docs == {"type": "r2", "source": "docs-bucket", "chunk_size": 512, "score_threshold": 0.55,
                "indexing_options": {"keyword_tokenizer": "trigram"},
                "custom_metadata": [{"field_name": "lang", "data_type": "text"}],
                "sync_interval": 3600}, docs
kb = ns["team-a"]["instances"]["kb"]
assert kb["source_params"] == {"web_crawler": {"parse_options": {
    "include_headers": {"X-Api-Key": "s3cr3t-header-value", "Accept-Language": "de-CH"},
    "include_images": True}}}, kb
assert kb["fusion_method"] == "max" and kb["cache"] is False and kb["max_num_results"] == 20, kb
files = ns["team-a"]["instances"]["files"]
assert "hybrid_search_enabled" not in files and files["index_method"] == {"keyword": False, "vector": True}, files
assert files["retrieval_options"] == {"boost_by": [{"field": "timestamp", "direction": "desc"}],
                                      "keyword_match_mode": "or"}, files
assert files["type"] == "r2" and files["paused"] is True and files["chunk"] is False, files
assert files["system_prompt_ai_search"].startswith('Answer as "Team A".\nNever say $${SECRET} or $$$$;'), files
uploads = ns["team-a"]["instances"]["uploads"]
assert uploads == {"managed": True, "embedding_model": "@cf/qwen/qwen3-embedding-0.6b", "chunk_overlap": 0,
                   "metadata": {"worker_domain": "uploads.example.com"}}, uploads
for n in ns.values():
    for i in n.get("instances", {}).values():
        for key in ("id", "namespace", "status", "created_at", "modified_at", "created_by",
                    "modified_by", "token_id", "sync", "prune", "account_tag", "future_field"):
            assert key not in i, (key, i)
    assert "prune" not in n, n
EOF
# Keys sorted at every level (namespaces, instances, fields).
python3 - "$work/export.yaml" <<'EOF' || fail "keys not sorted"
import sys, yaml
def check(node, where):
    if isinstance(node, dict):
        keys = list(node)
        assert keys == sorted(keys), (where, keys)
        for k, v in node.items(): check(v, where + "/" + str(k))
    elif isinstance(node, list):
        for i, v in enumerate(node): check(v, f"{where}[{i}]")
check(yaml.safe_load(open(sys.argv[1])), "")
EOF

# validate: offline, as CI would.
"$AISEARCHD_BIN" -m "$work/export.yaml" validate >"$work/validate.txt" 2>&1 ||
  fail "the export does not validate: $(cat "$work/validate.txt")"
grep -q "manifest OK: 3 namespaces, 4 instances" "$work/validate.txt" || fail "validate: $(cat "$work/validate.txt")"

# plan with no state: every instance adopted, nothing else (no namespace created or updated).
set +e
aisearchd "$work/export.yaml" plan --detailed-exitcode -o json >"$work/plan.json" 2>"$work/plan.err"
code=$?
set -e
[[ $code -eq 2 ]] || fail "plan of the export exited $code, expected 2: $(cat "$work/plan.err")"
python3 - "$work/plan.json" <<'EOF' || fail "plan of the export: $(cat "$work/plan.json")"
import json, sys
plan = json.load(open(sys.argv[1]))
actions = {(c["action"], c["address"]) for c in plan["changes"]}
assert actions == {("adopt", "default/docs"), ("adopt", "team-a/kb"), ("adopt", "team-a/files"),
                   ("adopt", "team-a/uploads")}, actions
assert plan["summary"]["adopt"] == 4, plan["summary"]
assert not plan["unmanaged"] and not plan["skipped_namespaces"], plan
assert plan["ownership"] == "unknown", plan["ownership"]
EOF
[[ ! -e "$work/state" ]] || fail "plan wrote state"
control GET requests | python3 -c '
import json, sys
writes = [r for r in json.load(sys.stdin) if r["method"] != "GET"]
sys.exit(f"export or plan sent {len(writes)} write(s): {writes}" if writes else 0)' || fail "export wrote remotely"

# apply adopts (no API write), then the plan is clean.
aisearchd "$work/export.yaml" apply >"$work/apply.txt" 2>&1 || fail "apply of the export failed: $(cat "$work/apply.txt")"
aisearchd "$work/export.yaml" plan --detailed-exitcode >"$work/plan-after.txt" 2>&1 ||
  fail "plan after apply is not clean: $(cat "$work/plan-after.txt")"
grep -q "No changes" "$work/plan-after.txt" || fail "plan after apply: $(cat "$work/plan-after.txt")"
control GET requests | python3 -c '
import json, sys
writes = [r for r in json.load(sys.stdin) if r["method"] != "GET"]
sys.exit(f"apply of the export sent {len(writes)} write(s): {writes}" if writes else 0)' || fail "apply wrote remotely"

# Deterministic: a second export is byte-identical apart from its time line.
export_ >"$work/export2.yaml" 2>/dev/null || fail "second export failed"
diff <(grep -v "^# Export time: " "$work/export.yaml") <(grep -v "^# Export time: " "$work/export2.yaml") ||
  fail "two exports differ"

# export NS: that namespace only (and an empty one exports as its description).
export_ team-b >"$work/team-b.yaml" 2>"$work/team-b.err" || fail "export team-b failed: $(cat "$work/team-b.err")"
python3 -c '
import sys, yaml
ns = yaml.safe_load(open(sys.argv[1]))["namespaces"]
assert ns == {"team-b": {"description": "Empty for now"}}, ns' "$work/team-b.yaml" || fail "export team-b: $(cat "$work/team-b.yaml")"
grep -q "^# Exported by .aisearchd export. from account export: namespaces team-b (1 namespace, 0 instances)" \
  "$work/team-b.yaml" || fail "header of export team-b: $(head -3 "$work/team-b.yaml")"
export_ default >"$work/default.yaml" 2>/dev/null || fail "export default failed"
python3 -c '
import sys, yaml
ns = yaml.safe_load(open(sys.argv[1]))["namespaces"]
assert list(ns) == ["default"] and list(ns["default"]["instances"]) == ["docs"], ns' "$work/default.yaml" ||
  fail "export default: $(cat "$work/default.yaml")"

# Bad remote values never crash the export or make it print what does not validate: an id no
# manifest can declare, a source the manifest rejects, values of the wrong kind or out of range,
# too many headers. What cannot be written is left out, said on stderr and in the header.
control POST seed '{"namespaces": [{"name": "odd"}], "instances": [
  {"namespace": "odd", "id": "Bad Id", "source": "bucket-ok"},
  {"namespace": "odd", "id": "badbucket", "type": "r2", "source": "Not A Bucket"},
  {"namespace": "odd", "id": "nosrc", "source": 42},
  {"namespace": "odd", "id": "weird", "source": "https://x.example.com", "chunk_size": "x",
   "cache_ttl": 601, "score_threshold": 7, "max_num_results": 12.0,
   "metadata": {"worker_domain": {"deep": [1, 2, {"x": null}]}},
   "source_params": {"web_crawler": {"parse_options": {"include_headers":
      {"a": "1", "b": "2", "c": "3", "d": "4", "e": "5", "f": "6"}}}}}]}' >/dev/null || fail "could not seed odd values"
export_ odd >"$work/odd.yaml" 2>"$work/odd.err" || fail "export of odd values failed: $(cat "$work/odd.err")"
for expected in "odd/Bad Id: a manifest cannot declare this id" "odd/weird: chunk_size: expected an integer" \
  "odd/weird: score_threshold: out of range" "odd/weird: cache_ttl: not one of the values the API allows" \
  "odd/weird: source_params.web_crawler.parse_options.include_headers: more than 5 entries" \
  "odd/badbucket: the whole instance: " "odd/nosrc: the whole instance: "; do
  grep -qF "left out $expected" "$work/odd.err" || fail "export of odd values: no \"$expected\": $(cat "$work/odd.err")"
  grep -qF "# Left out: $expected" "$work/odd.yaml" || fail "header of the odd export: no \"$expected\""
done
"$AISEARCHD_BIN" -m "$work/odd.yaml" validate >/dev/null 2>&1 || fail "the odd export does not validate: $(cat "$work/odd.yaml")"
set +e
"$AISEARCHD_BIN" -m "$work/odd.yaml" --api-url "$base/client/v4" --account-id export \
  --state-dir "$work/odd-state" plan --detailed-exitcode -o json >"$work/odd-plan.json" 2>/dev/null
code=$?
set -e
[[ $code -eq 2 ]] || fail "plan of the odd export exited $code"
python3 -c '
import json, sys
plan = json.load(open(sys.argv[1]))
actions = {(c["action"], c["address"]) for c in plan["changes"]}
assert actions == {("adopt", "odd/weird")}, actions' "$work/odd-plan.json" || fail "plan of the odd export: $(cat "$work/odd-plan.json")"

# Errors: exit 1, nothing on stdout, one clear line.
expect_failure() {  # expect_failure "message" args...
  local message=$1 code
  shift
  set +e
  export_ "$@" >"$work/fail.out" 2>"$work/fail.err"
  code=$?
  set -e
  [[ $code -eq 1 ]] || fail "export $* exited $code: $(cat "$work/fail.err")"
  [[ ! -s "$work/fail.out" ]] || fail "export $* printed a manifest although it failed: $(cat "$work/fail.out")"
  grep -qF -- "$message" "$work/fail.err" || fail "export $*: expected \"$message\", got: $(cat "$work/fail.err")"
}
expect_failure 'could not list nope: no such namespace' nope
expect_failure '"Bad_Name" is not a namespace name' Bad_Name
expect_failure 'export writes a YAML manifest only' -o json
expect_failure 'export writes a YAML manifest only' -o markdown
# A partial list (a page comes back one item short) of one namespace fails the whole export.
control PUT config '{"fault_rate": 1, "faults": ["short"], "fault_path": "/namespaces/team-a/instances"}' >/dev/null
expect_failure 'could not list team-a: list failed' 
expect_failure 'could not list team-a: list failed' team-a
# A namespace list that keeps failing (500 after every retry) too.
control PUT config '{"fault_rate": 1, "faults": ["500"], "fault_path": "/ai-search/namespaces", "fault_methods": ["GET"]}' >/dev/null
expect_failure 'the namespace list failed' 
control PUT config '{"fault_rate": 0}' >/dev/null
# A token the API refuses is said once, and never printed.
set +e
CLOUDFLARE_API_TOKEN=wrong-token-5e2a export_ >"$work/rejected.out" 2>"$work/rejected.err"
code=$?
set -e
[[ $code -eq 1 ]] || fail "export with a rejected token exited $code"
[[ ! -s "$work/rejected.out" ]] || fail "export with a rejected token printed: $(cat "$work/rejected.out")"
[[ $(grep -c "the API token was rejected (HTTP 401)" "$work/rejected.err") -eq 1 ]] ||
  fail "export with a rejected token: $(cat "$work/rejected.err")"
grep -q "wrong-token-5e2a" "$work/rejected.err" && fail "export printed the token"
echo "ok"

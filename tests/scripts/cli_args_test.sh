#!/usr/bin/env bash
# Flags a user can get wrong get a clear error (exit 1) from every command, never a silent
# misreading (issue 18, item 1): a single-dash long option was read as a cluster of short ones
# (`-out` as `-o "ut"`); an unknown --log-level, --log-format or -o passed `validate`.
# `-out FILE` is Terraform's spelling of --out FILE and means it (tests/scripts/saved_plan_test.sh).
set -euo pipefail
fail() { echo "FAIL: $*"; exit 1; }
manifest="$SOURCE_DIR/examples/demo/aisearch.yaml"
expect_error() {  # expect_error "message" args...
  local message=$1 out code
  shift
  set +e
  out=$("$AISEARCHD_BIN" "$@" 2>&1)
  code=$?
  set -e
  [[ $code -eq 1 ]] || fail "aisearchd $* exited $code: $out"
  grep -qF -- "$message" <<<"$out" || fail "aisearchd $*: expected \"$message\", got: $out"
}
expect_error '-outfile: long options take two dashes (--outfile)' plan -outfile plan.json -m "$manifest"
expect_error 'validate: --out is not an option of validate (it is for plan' validate -out plan.json -m "$manifest"
expect_error 'validate: --target is not an option of validate (it is for plan, apply, sync, status' validate --target default/docs -m "$manifest"
expect_error 'plan: "docs" is not NAMESPACE/ID' plan --target docs -m "$manifest"
expect_error '-detailed-exitcode: long options take two dashes' -m "$manifest" plan -detailed-exitcode
expect_error '--log-level: "loud" is not one of trace|debug|info|warn|error' validate --log-level loud -m "$manifest"
expect_error '--log-format: "yaml" is not one of text|json' validate --log-format yaml -m "$manifest"
expect_error '-o/--output: "yaml" is not one of text|json|markdown' validate -o yaml -m "$manifest"
expect_error 'unknown command "frobnicate"' frobnicate
# An address is NAMESPACE/ID for every command that takes one, never a guessed namespace.
expect_error 'adopt: "badformat" is not NAMESPACE/ID (e.g. default/badformat)' adopt badformat
expect_error 'forget: "a/b/c" is not NAMESPACE/ID' forget a/b/c
expect_error 'sync: "/docs" is not NAMESPACE/ID' sync /docs
# Every sync target is checked before the first job starts (no manifest, token or API needed).
expect_error 'sync: "default/a/" is not NAMESPACE/ID' sync --target default/docs --target default/a/
expect_error '-target=x: long options take two dashes (--target=x)' plan -target=x
# Short options with their value after a space, and long ones, still work.
"$AISEARCHD_BIN" validate -o json -m "$manifest" | python3 -c 'import json, sys; json.load(sys.stdin)' ||
  fail "validate -o json -m FILE does not print JSON"
"$AISEARCHD_BIN" validate --log-level warn --output text -m "$manifest" | grep -q "manifest OK" ||
  fail "validate with long options failed"
echo "cli args: ok"

#!/usr/bin/env bash
# `aisearchd schema` against the manifests: every example passes the JSON Schema, and every
# invalid-corpus case whose rule the schema can express fails it (python3-jsonschema).
set -euo pipefail
: "${AISEARCHD_BIN:?set AISEARCHD_BIN to the aisearchd binary}"
SOURCE_DIR=${SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if ! "$AISEARCHD_BIN" schema > "$work/schema.json" 2> "$work/schema.err"; then
  echo "FAIL: '$AISEARCHD_BIN schema' failed:" >&2
  cat "$work/schema.err" >&2
  exit 1
fi
if ! python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$work/schema.json" 2>/dev/null; then
  echo "FAIL: '$AISEARCHD_BIN schema' did not print a JSON document (is the command wired?):" >&2
  head -c 600 "$work/schema.json" >&2
  exit 1
fi
exec python3 "$(dirname "$0")/schema_check.py" "$work/schema.json" "$SOURCE_DIR"

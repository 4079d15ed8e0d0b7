#!/usr/bin/env bash
# Logs as a log pipeline reads them (issue 18, item 2), from a real `apply` against the emulator:
# under journald ($JOURNAL_STREAM) every stderr line starts with its sd-daemon priority ("<6>"
# info, "<4>" warning, ...), so `journalctl -p warning` works; `--log-format json` lines are JSON
# objects whose action lines carry action, namespace, instance, fields and result as fields.
set -euo pipefail
source "$(dirname "$0")/lib/emulator.sh"
start_emulator --token log-token --account-id logs --job-duration 300ms --job-cooldown 0s
export CLOUDFLARE_API_TOKEN=log-token NO_COLOR=1
run() {
  "$AISEARCHD_BIN" -m "$SOURCE_DIR/examples/demo/aisearch.yaml" --api-url "$base/client/v4" \
    --account-id logs --state-dir "$work/state-$1" "${@:2}"
}

# JSON under journald: "<N>{...}" on every line; the five creates as structured fields.
JOURNAL_STREAM=8:12345 run json apply --log-format json >/dev/null 2>"$work/json.err" || fail "apply: $(cat "$work/json.err")"
python3 - "$work/json.err" <<'PY' || fail "JSON log lines under journald: $(cat "$work/json.err")"
import json, re, sys
priorities = {"trace": 7, "debug": 7, "info": 6, "warning": 4, "error": 3, "critical": 2}
actions = []
for line in open(sys.argv[1]):
    m = re.match(r"<(\d)>(.*)$", line.rstrip("\n"))
    assert m, f"no priority prefix: {line!r}"
    obj = json.loads(m.group(2))
    assert int(m.group(1)) == priorities[obj["level"]], line
    assert "time" not in obj, "journald stamps lines itself"
    if "action" in obj:
        actions.append(obj)
creates = sorted((a["namespace"], a["instance"]) for a in actions if a["action"] == "create")
assert creates == [("default", "blog"), ("default", "docs"), ("default", "notes"), ("support", "faq")], creates
for a in actions:
    assert a["result"] == "done" and isinstance(a["fields"], list), a
docs = [a for a in actions if a.get("instance") == "docs"][0]
assert "token_id" in docs["fields"] and "type" in docs["fields"], docs
# A namespace's action keeps its verb and has no instance.
ns = [a for a in actions if a["action"].startswith("namespace")]
assert [(a["action"], a["namespace"]) for a in ns] == [("namespace_create", "support")], ns
assert all("instance" not in a for a in ns), ns
PY

# Text under journald: "<6>info: ..."; a failure is a warning ("<4>") that `journalctl -p
# warning` shows. A bad token gives no action line; make the emulator fail creates instead.
curl -fsS -X POST -H "Content-Type: application/json" --data-binary "{}" "$base/__emulator/reset" >/dev/null || fail "emulator reset"
curl -fsS -X PATCH -H 'Content-Type: application/json' \
  --data-binary '{"faults": "500", "fault_rate": 1.0, "fault_methods": "POST", "fault_path": "/instances"}' \
  "$base/__emulator/config" >/dev/null || fail "emulator config"
JOURNAL_STREAM=8:12345 run text apply >/dev/null 2>"$work/text.err" || true
python3 - "$work/text.err" <<'PY' || fail "text log lines under journald: $(cat "$work/text.err")"
import re, sys
lines = open(sys.argv[1]).read().splitlines()
assert lines, "no log lines"
for line in lines:
    m = re.match(r"<(\d)>(trace|debug|info|warning|error|critical): ", line)
    assert m, f"no priority prefix: {line!r}"
    want = {"trace": "7", "debug": "7", "info": "6", "warning": "4", "error": "3", "critical": "2"}[m.group(2)]
    assert m.group(1) == want, line
assert any(l.startswith("<4>warning: action=create") for l in lines), "a failed create is not a warning line"
PY
# Outside journald no prefix.
run plain plan --log-level debug >/dev/null 2>"$work/plain.err" || true
grep -q '^<' "$work/plain.err" && fail "a priority prefix outside journald: $(head -3 "$work/plain.err")"
echo PASS

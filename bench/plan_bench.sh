#!/usr/bin/env bash
# Plan of 10,000 instances in 20 namespaces against the emulator at 50 ms latency: the request count
# must equal the list pages (sum of ceil(n/100)) plus the namespace list; prints the wall time.
# Usage: bench/plan_bench.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
source bench/lib.sh
bench_start_emulator
python3 - "$WORK" <<'PY'
import json, sys
work = sys.argv[1]
lines = ["apiVersion: aisearchd/v1", "namespaces:"]
seed = {"namespaces": [], "instances": []}
for ns in range(20):
    name = f"team-{ns:02d}"
    seed["namespaces"].append({"name": name})
    lines += [f"  {name}:", "    instances:"]
    for i in range(500):
        lines.append(f"      i{i:03d}: {{type: r2, source: b-{ns}-{i}, chunk_size: 512}}")
        seed["instances"].append({"id": f"i{i:03d}", "namespace": name, "type": "r2",
                                  "source": f"b-{ns}-{i}", "chunk_size": 512})
open(f"{work}/manifest.yaml", "w").write("\n".join(lines) + "\n")
json.dump(seed, open(f"{work}/seed.json", "w"))
PY
control POST seed "@$WORK/seed.json" >/dev/null
control PUT config '{"latency_ms": 50}' >/dev/null
control DELETE requests >/dev/null
printf 'request_budget: 100000/5m\nconcurrency: 8\n' >"$WORK/config.yaml"
start=$(now_ms)
"$AISEARCHD" -c "$WORK/config.yaml" -m "$WORK/manifest.yaml" --api-url "$BASE/client/v4" --account-id bench \
  --state-dir "$WORK/state" --detailed-exitcode plan >"$WORK/plan.txt" || code=$?
end=$(now_ms)
control GET requests | python3 -c '
import json, sys
verdict = lambda ok: "met" if ok else "NOT met"
log = json.load(sys.stdin)
expected = 20 * -(-500 // 100) + 1
wall = (int(sys.argv[1]) - int(sys.argv[2])) / 1000
print(f"plan 10,000 instances / 20 namespaces @50ms: {len(log)} requests (expected {expected}: "
      f"{verdict(len(log) == expected)}), wall {wall:.2f}s, exit code {sys.argv[3]} (0 = no changes)")
' "$end" "$start" "${code:-0}"

#!/usr/bin/env bash
# Apply of 1,000 creates at 50 ms emulator latency, concurrency 8, request budget out of the way.
# Prints the wall time, the target (1.3 x 1,000 x 50 ms / 8) and the write count (one per change).
# Usage: bench/apply_bench.sh [BUILD_DIR]   (build first: cmake --build build)
# Env: BENCH_LOG_LEVEL (aisearchd --log-level, default error; its log goes to stderr),
#      BENCH_REQUEST_LOG=FILE (keep the emulator's request log), BENCH_WRAP="/usr/bin/time -v"
#      (a command prefix for aisearchd), BENCH_VERBOSE=1 (print the start time in ms to stderr),
#      AISEARCHD_BIN / EMULATOR_BIN (binaries other than BUILD_DIR's).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
source bench/lib.sh
bench_start_emulator --latency-ms 50
python3 - "$WORK/manifest.yaml" <<'PY'
import sys
lines = ["apiVersion: aisearchd/v1", "namespaces:", "  default:", "    instances:"]
lines += [f"      i{n:04d}: {{type: r2, source: bucket-{n}, chunk_size: 512}}" for n in range(1000)]
open(sys.argv[1], "w").write("\n".join(lines) + "\n")
PY
printf 'request_budget: 100000/5m\nconcurrency: 8\n' >"$WORK/config.yaml"
control DELETE requests >/dev/null
start=$(now_ms)
[[ -n "${BENCH_VERBOSE:-}" ]] && echo "start $start" >&2
${BENCH_WRAP:-} "$AISEARCHD" -c "$WORK/config.yaml" -m "$WORK/manifest.yaml" --api-url "$BASE/client/v4" --account-id bench \
  --state-dir "$WORK/state" --log-level ${BENCH_LOG_LEVEL:-error} apply >/dev/null
end=$(now_ms)
control GET requests >"$WORK/requests.json"
[[ -n "${BENCH_REQUEST_LOG:-}" ]] && cp "$WORK/requests.json" "$BENCH_REQUEST_LOG"
python3 -c '
import json, sys
verdict = lambda ok: "met" if ok else "NOT met"
wall = (int(sys.argv[1]) - int(sys.argv[2])) / 1000
log = json.load(sys.stdin)
writes = sum(1 for r in log if r["method"] in ("POST", "PUT", "PATCH", "DELETE"))
ideal = 1000 * 0.050 / 8
print(f"apply 1,000 creates @50ms, concurrency 8: wall {wall:.2f}s, ideal {ideal:.2f}s, "
      f"ratio {wall/ideal:.2f} (target <= 1.30: {verdict(wall/ideal <= 1.3)})")
print(f"requests {len(log)}, writes {writes} (target: exactly 1,000 = one per change: {verdict(writes == 1000)})")
# Where the time goes: the server side of each POST, and how many were in flight on average
# between the first and the last (8 = the client never idles between requests).
posts = [r for r in log if r["method"] == "POST"]
if posts:
    begin = min(r["time_ms"] for r in posts)
    finish = max(r["time_ms"] + r["duration_ms"] for r in posts)
    busy = sum(r["duration_ms"] for r in posts)
    print(f"emulator: POST mean {busy / len(posts):.1f} ms, first to last {(finish - begin) / 1000:.2f}s, "
          f"mean in flight {busy / max(1, finish - begin):.2f}")
' "$end" "$start" <"$WORK/requests.json"

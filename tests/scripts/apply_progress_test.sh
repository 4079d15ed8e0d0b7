#!/usr/bin/env bash
# Issue 17 (a long apply is silent): a 1,000-create apply against the emulator under a request
# budget that throttles it (30 calls/s, some 33 s of waiting). stderr is read as a stream, each
# line timed as it arrives: progress lines at most 10 s apart (12 s allowed for a busy machine),
# exactly one "throttling started" line; stdout has 1,000 per-action result lines, numbered
# 1..1000 as they finished, and the closing counter on stderr equals the apply's own summary.
# Then an apply with -o json: stdout is the JSON document alone, progress only on stderr.
set -euo pipefail
source "$(dirname "$0")/lib/emulator.sh"
start_emulator --token progress-token --account-id progress --job-cooldown 0s
export CLOUDFLARE_API_TOKEN=progress-token NO_COLOR=1

python3 - "$work/aisearch.yaml" 1000 512 <<'PY'
import sys
lines = ["apiVersion: aisearchd/v1", "namespaces:", "  default:", "    instances:"]
lines += [f"      i{n:04d}: {{type: r2, source: bucket-{n}, chunk_size: {sys.argv[3]}}}" for n in range(int(sys.argv[2]))]
open(sys.argv[1], "w").write("\n".join(lines) + "\n")
PY
# 30 calls per second (a burst of 30, then one every 33 ms); the emulator answers faster, so the
# budget throttles the whole apply (~32 s).
printf 'request_budget: 30/1s\nconcurrency: 8\n' >"$work/config.yaml"

python3 - "$AISEARCHD_BIN" "$base" "$work" <<'PY' || fail "apply progress (see above)"
import json, re, subprocess, sys, time
binary, base, work = sys.argv[1:4]
cmd = [binary, "-c", f"{work}/config.yaml", "-m", f"{work}/aisearch.yaml", "--api-url", f"{base}/client/v4",
       "--account-id", "progress", "--state-dir", f"{work}/state", "apply"]
problems = []
begin = time.monotonic()
with open(f"{work}/apply.out", "w") as out:
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.PIPE, text=True)
    arrivals = []  # (seconds since start, line)
    for line in proc.stderr:
        arrivals.append((time.monotonic() - begin, line.rstrip("\n")))
    code = proc.wait()
end = time.monotonic() - begin
stdout = open(f"{work}/apply.out").read().splitlines()
progress = [(t, l) for t, l in arrivals if re.match(r"^\[\d+/1000\] ", l)]
print(f"apply: exit {code} in {end:.1f} s; {len(progress)} progress lines on stderr")
for t, l in progress[:3] + progress[-2:]:
    print(f"  {t:6.1f}s {l}")
if code != 0:
    problems.append(f"apply exited {code}: {[l for _, l in arrivals][-5:]}")
if end > 90:
    problems.append(f"the apply took {end:.0f} s (the test wants < 90 s: the budget is too tight for this machine)")
# Progress at least every 10 s (12 s allowed): from the start, between lines, to the end.
times = [0.0] + [t for t, _ in progress] + [end]
gaps = [b - a for a, b in zip(times, times[1:])]
if len(progress) < 2:
    problems.append(f"only {len(progress)} progress line(s) in {end:.0f} s")
elif max(gaps) > 12:
    problems.append(f"a {max(gaps):.1f} s gap between progress lines: {[round(g, 1) for g in gaps]}")
throttle = [l for _, l in arrivals if "throttling started" in l]
if len(throttle) != 1:
    problems.append(f"{len(throttle)} 'throttling started' lines, expected exactly 1: {throttle}")
else:
    print(f"  {throttle[0]}")
stopped = [l for _, l in arrivals if "throttling stopped" in l]
if len(stopped) > 1:
    problems.append(f"'throttling stopped' said {len(stopped)} times: {stopped}")
if not any("waiting on request budget" in l for _, l in progress):
    problems.append("no progress line says it is waiting on the request budget")
# stdout: 1,000 result lines, numbered 1..1000 in the order they finished, each instance once.
results = [re.match(r"^\[(\d+)/1000\] (done|failed|blocked|skipped) +create default/(i\d{4})", l) for l in stdout]
results = [m for m in results if m]
if len(results) != 1000:
    problems.append(f"{len(results)} per-action result lines on stdout, expected 1000")
if [int(m.group(1)) for m in results] != list(range(1, len(results) + 1)):
    problems.append("the result lines are not numbered 1..N in order")
if len({m.group(3) for m in results}) != len(results):
    problems.append("an instance has two result lines")
# The closing counter equals the apply's own summary (and the result lines).
summary = [re.match(r"^Apply complete: (\d+) done, (\d+) failed, (\d+) blocked", l) for l in stdout]
summary = [m for m in summary if m]
closing = re.match(r"^\[(\d+)/1000\] (\d+) failed.* finished in ", progress[-1][1]) if progress else None
if not summary or not closing:
    problems.append(f"no summary ({bool(summary)}) or closing counter ({progress[-1][1] if progress else None})")
else:
    done, failed, blocked = (int(x) for x in summary[-1].groups())
    if (int(closing.group(1)), int(closing.group(2))) != (done + failed + blocked, failed):
        problems.append(f"closing counter {progress[-1][1]!r} vs summary {summary[-1].group(0)!r}")
    if sum(m.group(2) == "done" for m in results) != done or sum(m.group(2) == "failed" for m in results) != failed:
        problems.append("the result lines' statuses do not add up to the summary")
    if done != 1000:
        problems.append(f"{done} done, expected 1000")
    print(f"  summary: {summary[-1].group(0)}; closing: {progress[-1][1]}")

# -o json: stdout is one JSON document, nothing else; progress stays on stderr.
text = open(f"{work}/aisearch.yaml").read().replace("chunk_size: 512", "chunk_size: 1024", 40)
open(f"{work}/aisearch.yaml", "w").write(text)
run = subprocess.run(cmd + ["-o", "json"], capture_output=True, text=True)
try:
    doc = json.loads(run.stdout)
    if doc["summary"]["done"] != 40:
        problems.append(f"-o json: summary {doc['summary']}, expected 40 done")
except (ValueError, KeyError) as e:
    problems.append(f"-o json: stdout is not the JSON document alone ({e}): {run.stdout[:300]!r}")
if run.returncode != 0:
    problems.append(f"apply -o json exited {run.returncode}: {run.stderr[-500:]}")
for p in problems:
    print("FAIL:", p)
sys.exit(1 if problems else 0)
PY
echo "PASS"

#!/usr/bin/env bash
# Issue 17: `sync NS/ID --timeout DURATION` against the emulator with jobs that run 10 minutes.
# While it waits it prints the job's progress on stderr (a line every 10 s off a terminal: job id,
# time waited, the job's last log line); when the timeout passes it stops waiting, says so and
# that the job keeps running remotely, and exits 1; the job is still running on the server. A
# second sync meanwhile (concurrency: forbid) waits for that job, times out and starts none.
# A bad --timeout, or --timeout on another command, is an error before anything is sent.
set -euo pipefail
source "$(dirname "$0")/lib/emulator.sh"
start_emulator --token sync-token --account-id synct --job-duration 10m --job-cooldown 0s
export CLOUDFLARE_API_TOKEN=sync-token NO_COLOR=1
cat >"$work/aisearch.yaml" <<'YAML'
apiVersion: aisearchd/v1
namespaces:
  default:
    instances:
      docs: { type: r2, source: docs-bucket }
YAML
run() {
  "$AISEARCHD_BIN" -m "$work/aisearch.yaml" --api-url "$base/client/v4" --account-id synct \
    --state-dir "$work/state" "$@"
}
run apply >/dev/null 2>&1 || fail "apply failed"

# Bad values: exit 1 at once, nothing sent.
for bad in "--timeout soon" "--timeout 0s"; do
  set +e
  # shellcheck disable=SC2086
  run sync default/docs $bad >"$work/bad.out" 2>&1
  code=$?
  set -e
  [[ $code -eq 1 ]] || fail "sync $bad exited $code"
  grep -q -- "--timeout" "$work/bad.out" || fail "sync $bad: $(cat "$work/bad.out")"
done
set +e
run plan --timeout 5m >"$work/other.out" 2>&1
code=$?
set -e
[[ $code -eq 1 ]] && grep -q -- "--timeout is not an option of plan (it is for sync" "$work/other.out" ||
  fail "plan --timeout: exit $code: $(cat "$work/other.out")"

python3 - "$AISEARCHD_BIN" "$base" "$work" <<'PY' || fail "sync --timeout (see above)"
import json, re, subprocess, sys, time, urllib.request
binary, base, work = sys.argv[1:4]
cmd = [binary, "-m", f"{work}/aisearch.yaml", "--api-url", f"{base}/client/v4", "--account-id", "synct",
       "--state-dir", f"{work}/state", "sync", "default/docs", "--timeout", "22s"]
problems = []
begin = time.monotonic()
proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
arrivals = []
for line in proc.stderr:
    arrivals.append((time.monotonic() - begin, line.rstrip("\n")))
code = proc.wait()
end = time.monotonic() - begin
stdout = proc.stdout.read()
for t, l in arrivals:
    print(f"  {t:5.1f}s {l}")
print(f"sync: exit {code} after {end:.1f} s")
if code != 1:
    problems.append(f"exit {code}, expected 1")
if not 21 <= end <= 40:
    problems.append(f"returned after {end:.1f} s with --timeout 22s")
progress = [(t, l) for t, l in arrivals if re.match(r"^default/docs: job \S+ running, waited \d+s of 22s \(--timeout\)", l)]
if len(progress) < 2:
    problems.append(f"{len(progress)} progress lines in {end:.0f} s, expected one every 10 s")
times = [0.0] + [t for t, _ in progress]
if progress and max(b - a for a, b in zip(times, times[1:])) > 12:
    problems.append(f"progress lines too far apart: {times}")
gave_up = [l for _, l in arrivals if "stopped waiting after 22s (--timeout)" in l]
if len(gave_up) != 1 or "keeps running remotely" not in gave_up[0]:
    problems.append(f"no single 'stopped waiting ... keeps running remotely' line: {gave_up}")
if stdout.strip():
    problems.append(f"stdout after a timeout: {stdout!r}")
# The job is still running on the server: aisearchd did not cancel it.
job = re.search(r"job (\S+) keeps running", gave_up[0]).group(1) if gave_up else None
req = urllib.request.Request(f"{base}/client/v4/accounts/synct/ai-search/namespaces/default/instances/docs/jobs",
                             headers={"Authorization": "Bearer sync-token"})
jobs = json.load(urllib.request.urlopen(req))["result"]
running = [j for j in jobs if j["id"] == job and j.get("ended_at") is None]
if not running:
    problems.append(f"job {job} is not running on the server: {jobs}")

# Again while that job runs: under forbid the command waits for it to end before starting one;
# the timeout passes first: it says no job was started, and none was.
begin = time.monotonic()
again = subprocess.run(cmd[:-1] + ["12s"], capture_output=True, text=True)
took = time.monotonic() - begin
print(again.stderr, end="")
print(f"sync (job running): exit {again.returncode} after {took:.1f} s")
if again.returncode != 1 or not 11 <= took <= 30:
    problems.append(f"the second sync exited {again.returncode} after {took:.1f} s")
if f"stopped waiting after 12s (--timeout) for the running job {job} to end; no job was started" not in again.stderr:
    problems.append("the second sync does not say it gave up waiting for the running job")
if "running (waiting for its end before starting one)" not in again.stderr:
    problems.append("no progress line while waiting for the running job")
jobs_after = json.load(urllib.request.urlopen(req))["result"]
if len(jobs_after) != len(jobs):
    problems.append(f"the second sync started a job: {len(jobs)} -> {len(jobs_after)} jobs")
for p in problems:
    print("FAIL:", p)
sys.exit(1 if problems else 0)
PY
echo "PASS"

"""kill -9 during apply (after a chosen number of writes): the state survives and the next apply converges (run by apply_kill_test.sh)."""
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

AISEARCHD = os.environ["AISEARCHD_BIN"]
EMULATOR = os.environ["EMULATOR_BIN"]
TRIALS = 12
INSTANCES = 120


def start_emulator(work):
    out = open(os.path.join(work, "emulator.out"), "w+")
    proc = subprocess.Popen([EMULATOR, "--port", "0", "--token", "kill-token", "--account-id", "acc",
                             "--latency-ms", "30"], stdout=out, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60  # for a busy machine
    while time.monotonic() < deadline:
        out.seek(0)
        line = out.readline()
        if line.startswith("listening on "):
            return proc, line.split()[-1].strip()
        time.sleep(0.05)
    proc.kill()
    sys.exit("emulator did not start")


def control(base, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"{base}/__emulator/{path}", data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read() or b"null")


def write_manifest(path, chunk_size):
    lines = ["apiVersion: aisearchd/v1", "namespaces:", "  default:", "    instances:"]
    for i in range(INSTANCES):
        lines.append(f"      inst-{i:03d}: {{type: r2, source: bucket-{i}, chunk_size: {chunk_size}}}")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def run(args, env, base, work, **kw):
    cmd = [AISEARCHD, "--api-url", f"{base}/client/v4", "--account-id", "acc", "--state-dir",
           os.path.join(work, "state"), "-m", os.path.join(work, "manifest.yaml"), "--log-level", "error"] + args
    return subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300, **kw)


def main():
    rng = random.Random(1128)
    work = tempfile.mkdtemp(prefix="aisearchd-kill-")
    env = dict(os.environ, CLOUDFLARE_API_TOKEN="kill-token", NO_COLOR="1")
    emulator, base = start_emulator(work)
    failures = []
    kills_mid_apply = 0
    try:
        for trial in range(TRIALS):
            control(base, "POST", "reset")
            shutil.rmtree(os.path.join(work, "state"), ignore_errors=True)
            # Even trials: INSTANCES creates. Odd trials: converge first, then INSTANCES updates.
            write_manifest(os.path.join(work, "manifest.yaml"), 512)
            if trial % 2:
                r = run(["apply"], env, base, work)
                assert r.returncode == 0, r.stderr.decode()
                write_manifest(os.path.join(work, "manifest.yaml"), 1024)
            cmd_base = [AISEARCHD, "--api-url", f"{base}/client/v4", "--account-id", "acc", "--state-dir",
                        os.path.join(work, "state"), "-m", os.path.join(work, "manifest.yaml"),
                        "--log-level", "error", "apply"]
            # The kill lands after the k-th write the emulator has received (k drawn per trial), however
            # fast or busy the machine is: a polled condition, not a sleep.
            control(base, "DELETE", "requests")
            k = rng.randint(1, INSTANCES // 2)
            proc = subprocess.Popen(cmd_base, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + 240
            while proc.poll() is None and time.monotonic() < deadline:
                writes = [e for e in control(base, "GET", "requests") if e["method"] in ("POST", "PUT")]
                if len(writes) >= k:
                    break
                time.sleep(0.005)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills_mid_apply += 1 if proc.returncode == -signal.SIGKILL else 0
            state_path = os.path.join(work, "state", "state.json")
            if os.path.exists(state_path):
                try:
                    with open(state_path) as f:
                        json.load(f)
                except ValueError as e:
                    failures.append(f"trial {trial}: state.json does not parse: {e}")
                    continue
            r = run(["apply"], env, base, work)
            if r.returncode != 0:
                failures.append(f"trial {trial}: apply after kill exited {r.returncode}: {r.stderr.decode()[-500:]}")
                continue
            r = run(["plan", "--detailed-exitcode"], env, base, work)
            if r.returncode != 0:
                failures.append(f"trial {trial}: plan after recovery exited {r.returncode}")
                continue
            with open(state_path) as f:
                state = json.load(f)
            owned = state.get("owned", {})
            if len(owned) != INSTANCES:
                failures.append(f"trial {trial}: state owns {len(owned)} instances, expected {INSTANCES}")
            dump = control(base, "GET", "state")
            if len(dump["instances"]) != INSTANCES:
                failures.append(f"trial {trial}: remote has {len(dump['instances'])} instances")
            deletes = [e for e in control(base, "GET", "requests") if e["method"] == "DELETE"]
            if deletes:
                failures.append(f"trial {trial}: {len(deletes)} DELETE requests")
            print(f"trial {trial}: ok")
    finally:
        emulator.terminate()
        emulator.wait()
        shutil.rmtree(work, ignore_errors=True)
    # The kills must land during the apply (the test's point): an apply that ended before the poll
    # saw its k-th write proved nothing. A starved poller may miss one now and then; most must land.
    print(f"{kills_mid_apply} of {TRIALS} kills landed during the apply")
    if kills_mid_apply < TRIALS * 3 // 4:
        failures.append(f"only {kills_mid_apply} of {TRIALS} kills landed during the apply")
    for f in failures:
        print("FAIL:", f)
    print(f"{TRIALS - len(failures)} passed, {len(failures)} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()

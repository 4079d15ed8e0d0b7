"""The process and its files against a hostile machine (issue 14): a crash leaves no core dump
(the token is in memory), the unit says LimitCORE=0 and LimitNOFILE=, `validate` refuses a
`listen` that `run` would refuse, and state_dir refuses what others could plant in it."""
import os
import resource
import shutil
import signal
import subprocess
import tempfile

import hostile as h


def core_dump(work, base):
    """A forced crash (SIGSEGV, SIGABRT) of a daemon holding the token leaves no core, even when
    the parent allows unlimited cores."""
    h.write_manifest(os.path.join(work, "manifest.yaml"))
    cwd = os.path.join(work, "cwd")
    os.makedirs(cwd)
    for sig in (signal.SIGSEGV, signal.SIGABRT):
        log = open(os.path.join(work, f"daemon-{sig}.log"), "w+")

        def allow_cores():
            resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))

        # Under ASan the signal must reach the process as it would without it.
        env = dict(os.environ, CLOUDFLARE_API_TOKEN=h.TOKEN, NO_COLOR="1",
                   ASAN_OPTIONS="handle_segv=0:handle_abort=0")
        proc = subprocess.Popen(
            [h.AISEARCHD, "run", "--api-url", f"{base}/client/v4", "--account-id", h.ACCOUNT,
             "--state-dir", os.path.join(work, "state"), "-m", os.path.join(work, "manifest.yaml"),
             "--listen", "127.0.0.1:0"],
            env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, preexec_fn=allow_cores)
        started = h.wait_for_line(log, r"http listening on", 30)
        h.check(started is not None, f"daemon started ({sig.name})")
        limits = open(f"/proc/{proc.pid}/limits").read()
        core_line = [l for l in limits.splitlines() if l.startswith("Max core file size")]
        h.check(bool(core_line) and core_line[0].split()[4:6] == ["0", "0"],
                f"the daemon's core limit is 0 ({core_line})")
        proc.send_signal(sig)
        _, status = os.waitpid(proc.pid, 0)
        proc.returncode = 0
        h.check(os.WIFSIGNALED(status) and os.WTERMSIG(status) == sig, f"killed by {sig.name}")
        h.check(not os.WCOREDUMP(status), f"{sig.name}: no core dumped")
        for name in os.listdir(cwd):
            with open(os.path.join(cwd, name), "rb") as f:
                h.check(h.TOKEN.encode() not in f.read(), f"{name} does not hold the token")
    leftovers = os.listdir(cwd)
    h.check(not leftovers, f"no core file in the working directory ({leftovers})")


def unit_file():
    unit = open(os.path.join(os.environ.get("SOURCE_DIR", "."), "systemd", "aisearchd.service")).read()
    h.check("\nLimitCORE=0\n" in unit, "the unit says LimitCORE=0")
    h.check("\nLimitNOFILE=" in unit, "the unit sets LimitNOFILE=")


def validate_listen(work):
    cfg = os.path.join(work, "listen.yaml")
    h.write_manifest(os.path.join(work, "manifest.yaml"))
    for listen, good in ((":9464", False), ("[]:9464", False), ("127.0.0.1:9464", True), ("[::1]:9464", True)):
        with open(cfg, "w") as f:
            f.write(f'listen: "{listen}"\nmanifest: {os.path.join(work, "manifest.yaml")}\n')
        r = subprocess.run([h.AISEARCHD, "validate", "-c", cfg], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=60)
        out = r.stdout.decode(errors="replace")
        h.check((r.returncode == 0) == good, f"validate listen {listen!r}: exit {r.returncode}"
                + ("" if (r.returncode == 0) == good else f"\n{out}"))
        if not good:
            h.check("has no host" in out, f"validate names the missing host of {listen!r}")


def state_dir(work, base):
    h.write_manifest(os.path.join(work, "manifest.yaml"))
    env = dict(os.environ, CLOUDFLARE_API_TOKEN=h.TOKEN, NO_COLOR="1")

    def run(cmd, state):
        return subprocess.run([h.AISEARCHD, cmd, "--api-url", f"{base}/client/v4", "--account-id", h.ACCOUNT,
                               "--state-dir", state, "-m", os.path.join(work, "manifest.yaml")],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)

    open_dir = os.path.join(work, "open-state")
    os.makedirs(open_dir)
    os.chmod(open_dir, 0o777)
    r = run("apply", open_dir)
    h.check(r.returncode != 0 and b"writable by others" in r.stdout,
            f"apply refuses a world-writable state_dir (exit {r.returncode})")

    fresh = os.path.join(work, "fresh", "state")
    old_umask = os.umask(0)
    try:
        r = run("apply", fresh)
    finally:
        os.umask(old_umask)
    h.check(r.returncode == 0, f"apply under umask 000 succeeds (exit {r.returncode})")
    h.check(os.path.isdir(fresh) and (os.stat(fresh).st_mode & 0o777) == 0o700,
            f"state_dir created 0700 under umask 000 ({oct(os.stat(fresh).st_mode & 0o777) if os.path.isdir(fresh) else 'missing'})")

    foreign = os.path.join(work, "foreign")
    os.makedirs(foreign, mode=0o700)
    with open(os.path.join(foreign, "state.json"), "w") as f:
        f.write('{"kind": "someone else\'s JSON"}\n')
    r = run("plan", foreign)
    h.check(r.returncode != 0 and b"not an aisearchd state file" in r.stdout,
            f"plan refuses a foreign state.json (exit {r.returncode})")


def main():
    work = tempfile.mkdtemp(prefix="aisearchd-hostile-process-")
    emulator, base = h.start_emulator(work)
    try:
        unit_file()
        validate_listen(work)
        state_dir(work, base)
        core_dump(work, base)
    finally:
        emulator.kill()
        emulator.wait()
        shutil.rmtree(work, ignore_errors=True)
    h.finish()


if __name__ == "__main__":
    main()

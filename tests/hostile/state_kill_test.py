"""kill -9 inside state writes, on purpose (issue 14). An LD_PRELOAD shim (built here with cc)
stalls `aisearchd apply` in the middle of a write to a state file (half the bytes written), after
the fsync, or right before the rename, and tells the test, which kills it there. Whatever the
moment, state.json is absent or parses as aisearchd's state (a writer that wrote state.json in
place would leave half a file), and the next apply removes the stale temporary file and
converges."""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request

import hostile as h

SHIM = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Stalls the process at the STALL_COUNT-th state write at STALL_POINT (write|fsync|rename) after
   creating STALL_MARKER; the test kills it there. */
static int g_seen;

static int is_state_fd(int fd) {
  char link[64], path[4096];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, path, sizeof path - 1);
  if (n <= 0) return 0;
  path[n] = 0;
  return strstr(path, "state.json") != NULL;
}

static void stall(const char* point) {
  const char* want = getenv("STALL_POINT");
  if (!want || strcmp(want, point) != 0) return;
  if (++g_seen != atoi(getenv("STALL_COUNT") ? getenv("STALL_COUNT") : "1")) return;
  int fd = open(getenv("STALL_MARKER"), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd >= 0) close(fd);
  for (;;) pause();
}

ssize_t write(int fd, const void* buf, size_t n) {
  static ssize_t (*real)(int, const void*, size_t);
  if (!real) real = (ssize_t (*)(int, const void*, size_t))dlsym(RTLD_NEXT, "write");
  if (n > 16 && is_state_fd(fd)) {
    const char* want = getenv("STALL_POINT");
    if (want && strcmp(want, "write") == 0) {
      ssize_t half = real(fd, buf, n / 2);  /* half of it on disk, then the kill */
      if (half <= 0) return half;
      stall("write");
      ssize_t rest = real(fd, (const char*)buf + half, n - (size_t)half);
      return rest < 0 ? half : half + rest;
    }
  }
  return real(fd, buf, n);
}

int fsync(int fd) {
  static int (*real)(int);
  if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
  int r = real(fd);
  if (is_state_fd(fd)) stall("fsync");
  return r;
}

int rename(const char* from, const char* to) {
  static int (*real)(const char*, const char*);
  if (!real) real = (int (*)(const char*, const char*))dlsym(RTLD_NEXT, "rename");
  if (strstr(to, "state.json")) stall("rename");
  return real(from, to);
}
"""


def build_shim(work):
    src = os.path.join(work, "stall.c")
    out = os.path.join(work, "stall.so")
    with open(src, "w") as f:
        f.write(SHIM)
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        return None
    subprocess.run([cc, "-shared", "-fPIC", "-O1", "-o", out, src, "-ldl"], check=True)
    return out


def write_manifest(path, n):
    lines = ["apiVersion: aisearchd/v1", "namespaces:", "  default:", "    instances:"]
    lines += [f"      inst-{i:02d}: {{type: r2, source: bucket-{i}}}" for i in range(n)]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def apply_cmd(base, work):
    return [h.AISEARCHD, "apply", "--api-url", f"{base}/client/v4", "--account-id", h.ACCOUNT,
            "--state-dir", os.path.join(work, "state"), "-m", os.path.join(work, "manifest.yaml")]


def state_parses(path):
    if not os.path.exists(path):
        return True, "absent"
    try:
        doc = json.load(open(path))
        return isinstance(doc, dict) and doc.get("version") == 1, f"{len(doc.get('owned', {}))} owned"
    except ValueError as e:
        return False, f"does not parse: {e}"


def main():
    if not h.CHECK_RSS:
        # Sanitizer builds: ASan intercepts write/fsync/rename itself and wants to come first.
        print("skipped under sanitizers (the plain build runs it)")
        return
    work = tempfile.mkdtemp(prefix="aisearchd-hostile-kill-")
    emulator, base = h.start_emulator(work)
    try:
        shim = build_shim(work)
        if not shim:
            print("skipped: no C compiler for the stall shim")
            return
        env = dict(os.environ, CLOUDFLARE_API_TOKEN=h.TOKEN, NO_COLOR="1")
        state_json = os.path.join(work, "state", "state.json")
        instances = 6
        write_manifest(os.path.join(work, "manifest.yaml"), instances)
        for point in ("write", "fsync", "rename"):
            for count in (1, 2):
                marker = os.path.join(work, f"stalled-{point}-{count}")
                stall_env = dict(env, LD_PRELOAD=shim, STALL_POINT=point, STALL_COUNT=str(count),
                                 STALL_MARKER=marker)
                proc = subprocess.Popen(apply_cmd(base, work), env=stall_env,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                deadline = time.monotonic() + 60
                while not os.path.exists(marker) and proc.poll() is None and time.monotonic() < deadline:
                    time.sleep(0.01)
                stalled = os.path.exists(marker)
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                ok, what = state_parses(state_json)
                h.check(ok, f"kill -9 {'inside' if stalled else 'after'} state write #{count} at {point}: state.json {what}")
                temps = [n for n in os.listdir(os.path.join(work, "state")) if ".tmp." in n]
                r = subprocess.run(apply_cmd(base, work), env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, timeout=120)
                left = [n for n in os.listdir(os.path.join(work, "state")) if ".tmp." in n]
                h.check(r.returncode == 0, f"the next apply succeeds (exit {r.returncode})"
                        + ("" if r.returncode == 0 else "\n" + r.stdout.decode(errors="replace")[-800:]))
                h.check(not left, f"stale temporary files removed ({temps} -> {left})")
                ok, what = state_parses(state_json)
                h.check(ok and what == f"{instances} owned", f"state converged: {what}")
                # Next round starts from nothing remote and nothing recorded.
                urllib.request.urlopen(urllib.request.Request(f"{base}/__emulator/reset", data=b"{}",
                                                              method="POST"), timeout=10).read()
                shutil.rmtree(os.path.join(work, "state"))
    finally:
        emulator.kill()
        emulator.wait()
        shutil.rmtree(work, ignore_errors=True)
    h.finish()


if __name__ == "__main__":
    main()

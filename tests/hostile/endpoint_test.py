"""Hostile HTTP clients against `aisearchd run` (issue 14): slowloris with 2 and 50 connections,
2,000 idle connections (the daemon at the default 1,024 descriptors), a 300 MiB POST and 96 MB of
headers. Throughout, /healthz answers within 1 s; after the idle flood a reconcile still succeeds;
the POST and the headers cost the daemon < 1 MiB of peak RSS (VmHWM)."""
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

import hostile as h


class Daemon:
    def __init__(self, work, api_base):
        h.write_manifest(os.path.join(work, "manifest.yaml"))
        self.log = open(os.path.join(work, "daemon.log"), "w+")
        env = dict(os.environ, CLOUDFLARE_API_TOKEN=h.TOKEN, NO_COLOR="1")

        def default_limits():
            resource.setrlimit(resource.RLIMIT_NOFILE, (1024, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))

        self.proc = subprocess.Popen(
            [h.AISEARCHD, "run", "--api-url", f"{api_base}/client/v4", "--account-id", h.ACCOUNT,
             "--state-dir", os.path.join(work, "state"), "-m", os.path.join(work, "manifest.yaml"),
             "--listen", "127.0.0.1:0"],
            env=env, stdout=self.log, stderr=subprocess.STDOUT, preexec_fn=default_limits)
        m = h.wait_for_line(self.log, r"http listening on .* port=(\d+)", 30)
        if not m:
            self.stop()
            raise SystemExit("daemon did not start:\n" + open(self.log.name).read())
        self.port = int(m.group(1))

    def reconciles_ok(self):
        status, body, _ = h.http_get(self.port, "/metrics")
        m = re.search(rb'aisearchd_reconciles_total\{result="success"\} (\d+)', body)
        return int(m.group(1)) if status == 200 and m else -1

    def hwm(self):
        return h.vm_hwm(self.proc.pid)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def probe(port, seconds, label):
    """/healthz again and again for `seconds`: every answer 200 within 1 s."""
    worst, count, bad = 0.0, 0, 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        status, _, elapsed = h.http_get(port, "/healthz", timeout=5)
        worst = max(worst, elapsed)
        count += 1
        bad += status != 200
        time.sleep(0.05)
    print(f"  {label}: {count} probes, worst /healthz {worst * 1000:.0f} ms, {bad} failed")
    h.check(bad == 0 and worst < 1.0, f"{label}: /healthz answered 200 within 1 s throughout (worst {worst * 1000:.0f} ms)")


class Slowloris:
    """`n` connections that send a header byte every 200 ms, reconnecting when closed."""

    def __init__(self, port, n):
        self.port, self.n, self.stop_flag = port, n, threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def connect(self):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        return s

    def run(self):
        socks = [self.connect() for _ in range(self.n)]
        while not self.stop_flag.wait(0.2):
            for i, s in enumerate(socks):
                try:
                    s.sendall(b"a")
                except OSError:
                    s.close()
                    socks[i] = self.connect()
        for s in socks:
            s.close()

    def stop(self):
        self.stop_flag.set()
        self.thread.join()


def idle_flood(d, n):
    h.raise_nofile(n + 200)
    socks = []
    for _ in range(n):
        try:
            socks.append(socket.create_connection(("127.0.0.1", d.port), timeout=5))
        except OSError as e:
            print(f"  connect failed after {len(socks)}: {e}")
            break
    h.check(len(socks) == n, f"{n} idle connections opened")
    before = d.reconciles_ok()
    d.proc.send_signal(signal.SIGHUP)  # a reload reconciles at once
    probe(d.port, 3, f"{n} idle connections")
    deadline = time.monotonic() + 30
    after = before
    while time.monotonic() < deadline and after <= before:
        after = d.reconciles_ok()
        time.sleep(0.1)
    h.check(after > before >= 0, f"a reconcile succeeded during the idle flood ({before} -> {after})")
    log = open(d.log.name).read()
    h.check("Too many open files" not in log, "no 'Too many open files' in the daemon's log")
    for s in socks:
        s.close()


def big_post(d):
    before = d.hwm()
    s = socket.create_connection(("127.0.0.1", d.port), timeout=10)
    total = 300 * h.MIB
    s.sendall(f"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: {total}\r\n\r\n".encode())
    chunk = b"x" * h.MIB
    sent = 0
    try:
        while sent < total:
            s.sendall(chunk)
            sent += len(chunk)
    except OSError:
        pass
    answer = b""
    try:
        answer = s.recv(4096)
    except OSError:
        pass
    s.close()
    grown = d.hwm() - before
    print(f"  300 MiB POST: {sent / h.MIB:.0f} MiB sent before the server stopped reading, "
          f"answer {answer[:12]!r}, peak RSS +{grown / 1024:.0f} KiB")
    h.check(sent < total, "the POST body was not read in full")
    if h.CHECK_RSS:
        h.check(grown < h.MIB, f"a 300 MiB POST costs < 1 MiB (+{grown / 1024:.0f} KiB)")


def many_headers(d):
    before = d.hwm()
    s = socket.create_connection(("127.0.0.1", d.port), timeout=10)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    line = b"X-Filler: " + b"y" * 90 + b"\r\n"
    block = line * 10_000  # ~1 MB
    sent = 0
    try:
        while sent < 96 * 1_000_000:
            s.sendall(block)
            sent += len(block)
    except OSError:
        pass
    s.close()
    grown = d.hwm() - before
    print(f"  96 MB of headers: {sent / 1e6:.0f} MB sent before the server stopped reading, peak RSS +{grown / 1024:.0f} KiB")
    h.check(sent < 96 * 1_000_000, "96 MB of headers were not read")
    if h.CHECK_RSS:
        h.check(grown < h.MIB, f"96 MB of headers cost < 1 MiB (+{grown / 1024:.0f} KiB)")


def main():
    work = tempfile.mkdtemp(prefix="aisearchd-hostile-endpoint-")
    emulator, base = h.start_emulator(work)
    d = None
    try:
        d = Daemon(work, base)
        status, _, _ = h.http_get(d.port, "/healthz")
        h.check(status == 200, "baseline /healthz 200")
        for n in (2, 50):
            attack = Slowloris(d.port, n)
            probe(d.port, 3, f"slowloris x{n}")
            attack.stop()
        idle_flood(d, 2000)
        big_post(d)
        many_headers(d)
        h.check(d.proc.poll() is None, "the daemon is still running")
    finally:
        if d:
            d.stop()
        emulator.kill()
        emulator.wait()
        shutil.rmtree(work, ignore_errors=True)
    h.finish()


if __name__ == "__main__":
    main()

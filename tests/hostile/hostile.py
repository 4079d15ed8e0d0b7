"""Shared pieces of the hostile suite (issue 14): a hostile AI Search API server, process helpers,
peak-RSS readers. Python standard library only; every server listens on 127.0.0.1, port 0."""
import gzip
import http.server
import json
import os
import re
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time

AISEARCHD = os.environ.get("AISEARCHD_BIN", "aisearchd")
EMULATOR = os.environ.get("EMULATOR_BIN", "aisearch-emulator")
# Under ASan/UBSan memory figures mean nothing: the limits are checked only in a plain build.
CHECK_RSS = os.environ.get("HOSTILE_CHECK_RSS", "1") == "1"
TOKEN = "hostile-token-0123456789abcdef0123456789"
ACCOUNT = "acc"
MIB = 1 << 20

failures = []


def check(ok, what):
    print(("ok:   " if ok else "FAIL: ") + what, flush=True)
    if not ok:
        failures.append(what)


def finish():
    if failures:
        print(f"{len(failures)} failure(s)", flush=True)
        sys.exit(1)
    print("all passed", flush=True)


def envelope_bytes(result, result_info=None):
    doc = {"success": True, "errors": [], "messages": [], "result": result}
    if result_info is not None:
        doc["result_info"] = result_info
    return json.dumps(doc).encode()


class HostileApi:
    """An AI Search API whose instance lists are hostile. `mode` picks the attack; `namespaces`
    lists the namespaces it reports. Counts requests per path."""

    def __init__(self, mode, namespaces=("default",)):
        self.mode = mode
        self.namespaces = list(namespaces)
        self.requests = {}
        self.lock = threading.Lock()
        self.bomb = None
        if mode == "gzip_bomb":
            # 64 KiB on the wire, 63 MiB once decoded: an envelope with a string of spaces.
            raw = b'{"success":true,"result":[{"id":"docs","metadata":"' + b" " * (63 * MIB) + b'"}]}'
            self.bomb = gzip.compress(raw, 9)
        api = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                path = self.path.split("?")[0]
                with api.lock:
                    api.requests[path] = api.requests.get(path, 0) + 1
                try:
                    api.answer(self, path)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up on a body it refused: the point of the attack

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass  # a client that hangs up on a refused body is the expected outcome

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/client/v4"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def count(self, suffix):
        with self.lock:
            return sum(n for p, n in self.requests.items() if p.endswith(suffix))

    @staticmethod
    def send(h, status, body, headers=()):
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(body)

    @staticmethod
    def stream(h, status, head, filler, size, tail, announce=True):
        """A body of `size` bytes: head, then `filler` repeated, then tail; sent as it is made.
        Without `announce` there is no Content-Length (the body ends when the connection
        closes), so the client learns its size only by receiving it."""
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        if announce:
            h.send_header("Content-Length", str(size))
        else:
            h.send_header("Connection", "close")
            h.close_connection = True
        h.end_headers()
        h.wfile.write(head)
        left = size - len(head) - len(tail)
        chunk = filler * (MIB // len(filler))
        while left > 0:
            piece = chunk[:left]
            h.wfile.write(piece)
            left -= len(piece)
        h.wfile.write(tail)

    def answer(self, h, path):
        if path.endswith("/namespaces"):
            names = [{"name": n, "created_at": "2026-01-01T00:00:00Z"} for n in self.namespaces]
            return self.send(h, 200, envelope_bytes(names, {"page": 1, "per_page": 100, "count": len(names),
                                                             "total_count": len(names)}))
        if not path.endswith("/instances"):
            return self.send(h, 404, b'{"success":false,"errors":[{"code":7002,"message":"not found"}]}')
        mode = self.mode
        prefix = b'{"success":true,"result_info":{"page":1,"per_page":100,"total_count":1},"result":[{"id":"docs","type":"r2","source":"b","metadata":'
        if mode == "deep_object":
            depth = 70_000
            return self.send(h, 200, prefix + b'{"a":' * depth + b"1" + b"}" * depth + b"}]}")
        if mode == "deep_array":
            depth = 200_000
            return self.send(h, 200, prefix + b"[" * depth + b"1" + b"]" * depth + b"}]}")
        if mode == "gzip_bomb":
            return self.send(h, 200, self.bomb, [("Content-Encoding", "gzip")])
        if mode == "huge_page":
            # 3.7 million items on one page of per_page=100.
            n = 3_700_000
            item = b'{"id":"i0000000"},'
            head = b'{"success":true,"result_info":{"page":1,"per_page":100,"total_count":3700000},"result":['
            return self.stream(h, 200, head, item, len(head) + n * len(item) + 1, b'{"id":"last"}]}',
                               announce=False)
        if mode == "big_lists":
            # Every namespace's list is a 64 MiB answer.
            return self.stream(h, 200, b'{"success":true,"result":[{"id":"x","metadata":"', b" ",
                               64 * MIB, b'"}]}', announce=False)
        if mode == "over_per_page":
            items = [{"id": f"i{i:04d}", "type": "r2", "source": "b"} for i in range(150)]
            return self.send(h, 200, envelope_bytes(items, {"page": 1, "per_page": 100, "total_count": 150}))
        if mode == "oversize_503":
            return self.stream(h, 503, b'{"success":false,"errors":[{"code":1,"message":"', b"x", 16 * MIB, b'"}]}')
        if mode == "retry_after":
            return self.send(h, 429, b'{"success":false,"errors":[{"code":971,"message":"rate limited"}]}',
                             [("Retry-After", "1200")])
        if mode == "redirect":
            return self.send(h, 301, b"", [("Location", "https://elsewhere.example/client/v4")])
        if mode == "bad_utf8":
            return self.send(h, 200, b'{"success":true,"result":[{"id":"d\xff\xfe"}]}')
        raise ValueError(mode)


def write_manifest(path, namespaces=("default",)):
    lines = ["apiVersion: aisearchd/v1", "namespaces:"]
    for ns in namespaces:
        lines += [f"  {ns}:", "    instances:", "      docs: {type: r2, source: docs-bucket}"]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


# Runs argv[1:] and writes "<wait status> <ru_maxrss KiB>" to $MEASURE_FILE. A fresh, small
# process: a child's ru_maxrss starts from its parent's high-water mark (the mm is copied at fork),
# so measuring straight from this test (which built 63 MiB bombs) would report the test's size.
_LAUNCHER = """
import os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
with open(os.environ["MEASURE_FILE"], "w") as f:
    f.write(f"{status} {usage.ru_maxrss}")
"""


def run_measured(cmd, env, timeout):
    """Runs cmd; returns (returncode, output, peak RSS in bytes, seconds). A negative returncode
    is the signal that killed it."""
    start = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        measure = os.path.join(tmp, "measure")
        env = dict(env, MEASURE_FILE=measure)
        r = subprocess.run([sys.executable, "-c", _LAUNCHER] + list(cmd), env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
        status, maxrss = (int(x) for x in open(measure).read().split())
    text = r.stdout.decode(errors="replace")
    return os.waitstatus_to_exitcode(status), text, maxrss * 1024, time.monotonic() - start


def vm_hwm(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def start_emulator(work):
    out = open(os.path.join(work, "emulator.out"), "w+")
    proc = subprocess.Popen([EMULATOR, "--port", "0", "--token", TOKEN, "--account-id", ACCOUNT],
                            stdout=out, stderr=subprocess.DEVNULL)
    line = wait_for_line(out, r"^listening on (\S+)", 20)
    if not line:
        proc.kill()
        sys.exit("emulator did not start")
    return proc, line.group(1)


def wait_for_line(f, pattern, timeout):
    """Waits for a line of the file `f` to match `pattern` (polled: the writer is another
    process); returns the match or None."""
    deadline = time.monotonic() + timeout
    rx = re.compile(pattern, re.M)
    while time.monotonic() < deadline:
        f.seek(0)
        m = rx.search(f.read())
        if m:
            return m
        time.sleep(0.05)
    return None


def http_get(port, path, timeout=5.0):
    """One GET over a fresh connection: (status, body, seconds); status 0 when none came."""
    start = time.monotonic()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
            raw = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                raw += chunk
    except OSError:
        return 0, b"", time.monotonic() - start
    elapsed = time.monotonic() - start
    if not raw.startswith(b"HTTP/1."):
        return 0, raw, elapsed
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head[9:12]), body, elapsed


def raise_nofile(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(max(soft, n), hard), hard))

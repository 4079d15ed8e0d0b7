"""Hostile API answers (issue 14): `aisearchd plan` against servers that send deep JSON, a gzip
bomb, a page of 3.7 million items, eight 64 MiB lists at once, an oversized 503, a 20-minute
Retry-After, a redirect and invalid UTF-8. For each: no crash, a clear error for the namespace,
nothing retried that must not be, and peak RSS (the child's ru_maxrss) at most 64 MiB."""
import os
import shutil
import tempfile

import hostile as h

LIMIT = 64 * h.MIB


def plan(api, work, namespaces=("default",), timeout=120):
    h.write_manifest(os.path.join(work, "manifest.yaml"), namespaces)
    env = dict(os.environ, CLOUDFLARE_API_TOKEN=h.TOKEN, NO_COLOR="1")
    cmd = [h.AISEARCHD, "plan", "--api-url", api.url, "--account-id", h.ACCOUNT, "--state-dir",
           os.path.join(work, "state"), "-m", os.path.join(work, "manifest.yaml")]
    return h.run_measured(cmd, env, timeout)


def attack(mode, expect, namespaces=("default",), max_seconds=60, instance_requests=None):
    work = tempfile.mkdtemp(prefix=f"aisearchd-hostile-{mode}-")
    api = h.HostileApi(mode, namespaces)
    try:
        rc, out, peak, secs = plan(api, work, namespaces)
        print(f"  {mode}: exit {rc}, peak RSS {peak / h.MIB:.1f} MiB, {secs:.1f} s")
        h.check(rc == 1, f"{mode}: plan exits 1 (not a crash: {rc})")
        h.check(expect in out, f"{mode}: the output says {expect!r}" + ("" if expect in out else f"; got:\n{out[-1500:]}"))
        h.check(h.TOKEN not in out, f"{mode}: the token is not printed")
        h.check(secs < max_seconds, f"{mode}: done in {secs:.1f} s < {max_seconds} s")
        if h.CHECK_RSS:
            h.check(peak <= LIMIT, f"{mode}: peak RSS {peak / h.MIB:.1f} MiB <= 64 MiB")
        if instance_requests is not None:
            n = api.count("/instances")
            h.check(n == instance_requests, f"{mode}: {n} list request(s), expected {instance_requests}")
    finally:
        api.stop()
        shutil.rmtree(work, ignore_errors=True)


def main():
    attack("deep_object", "nested deeper than 64 levels", instance_requests=1)
    attack("deep_array", "nested deeper than 64 levels", instance_requests=1)
    attack("gzip_bomb", "body larger than 8 MiB (after decompression)", instance_requests=1)
    attack("huge_page", "body larger than 8 MiB", instance_requests=1)
    attack("big_lists", "body larger than 8 MiB", namespaces=[f"ns{i}" for i in range(8)])
    attack("over_per_page", "more than per_page=100", instance_requests=1)
    attack("oversize_503", "body larger than 8 MiB", instance_requests=1)
    attack("retry_after", "retry-after not waited", instance_requests=1)
    attack("redirect", "redirected (HTTP 301) to https://elsewhere.example/client/v4")
    attack("bad_utf8", "invalid UTF-8 at byte")
    h.finish()


if __name__ == "__main__":
    main()

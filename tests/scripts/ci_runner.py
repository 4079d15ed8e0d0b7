#!/usr/bin/env python3
"""A local stand-in for the CI systems of examples/ci/ (used by ci_examples_test.sh).

It runs the jobs of a GitHub Actions workflow or a .gitlab-ci.yml the way the CI system would,
with their real shell commands, on this machine:

  ci_runner.py github WORKFLOW --context CTX.json --repo TREE --store STORE --work DIR
  ci_runner.py gitlab CI_FILE  --context CTX.json --repo TREE --store STORE --work DIR
  ci_runner.py gitlab-api --store STORE --token T --port-file F   (a fake GitLab REST API)
  ci_runner.py gh ARGS...                                         (a stub of the gh CLI)

GitHub Actions: `on:` is checked against the event (and `branches:` for push); jobs run in file
order after their `needs`, when their `if:` holds; `run:` steps run with the shell GitHub uses
(`shell: bash` = bash --noprofile --norc -eo pipefail, none = bash -e); `${{ ... }}` expressions
are evaluated (secrets, vars, github, env, steps.<id>.outputs/outcome, job.status, runner.temp;
==, !=, &&, ||, !, always(), success(), failure(), cancelled(), contains(), startsWith(),
endsWith()), a step's `if:` without a status function is `success() && (...)`; $GITHUB_OUTPUT,
$GITHUB_ENV and $GITHUB_STEP_SUMMARY work as on GitHub. GitLab: jobs (with `extends:`) run in
stage order when their `rules:` match (`if:` expressions with $VAR, "strings", ==, !=, &&, ||,
parentheses); variables (predefined CI_*, global, job, then the project's CI/CD variables, File
variables as files) are expanded; before_script + script run in one `bash` with
`set -eo pipefail` as GitLab's bash shell does, after_script in a new shell with $CI_JOB_STATUS,
its failure ignored; artifacts are kept per `artifacts:when`.

What is substituted, and why (everything else runs as written):
- `container:` / `image: debian:12`, `runs-on:`: jobs run on this machine, not in a container
  (no network here to pull an image).
- A `run:` step or a before_script line that calls `apt-get` (installing packages and the .deb
  from a URL) is not run: aisearchd (the binary under test) is on PATH instead, with this
  machine's curl and jq, and `gh` is the stub below (no network, no package registry).
- `actions/checkout` copies the fixture repository TREE into the workspace; GitLab's clone does
  the same; `actions/upload-artifact` copies `path` into the local artifact store STORE.
- `paths:` / `changes:` filters are taken as matched (every change the test makes is in
  ai-search/); `permissions`, `environment`, `concurrency`, `resource_group` are not modelled.
- The gh CLI and the GitLab API answer from STORE: comments and notes are recorded there.
A job's environment holds only what the CI system would give it plus PATH, HOME, LANG and
CI_STORE (where the gh stub finds the store): nothing leaks from the test's own environment.
"""
import argparse
import fnmatch
import glob
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.parse

import yaml

STEP_TIMEOUT = 120


def log(*args):
    print(*args, flush=True)


class RunnerError(Exception):
    """The example uses something this runner does not model: the test must fail, not skip."""


# ---------------------------------------------------------------------------------------------
# Store: runs, artifacts, comments (GitHub); pipelines, artifacts, notes (GitLab).
# ---------------------------------------------------------------------------------------------

def load_json(path, default):
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return default


def save_json(path, value):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(value, f, indent=1)
    os.replace(tmp, path)


def next_id(store, kind):
    path = os.path.join(store, "ids.json")
    ids = load_json(path, {})
    ids[kind] = ids.get(kind, 1000) + 1
    save_json(path, ids)
    return ids[kind]


def record_message(directory, body):
    os.makedirs(directory, exist_ok=True)
    n = len(os.listdir(directory)) + 1
    with open(os.path.join(directory, "%03d.md" % n), "w") as f:
        f.write(body)


def copy_tree(src, dst):
    if os.path.exists(dst):
        shutil.rmtree(dst)
    shutil.copytree(src, dst, symlinks=True)


def run_script(argv, script, env, cwd, work):
    """Runs one script file with argv (the file's path appended); returns the exit status."""
    with tempfile.NamedTemporaryFile("w", suffix=".sh", delete=False,
                                     dir=os.path.join(work, "scripts")) as f:
        f.write(script)
        path = f.name
    try:
        p = subprocess.run(argv + [path], env=env, cwd=cwd, timeout=STEP_TIMEOUT,
                           stdin=subprocess.DEVNULL)
        return p.returncode
    except subprocess.TimeoutExpired:
        log("  (timed out after %d s)" % STEP_TIMEOUT)
        return 124


def base_env(work, host_path):
    home = os.path.join(work, "home")
    os.makedirs(home, exist_ok=True)
    os.makedirs(os.path.join(work, "scripts"), exist_ok=True)
    return {"PATH": host_path + ":/usr/local/bin:/usr/bin:/bin", "HOME": home, "LANG": "C.UTF-8"}


def calls_apt_get(text):
    return re.search(r"(^|[\s;&|(])apt-get\s", text) is not None


# ---------------------------------------------------------------------------------------------
# GitHub Actions expressions
# ---------------------------------------------------------------------------------------------

TOKEN = re.compile(r"""\s*(?:
    (?P<str>'(?:[^']|'')*') |
    (?P<num>-?\d+(?:\.\d+)?) |
    (?P<op>==|!=|<=|>=|&&|\|\||[<>!(),\[\]]) |
    (?P<name>[A-Za-z_][A-Za-z0-9_-]*) |
    (?P<dot>\.(?:[A-Za-z_*][A-Za-z0-9_-]*)?)
)""", re.X)


def tokenize(text):
    out, i = [], 0
    while i < len(text):
        if text[i:].strip() == "":
            break
        m = TOKEN.match(text, i)
        if not m or m.end() == i:
            raise RunnerError("cannot parse expression %r at %r" % (text, text[i:]))
        kind = m.lastgroup
        out.append((kind, m.group(kind)))
        i = m.end()
    return out


def to_number(v):
    if v is None:
        return 0.0
    if isinstance(v, bool):
        return 1.0 if v else 0.0
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str):
        s = v.strip()
        if s == "":
            return 0.0
        try:
            return float(int(s, 0)) if s.lower().startswith("0x") else float(s)
        except ValueError:
            return float("nan")
    return float("nan")


def truthy(v):
    if v is None or v is False:
        return False
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return v != 0
    if isinstance(v, str):
        return v != ""
    return True


def equal(a, b):
    if isinstance(a, str) and isinstance(b, str):
        return a.lower() == b.lower()
    if type(a) is type(b) and not isinstance(a, (int, float, str, bool, type(None))):
        return a is b
    return to_number(a) == to_number(b)


def render(v):
    if v is None:
        return ""
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, (dict, list)):
        return json.dumps(v)
    return str(v)


class Expr:
    """GitHub's expression language, the part the examples use."""

    def __init__(self, contexts, status):
        self.ctx = contexts
        self.status = status  # "success" | "failure"

    def eval(self, text):
        self.toks = tokenize(text)
        self.i = 0
        v = self.parse_or()
        if self.i != len(self.toks):
            raise RunnerError("trailing tokens in expression %r" % text)
        return v

    def peek(self):
        return self.toks[self.i] if self.i < len(self.toks) else (None, None)

    def take(self, value=None):
        t = self.peek()
        if value is not None and t[1] != value:
            raise RunnerError("expected %r in expression, got %r" % (value, t[1]))
        self.i += 1
        return t

    def parse_or(self):
        v = self.parse_and()
        while self.peek()[1] == "||":
            self.take()
            r = self.parse_and()
            v = v if truthy(v) else r
        return v

    def parse_and(self):
        v = self.parse_cmp()
        while self.peek()[1] == "&&":
            self.take()
            r = self.parse_cmp()
            v = r if truthy(v) else v
        return v

    def parse_cmp(self):
        v = self.parse_unary()
        while self.peek()[1] in ("==", "!=", "<", ">", "<=", ">="):
            op = self.take()[1]
            r = self.parse_unary()
            if op == "==":
                v = equal(v, r)
            elif op == "!=":
                v = not equal(v, r)
            else:
                a, b = to_number(v), to_number(r)
                v = {"<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b}[op]
        return v

    def parse_unary(self):
        if self.peek()[1] == "!":
            self.take()
            return not truthy(self.parse_unary())
        return self.parse_primary()

    def parse_primary(self):
        kind, val = self.take()
        if kind == "op" and val == "(":
            v = self.parse_or()
            self.take(")")
            return self.postfix(v)
        if kind == "str":
            return val[1:-1].replace("''", "'")
        if kind == "num":
            return float(val)
        if kind == "name":
            if val in ("true", "false"):
                return val == "true"
            if val == "null":
                return None
            if self.peek()[1] == "(":
                self.take()
                args = []
                while self.peek()[1] != ")":
                    args.append(self.parse_or())
                    if self.peek()[1] == ",":
                        self.take()
                self.take(")")
                return self.postfix(self.call(val, args))
            if val not in self.ctx:
                raise RunnerError("unknown context %r" % val)
            return self.postfix(self.ctx[val])
        raise RunnerError("unexpected %r in expression" % val)

    def postfix(self, v):
        while True:
            kind, val = self.peek()
            if kind == "dot":
                self.take()
                key = val[1:]
                v = v.get(key) if isinstance(v, dict) else None
            elif val == "[":
                self.take()
                key = self.parse_or()
                self.take("]")
                if isinstance(v, dict):
                    v = v.get(render(key))
                elif isinstance(v, list) and isinstance(key, float) and int(key) < len(v):
                    v = v[int(key)]
                else:
                    v = None
            else:
                return v

    def call(self, name, args):
        n = name.lower()
        if n == "always":
            return True
        if n == "success":
            return self.status == "success"
        if n == "failure":
            return self.status == "failure"
        if n == "cancelled":
            return False
        if n == "contains":
            hay, needle = args
            if isinstance(hay, list):
                return any(equal(x, needle) for x in hay)
            return render(needle).lower() in render(hay).lower()
        if n == "startswith":
            return render(args[0]).lower().startswith(render(args[1]).lower())
        if n == "endswith":
            return render(args[0]).lower().endswith(render(args[1]).lower())
        raise RunnerError("function %s() is not modelled by the runner" % name)


EXPR = re.compile(r"\$\{\{(.*?)\}\}", re.S)


def substitute(text, contexts, status="success"):
    if not isinstance(text, str):
        return render(text)
    return EXPR.sub(lambda m: render(Expr(contexts, status).eval(m.group(1))), text)


def condition(text, contexts, status):
    if text is None:
        text = "success()"
    if isinstance(text, bool):
        return text and status == "success"
    text = str(text).strip()
    m = re.fullmatch(r"\$\{\{(.*)\}\}", text, re.S)
    if m:
        text = m.group(1)
    if not re.search(r"\b(always|success|failure|cancelled)\s*\(", text):
        text = "success() && (%s)" % text
    return truthy(Expr(contexts, status).eval(text))


def parse_kv_file(path):
    """$GITHUB_OUTPUT / $GITHUB_ENV: NAME=value lines and NAME<<DELIM ... DELIM blocks."""
    out = {}
    if not os.path.exists(path):
        return out
    lines = open(path).read().split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line.strip():
            continue
        m = re.match(r"^([^=<]+)<<(.+)$", line)
        if m:
            name, delim, value = m.group(1), m.group(2), []
            while i < len(lines) and lines[i] != delim:
                value.append(lines[i])
                i += 1
            i += 1
            out[name] = "\n".join(value)
            continue
        if "=" not in line:
            raise RunnerError("bad line in %s: %r" % (path, line))
        name, value = line.split("=", 1)
        out[name] = value
    return out


# ---------------------------------------------------------------------------------------------
# GitHub Actions
# ---------------------------------------------------------------------------------------------

def github_main(args):
    ctx = json.load(open(args.context))
    wf = yaml.safe_load(open(args.file))
    on = wf.get("on", wf.get(True))
    event = ctx["github"]["event_name"]
    triggers = on if isinstance(on, dict) else {e: None for e in ([on] if isinstance(on, str) else on)}
    if event not in triggers:
        raise RunnerError("the workflow does not run on %s" % event)
    filters = triggers[event] or {}
    if event == "push" and "branches" in filters:
        ref_name = ctx["github"]["ref_name"]
        if not any(fnmatch.fnmatch(ref_name, b) for b in filters["branches"]):
            log("workflow not triggered: push to %s" % ref_name)
            return 0
    run_id = next_id(args.store, "run")
    work = args.work
    os.makedirs(work, exist_ok=True)
    github = dict(ctx["github"])
    github.update({"run_id": str(run_id), "workflow": wf.get("name", os.path.basename(args.file)),
                   "workspace": os.path.join(work, "workspace")})
    event_path = os.path.join(work, "event.json")
    save_json(event_path, github.get("event", {}))
    github["event_path"] = event_path
    jobs = wf.get("jobs", {})
    results = {}
    pending = list(jobs)
    while pending:
        ready = [j for j in pending
                 if all(n in results for n in as_list(jobs[j].get("needs")))]
        if not ready:
            raise RunnerError("unsatisfiable needs: %s" % pending)
        name = ready[0]
        pending.remove(name)
        job = jobs[name]
        needs = {n: {"result": results[n]} for n in as_list(job.get("needs"))}
        deps_ok = all(r == "success" for r in (results[n] for n in needs))
        contexts = {"github": github, "secrets": ctx.get("secrets", {}), "vars": ctx.get("vars", {}),
                    "needs": needs, "env": {}, "inputs": {}, "matrix": {}, "strategy": {}}
        if not condition(job.get("if"), contexts, "success" if deps_ok else "failure"):
            log("job %s: skipped" % name)
            results[name] = "skipped"
            continue
        results[name] = github_job(name, job, wf, github, ctx, contexts, args, run_id)
    conclusion = "failure" if "failure" in results.values() else "success"
    runs_path = os.path.join(args.store, "github", "runs.json")
    runs = load_json(runs_path, [])
    pr = (github.get("event") or {}).get("pull_request") or {}
    runs.insert(0, {"databaseId": run_id, "headSha": (pr.get("head") or {}).get("sha", github["sha"]),
                    "headBranch": github.get("head_ref") or github.get("ref_name"),
                    "event": event, "status": "completed", "conclusion": conclusion,
                    "workflowName": github["workflow"], "jobs": results})
    save_json(runs_path, runs)
    log("run %d: %s %s" % (run_id, conclusion, json.dumps(results)))
    if args.result:
        save_json(args.result, {"run_id": run_id, "conclusion": conclusion, "jobs": results})
    return 0 if conclusion == "success" else 1


def as_list(v):
    if v is None:
        return []
    return [v] if isinstance(v, str) else list(v)


def github_job(name, job, wf, github, ctx, contexts, args, run_id):
    work = args.work
    workspace = github["workspace"]
    if os.path.exists(workspace):
        shutil.rmtree(workspace)
    os.makedirs(workspace)
    temp = os.path.join(work, "runner-temp")
    if os.path.exists(temp):
        shutil.rmtree(temp)
    os.makedirs(temp)
    host = base_env(work, args.host_path)
    host["CI_STORE"] = args.store
    defaults_shell = ((job.get("defaults") or {}).get("run") or {}).get("shell") or \
        ((wf.get("defaults") or {}).get("run") or {}).get("shell")
    env_from_file = {}
    status = "success"
    steps = {}
    contexts = dict(contexts)
    contexts.update({"runner": {"temp": temp, "os": "Linux", "arch": "X64", "name": "local"},
                     "job": {"status": status}, "steps": steps})
    wf_env = {k: substitute(v, contexts) for k, v in (wf.get("env") or {}).items()}
    contexts["env"] = dict(wf_env)
    job_env = {k: substitute(v, contexts) for k, v in (job.get("env") or {}).items()}
    log("job %s (run %d)" % (name, run_id))
    for index, step in enumerate(job.get("steps", [])):
        label = step.get("name") or step.get("uses") or ("step %d" % index)
        contexts["env"] = {**wf_env, **job_env, **env_from_file}
        contexts["job"] = {"status": status}
        if not condition(step.get("if"), contexts, status):
            log("- %s: skipped" % label)
            if "id" in step:
                steps[step["id"]] = {"outputs": {}, "outcome": "skipped", "conclusion": "skipped"}
            continue
        step_env = {k: substitute(v, contexts, status) for k, v in (step.get("env") or {}).items()}
        output = os.path.join(temp, "_output_%d" % index)
        envfile = os.path.join(temp, "_env_%d" % index)
        summary = os.path.join(temp, "_summary_%d" % index)
        for p in (output, envfile, summary):
            open(p, "w").close()
        env = dict(host)
        env.update({"CI": "true", "GITHUB_ACTIONS": "true", "GITHUB_WORKSPACE": workspace,
                    "GITHUB_REPOSITORY": github["repository"], "GITHUB_SHA": github["sha"],
                    "GITHUB_REF": github["ref"], "GITHUB_REF_NAME": github["ref_name"],
                    "GITHUB_EVENT_NAME": github["event_name"], "GITHUB_EVENT_PATH": github["event_path"],
                    "GITHUB_RUN_ID": github["run_id"], "GITHUB_WORKFLOW": github["workflow"],
                    "GITHUB_JOB": name, "GITHUB_OUTPUT": output, "GITHUB_ENV": envfile,
                    "GITHUB_STEP_SUMMARY": summary, "RUNNER_TEMP": temp, "RUNNER_OS": "Linux"})
        if github.get("head_ref"):
            env["GITHUB_HEAD_REF"] = github["head_ref"]
        env.update(wf_env)
        env.update(job_env)
        env.update(env_from_file)
        env.update(step_env)
        if "uses" in step:
            code = github_action(step, contexts, status, workspace, args, run_id)
        elif "run" in step:
            script = substitute(step["run"], contexts, status)
            if calls_apt_get(script):
                log("- %s: substituted (aisearchd, curl, jq and the gh stub are on PATH)" % label)
                code = 0
            else:
                shell = step.get("shell") or defaults_shell
                if shell == "bash":
                    argv = ["bash", "--noprofile", "--norc", "-eo", "pipefail"]
                elif shell is None:
                    argv = ["bash", "-e"]
                elif shell == "sh":
                    argv = ["sh", "-e"]
                else:
                    raise RunnerError("shell %r is not modelled" % shell)
                cwd = os.path.join(workspace, step.get("working-directory", "."))
                log("- %s" % label)
                code = run_script(argv, script, env, cwd, work)
        else:
            raise RunnerError("a step with neither run nor uses: %r" % step)
        outcome = "success" if code == 0 else "failure"
        conclusion = outcome
        if code != 0 and truthy(step.get("continue-on-error")):
            conclusion = "success"
        if code != 0:
            log("  %s exited %d" % (label, code))
        if "id" in step:
            steps[step["id"]] = {"outputs": parse_kv_file(output), "outcome": outcome,
                                 "conclusion": conclusion}
        env_from_file.update(parse_kv_file(envfile))
        if conclusion == "failure":
            status = "failure"
    log("job %s: %s" % (name, status))
    return status


def github_action(step, contexts, status, workspace, args, run_id):
    uses = step["uses"]
    action = uses.split("@")[0]
    with_ = {k: substitute(v, contexts, status) for k, v in (step.get("with") or {}).items()}
    if action == "actions/checkout":
        log("- %s: the fixture repository copied into the workspace" % uses)
        for entry in os.listdir(args.repo):
            src = os.path.join(args.repo, entry)
            dst = os.path.join(workspace, entry)
            if os.path.isdir(src):
                shutil.copytree(src, dst, symlinks=True)
            else:
                shutil.copy2(src, dst)
        return 0
    if action == "actions/upload-artifact":
        name = with_.get("name", "artifact")
        target = os.path.join(args.store, "github", "artifacts", str(run_id), name)
        if os.path.exists(target):
            log("- %s: an artifact named %s already exists in this run" % (uses, name))
            return 1
        paths = [p.strip() for p in with_.get("path", "").split("\n") if p.strip()]
        found = [f for p in paths for f in glob.glob(os.path.join(workspace, p))]
        if not found:
            mode = with_.get("if-no-files-found", "warn")
            log("- %s: no files found for %s (%s)" % (uses, paths, mode))
            return 1 if mode == "error" else 0
        os.makedirs(target)
        for f in found:
            if os.path.isdir(f):
                shutil.copytree(f, os.path.join(target, os.path.basename(f)))
            else:
                shutil.copy2(f, target)
        log("- %s: %s kept as artifact %s of run %d" % (uses, paths, name, run_id))
        return 0
    raise RunnerError("action %s is not modelled by the runner" % uses)


# ---------------------------------------------------------------------------------------------
# The gh CLI stub
# ---------------------------------------------------------------------------------------------

def gh_main(argv):
    store = os.environ.get("CI_STORE")
    if not store:
        print("gh stub: CI_STORE is not set", file=sys.stderr)
        return 4
    if not os.environ.get("GH_TOKEN"):
        print("gh: To use GitHub CLI in a GitHub Actions workflow, set the GH_TOKEN environment "
              "variable.", file=sys.stderr)
        return 4
    repo = os.environ.get("GH_REPO")
    gh_dir = os.path.join(store, "github")
    with open(os.path.join(gh_dir, "gh-calls.log"), "a") as f:
        f.write(json.dumps(argv) + "\n")

    def opts(args, names, flags=()):
        out, rest, i = {}, [], 0
        while i < len(args):
            a = args[i]
            key = next((n for n in names if a == n or a.startswith(n + "=")), None)
            if key:
                if "=" in a and a.startswith(key + "="):
                    out[key] = a.split("=", 1)[1]
                else:
                    out[key] = args[i + 1]
                    i += 1
            elif a in flags:
                out[a] = True
            elif a.startswith("-"):
                raise SystemExit("gh stub: unsupported option %s" % a)
            else:
                rest.append(a)
            i += 1
        return out, rest

    def jq(value, expr):
        p = subprocess.run(["jq", "-r", expr], input=json.dumps(value), text=True,
                           capture_output=True)
        sys.stdout.write(p.stdout)
        sys.stderr.write(p.stderr)
        return p.returncode

    if argv[:2] == ["pr", "comment"]:
        o, rest = opts(argv[2:], ["--body-file", "-F", "--body", "-b"])
        body = o.get("--body") or o.get("-b")
        path = o.get("--body-file") or o.get("-F")
        if path is not None:
            body = sys.stdin.read() if path == "-" else open(path).read()
        if body is None or len(rest) != 1:
            raise SystemExit("gh stub: pr comment needs a number and a body")
        record_message(os.path.join(gh_dir, "comments", rest[0]), body)
        print("https://github.com/%s/pull/%s#issuecomment-1" % (repo, rest[0]))
        return 0
    if argv[:1] == ["api"]:
        o, rest = opts(argv[1:], ["--jq", "-q", "--method", "-X"])
        if o.get("--method", o.get("-X", "GET")) != "GET" or len(rest) != 1:
            raise SystemExit("gh stub: only GET calls of one path are modelled")
        m = re.fullmatch(r"/?repos/([^/]+/[^/]+)/commits/([0-9a-f]+)/pulls", rest[0])
        if not m:
            raise SystemExit("gh stub: gh api %s is not modelled" % rest[0])
        if m.group(1) != load_json(os.path.join(gh_dir, "repo.json"), {}).get("repository"):
            print("gh: Not Found (HTTP 404)", file=sys.stderr)
            return 1
        pulls = load_json(os.path.join(gh_dir, "commit-pulls", m.group(2) + ".json"), [])
        expr = o.get("--jq") or o.get("-q")
        if expr:
            return jq(pulls, expr)
        print(json.dumps(pulls))
        return 0
    if argv[:1] in (["run"], ["pr"]) and not repo:
        print("gh stub: no GH_REPO (and no git remote here)", file=sys.stderr)
        return 1
    if argv[:2] == ["run", "list"]:
        o, rest = opts(argv[2:], ["--workflow", "-w", "--branch", "-b", "--json", "--jq", "-q",
                                  "--limit", "-L", "--event", "-e", "--status", "-s"])
        if rest or "--json" not in o:
            raise SystemExit("gh stub: run list is modelled with --json only")
        runs = load_json(os.path.join(gh_dir, "runs.json"), [])
        wf = o.get("--workflow") or o.get("-w")
        br = o.get("--branch") or o.get("-b")
        ev = o.get("--event") or o.get("-e")
        runs = [r for r in runs if (wf is None or r["workflowName"] == wf) and
                (br is None or r["headBranch"] == br) and (ev is None or r["event"] == ev)]
        runs = runs[:int(o.get("--limit") or o.get("-L") or 20)]
        fields = o["--json"].split(",")
        value = [{f: r[f] for f in fields} for r in runs]
        expr = o.get("--jq") or o.get("-q")
        if expr:
            return jq(value, expr)
        print(json.dumps(value, indent=2))
        return 0
    if argv[:2] == ["run", "download"]:
        o, rest = opts(argv[2:], ["--name", "-n", "--dir", "-D"])
        name = o.get("--name") or o.get("-n")
        if len(rest) != 1 or not name:
            raise SystemExit("gh stub: run download is modelled as RUN --name NAME")
        src = os.path.join(gh_dir, "artifacts", rest[0], name)
        if not os.path.isdir(src):
            print("no artifact matches any of the names or patterns provided", file=sys.stderr)
            return 1
        dst = o.get("--dir") or o.get("-D") or "."
        os.makedirs(dst, exist_ok=True)
        for entry in os.listdir(src):
            s = os.path.join(src, entry)
            if os.path.isdir(s):
                shutil.copytree(s, os.path.join(dst, entry))
            else:
                shutil.copy2(s, dst)
        return 0
    raise SystemExit("gh stub: `gh %s` is not modelled" % " ".join(argv))


# ---------------------------------------------------------------------------------------------
# GitLab CI
# ---------------------------------------------------------------------------------------------

RESERVED = {"image", "services", "stages", "types", "before_script", "after_script", "variables",
            "cache", "include", "default", "workflow"}


def deep_merge(base, over):
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def resolve_job(doc, name, seen=()):
    job = doc[name]
    if not isinstance(job, dict):
        raise RunnerError("job %s is not a mapping" % name)
    if name in seen:
        raise RunnerError("extends loop at %s" % name)
    merged = {}
    for parent in as_list(job.get("extends")):
        merged = deep_merge(merged, resolve_job(doc, parent, seen + (name,)))
    merged = deep_merge(merged, {k: v for k, v in job.items() if k != "extends"})
    return merged


VAR = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")


def expand(value, variables):
    value = render(value)
    for _ in range(10):
        new = VAR.sub(lambda m: variables.get(m.group(1) or m.group(2), ""), value)
        if new == value:
            break
        value = new
    return value


GL_TOKEN = re.compile(r"""\s*(?:(?P<var>\$[A-Za-z_][A-Za-z0-9_]*|\$\{[A-Za-z_][A-Za-z0-9_]*\})|
    (?P<str>"[^"]*"|'[^']*')|(?P<op>==|!=|&&|\|\||\(|\))|(?P<null>null))""", re.X)


def gitlab_rule_if(text, variables):
    toks, i = [], 0
    while i < len(text):
        if text[i:].strip() == "":
            break
        m = GL_TOKEN.match(text, i)
        if not m:
            raise RunnerError("rules:if %r is not modelled at %r" % (text, text[i:]))
        toks.append((m.lastgroup, m.group(m.lastgroup)))
        i = m.end()
    pos = [0]

    def peek():
        return toks[pos[0]] if pos[0] < len(toks) else (None, None)

    def value():
        kind, v = toks[pos[0]]
        pos[0] += 1
        if kind == "var":
            return variables.get(v.strip("${}"))
        if kind == "str":
            return v[1:-1]
        if kind == "null":
            return None
        if v == "(":
            r = disj()
            pos[0] += 1
            return r
        raise RunnerError("unexpected %r in rules:if %r" % (v, text))

    def cmp():
        a = value()
        if peek()[1] in ("==", "!="):
            op = toks[pos[0]][1]
            pos[0] += 1
            b = value()
            return (a == b) if op == "==" else (a != b)
        return a is not None and a != "" if not isinstance(a, bool) else a

    def conj():
        v = cmp()
        while peek()[1] == "&&":
            pos[0] += 1
            v = cmp() and v
        return v

    def disj():
        v = conj()
        while peek()[1] == "||":
            pos[0] += 1
            v = conj() or v
        return v

    return disj()


def gitlab_main(args):
    ctx = json.load(open(args.context))
    doc = yaml.safe_load(open(args.file))
    stages = doc.get("stages", ["build", "test", "deploy"])
    pipeline_id = next_id(args.store, "pipeline")
    work = args.work
    os.makedirs(work, exist_ok=True)
    project_dir = os.path.join(work, "project")
    predefined = {
        "CI": "true", "GITLAB_CI": "true", "CI_PIPELINE_ID": str(pipeline_id),
        "CI_PROJECT_DIR": project_dir, "CI_BUILDS_DIR": work,
        "CI_PROJECT_ID": ctx["project_id"], "CI_PROJECT_PATH": ctx["project_path"],
        "CI_SERVER_URL": ctx["server_url"], "CI_API_V4_URL": ctx["server_url"] + "/api/v4",
        "CI_DEFAULT_BRANCH": ctx["default_branch"], "CI_PIPELINE_SOURCE": ctx["pipeline_source"],
        "CI_COMMIT_SHA": ctx["sha"], "CI_COMMIT_REF_NAME": ctx["ref_name"],
        "CI_JOB_TOKEN": "job-token-not-for-notes",
    }
    if ctx["pipeline_source"] == "merge_request_event":
        mr = ctx["merge_request"]
        predefined.update({"CI_MERGE_REQUEST_IID": str(mr["iid"]),
                           "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME": mr["source_branch"],
                           "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": mr["target_branch"]})
        ref = "refs/merge-requests/%s/head" % mr["iid"]
    else:
        predefined["CI_COMMIT_BRANCH"] = ctx["ref_name"]
        ref = ctx["ref_name"]
    file_vars = {}
    fv_dir = os.path.join(work, "file-variables")
    os.makedirs(fv_dir, exist_ok=True)
    for k, v in (ctx.get("file_variables") or {}).items():
        path = os.path.join(fv_dir, k)
        with open(path, "w") as f:
            f.write(v)
        os.chmod(path, 0o600)
        file_vars[k] = path
    project_vars = {**{k: render(v) for k, v in (ctx.get("variables") or {}).items()}, **file_vars}
    global_vars = doc.get("variables") or {}
    default = doc.get("default") or {}
    jobs = [n for n in doc if n not in RESERVED and not str(n).startswith(".")]
    order = sorted(jobs, key=lambda n: stages.index(resolve_job(doc, n).get("stage", "test")))
    pipeline = {"id": pipeline_id, "ref": ref, "sha": ctx["sha"], "source": ctx["pipeline_source"],
                "jobs": {}, "status": "running"}
    failed = False
    for name in order:
        job = resolve_job(doc, name)
        # Variables the rules see: predefined, YAML (global then job), then the project's.
        variables = dict(predefined)
        for k, v in global_vars.items():
            variables[k] = expand(v, variables)
        for k, v in (job.get("variables") or {}).items():
            variables[k] = expand(v, {**variables, **project_vars})
        variables.update(project_vars)
        if "only" in job or "except" in job:
            raise RunnerError("only/except are not modelled")
        when = job.get("when", "on_success")
        if "rules" in job:
            when = "never"
            for rule in job["rules"]:
                if "if" in rule and not gitlab_rule_if(rule["if"], variables):
                    continue
                when = rule.get("when", job.get("when", "on_success"))
                break
        if when == "never":
            log("job %s: not in this pipeline" % name)
            continue
        if when not in ("on_success", "always"):
            raise RunnerError("when: %s is not modelled" % when)
        if failed and when == "on_success":
            log("job %s: skipped (an earlier stage failed)" % name)
            continue
        job_id = next_id(args.store, "job")
        variables.update({"CI_JOB_ID": str(job_id), "CI_JOB_NAME": name,
                          "CI_JOB_STAGE": job.get("stage", "test"),
                          "CI_JOB_URL": "%s/%s/-/jobs/%d" % (ctx["server_url"], ctx["project_path"], job_id)})
        status = gitlab_job(name, job, default, doc, variables, args, project_dir)
        artifacts = job.get("artifacts") or {}
        kept = None
        a_when = artifacts.get("when", "on_success")
        if artifacts.get("paths") and (a_when == "always" or
                                       (a_when == "on_success") == (status == "success")):
            kept = os.path.join(args.store, "gitlab", "artifacts", str(job_id))
            os.makedirs(kept)
            for p in artifacts["paths"]:
                for f in glob.glob(os.path.join(project_dir, expand(p, variables))):
                    rel = os.path.relpath(f, project_dir)
                    os.makedirs(os.path.dirname(os.path.join(kept, rel)), exist_ok=True)
                    (shutil.copytree if os.path.isdir(f) else shutil.copy2)(f, os.path.join(kept, rel))
            log("job %s: artifacts kept: %s" % (name, sorted(os.listdir(kept))))
        pipeline["jobs"][name] = {"id": job_id, "status": status, "artifacts": kept}
        failed = failed or status != "success"
    pipeline["status"] = "failed" if failed else "success"
    path = os.path.join(args.store, "gitlab", "pipelines.json")
    pipelines = load_json(path, [])
    pipelines.insert(0, pipeline)
    save_json(path, pipelines)
    log("pipeline %d (%s): %s %s" % (pipeline_id, ref, pipeline["status"],
                                     json.dumps({k: v["status"] for k, v in pipeline["jobs"].items()})))
    if args.result:
        save_json(args.result, pipeline)
    return 1 if failed else 0


def gitlab_job(name, job, default, doc, variables, args, project_dir):
    log("job %s" % name)
    if os.path.exists(project_dir):
        shutil.rmtree(project_dir)
    copy_tree(args.repo, project_dir)  # the clone
    env = base_env(args.work, args.host_path)
    env.update(variables)
    before = as_list(job.get("before_script", default.get("before_script", doc.get("before_script"))))
    script = as_list(job.get("script"))
    after = as_list(job.get("after_script", default.get("after_script", doc.get("after_script"))))
    for line in before + script + after:
        if not isinstance(line, str):
            raise RunnerError("job %s: a script line is not a string: %r" % (name, line))
    if not script:
        raise RunnerError("job %s has no script" % name)
    kept = []
    for line in before:
        if calls_apt_get(line):
            log("$ %s\n  (substituted: aisearchd, curl and jq are on PATH)" % line.split("\n")[0])
        else:
            kept.append(line)
    header = "set -eo pipefail\nset +o noclobber\n"

    def body(lines):
        out = header
        for line in lines:
            out += "echo %s\n%s\n" % (shquote("$ " + line.split("\n")[0]), line)
        return out

    argv = ["bash", "--noprofile", "--norc"]
    code = run_script(argv, body(kept + script), env, project_dir, args.work)
    status = "success" if code == 0 else "failed"
    if code != 0:
        log("job %s: script exited %d" % (name, code))
    if after:
        env["CI_JOB_STATUS"] = status
        a = run_script(argv, body(after), env, project_dir, args.work)
        if a != 0:
            log("job %s: after_script exited %d (ignored, as GitLab does)" % (name, a))
    log("job %s: %s" % (name, status))
    return status


def shquote(s):
    return "'" + s.replace("'", "'\\''") + "'"


# ---------------------------------------------------------------------------------------------
# A fake GitLab REST API: merge requests of a commit, job artifacts by ref, notes.
# ---------------------------------------------------------------------------------------------

def gitlab_api_main(args):
    store = args.store
    gl = os.path.join(store, "gitlab")
    os.makedirs(gl, exist_ok=True)

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, fmt, *a):
            with open(os.path.join(gl, "api.log"), "a") as f:
                f.write("%s %s\n" % (self.command, self.path))

        def answer(self, code, body, ctype="application/json"):
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def authorized(self):
            if self.headers.get("PRIVATE-TOKEN") != args.token:
                self.answer(401, {"message": "401 Unauthorized"})
                return False
            return True

        def route(self):
            raw, _, query = self.path.partition("?")
            parts = raw.split("/")
            if parts[:4] != ["", "api", "v4", "projects"] or len(parts) < 6:
                return None, None
            return parts[5:], urllib.parse.parse_qs(query)

        def do_GET(self):
            if not self.authorized():
                return
            rest, query = self.route()
            if rest is None:
                return self.answer(404, {"message": "404 Not Found"})
            if len(rest) == 4 and rest[:2] == ["repository", "commits"] and rest[3] == "merge_requests":
                mrs = load_json(os.path.join(gl, "commit-mrs", rest[2] + ".json"), [])
                return self.answer(200, mrs)
            if len(rest) >= 5 and rest[:2] == ["jobs", "artifacts"] and rest[3] == "raw":
                ref = urllib.parse.unquote(rest[2])
                path = urllib.parse.unquote("/".join(rest[4:]))
                job = (query.get("job") or [""])[0]
                # The latest successful pipeline of the ref that has the job.
                for p in load_json(os.path.join(gl, "pipelines.json"), []):
                    if p["ref"] != ref or p["status"] != "success" or job not in p["jobs"]:
                        continue
                    kept = p["jobs"][job]["artifacts"]
                    f = os.path.join(kept, path) if kept else None
                    if f and os.path.isfile(f):
                        return self.answer(200, open(f, "rb").read(), "application/octet-stream")
                    break
                return self.answer(404, {"message": "404 Not found"})
            return self.answer(404, {"message": "404 Not Found"})

        def do_POST(self):
            if not self.authorized():
                return
            rest, _ = self.route()
            length = int(self.headers.get("Content-Length") or 0)
            data = self.rfile.read(length)
            if rest is not None and len(rest) == 3 and rest[0] == "merge_requests" and rest[2] == "notes":
                try:
                    body = json.loads(data)["body"]
                except (ValueError, KeyError):
                    return self.answer(400, {"message": "body is missing"})
                record_message(os.path.join(gl, "notes", rest[1]), body)
                return self.answer(201, {"id": 1, "body": body})
            return self.answer(404, {"message": "404 Not Found"})

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    with open(args.port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.replace(args.port_file + ".tmp", args.port_file)
    server.serve_forever()


def main():
    if os.path.basename(sys.argv[0]) == "gh" or (len(sys.argv) > 1 and sys.argv[1] == "gh"):
        argv = sys.argv[1:] if os.path.basename(sys.argv[0]) == "gh" else sys.argv[2:]
        return gh_main(argv)
    ap = argparse.ArgumentParser()
    ap.add_argument("system", choices=["github", "gitlab", "gitlab-api"])
    ap.add_argument("file", nargs="?")
    ap.add_argument("--context")
    ap.add_argument("--repo")
    ap.add_argument("--store", required=True)
    ap.add_argument("--work")
    ap.add_argument("--host-path", help="a directory with aisearchd and gh, put first on PATH")
    ap.add_argument("--result")
    ap.add_argument("--token")
    ap.add_argument("--port-file")
    args = ap.parse_args()
    try:
        if args.system == "github":
            return github_main(args)
        if args.system == "gitlab":
            return gitlab_main(args)
        return gitlab_api_main(args)
    except RunnerError as e:
        print("ci_runner: %s" % e, file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())

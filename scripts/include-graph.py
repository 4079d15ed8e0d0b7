#!/usr/bin/env python3
"""Prints the module-level include graph of src/ (and emulator/) and, with --check, fails on:

- an arrow running back up: a module that includes a header of a module it does not link,
  directly or through others (the links are the LINK lists of aisearchd_module() in
  CMakeLists.txt; util links nothing; the emulator may include util only);
- a cycle among the modules' includes;
- a dead file: a .cpp under src/, emulator/, tests/, fuzz/ or bench/, or a tests/scripts/*_test.sh
  or tests/hostile/*_test.py, that no CMakeLists.txt names (sources are listed, never globbed).

usage: scripts/include-graph.py [--root DIR] [--check]
"""
import argparse
import os
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s+"([a-z_]+)/', re.M)
MODULE_CALL = re.compile(r"aisearchd_module\((\w+)(.*?)\)", re.S)


def module_links(root):
    """{module: set of modules it links directly}, from the top CMakeLists.txt."""
    text = open(os.path.join(root, "CMakeLists.txt"), encoding="utf-8").read()
    links = {"util": set()}
    for name, body in MODULE_CALL.findall(text):
        if name == "name":  # the function's own definition
            continue
        deps = set()
        link = re.search(r"\bLINK\b(.*)", body, re.S)
        if link:
            deps = {d[len("aisearchd_"):] for d in link.group(1).split() if d.startswith("aisearchd_")}
        links[name] = deps | {"util"}
    links["emulator"] = {"util"}
    return links


def closure(links, module):
    seen, todo = set(), list(links.get(module, ()))
    while todo:
        m = todo.pop()
        if m not in seen:
            seen.add(m)
            todo.extend(links.get(m, ()))
    return seen


def include_graph(root, modules):
    """{module: {included module: [files that include it]}}."""
    graph = {}
    for module in modules:
        folder = os.path.join(root, "emulator" if module == "emulator" else os.path.join("src", module))
        if not os.path.isdir(folder):
            continue
        edges = graph.setdefault(module, {})
        for name in sorted(os.listdir(folder)):
            if not name.endswith((".hpp", ".cpp")):
                continue
            path = os.path.join(folder, name)
            for target in INCLUDE.findall(open(path, encoding="utf-8").read()):
                if target != module and target in modules:
                    edges.setdefault(target, []).append(os.path.relpath(path, root))
    return graph


def find_cycle(graph):
    state, stack = {}, []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for n in sorted(graph.get(m, {})):
            if state.get(n) == 1:
                return stack[stack.index(n):] + [n]
            if n not in state:
                found = visit(n)
                if found:
                    return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state:
            found = visit(m)
            if found:
                return found
    return None


def dead_files(root):
    named = set()
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith((".", "build")) and d != "node_modules"]
        if "CMakeLists.txt" in files:
            text = open(os.path.join(folder, "CMakeLists.txt"), encoding="utf-8").read()
            named.update(re.findall(r"[\w.-]+\.(?:cpp|sh|py)\b", text))
    dead = []
    for top in ("src", "emulator", "tests", "fuzz", "bench"):
        for folder, dirs, files in os.walk(os.path.join(root, top)):
            dirs[:] = [d for d in dirs if d != "corpus"]
            rel = os.path.relpath(folder, root)
            for name in sorted(files):
                wanted = name.endswith(".cpp") and name != "main.cpp" or (
                    rel in ("tests/scripts", "tests/hostile") and re.search(r"_test\.(sh|py)$", name))
                if wanted and name not in named:
                    dead.append(os.path.join(rel, name))
    if os.path.exists(os.path.join(root, "src", "main.cpp")) and "src/main.cpp" not in open(
            os.path.join(root, "CMakeLists.txt"), encoding="utf-8").read():
        dead.append("src/main.cpp")
    return dead


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=os.path.join(os.path.dirname(__file__), ".."))
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    root = os.path.abspath(args.root)

    links = module_links(root)
    graph = include_graph(root, set(links))
    problems = []
    for module in sorted(graph):
        allowed = closure(links, module)
        targets = graph[module]
        print(f"{module} -> {', '.join(sorted(targets)) or '(nothing)'}")
        for target, files in sorted(targets.items()):
            if target not in allowed:
                problems.append(f"back-arrow: {module} includes {target}, which it does not link "
                                f"({', '.join(files[:3])}{' ...' if len(files) > 3 else ''})")
    cycle = find_cycle({m: set(t) for m, t in graph.items()})
    if cycle:
        problems.append("cycle: " + " -> ".join(cycle))
    for path in dead_files(root):
        problems.append(f"dead file: {path} is named by no CMakeLists.txt")
    if args.check and problems:
        for p in problems:
            print("FAIL: " + p, file=sys.stderr)
        return 1
    if args.check:
        print(f"ok: {len(graph)} modules, every include follows a link, no cycle, no dead file")
    return 0


if __name__ == "__main__":
    sys.exit(main())

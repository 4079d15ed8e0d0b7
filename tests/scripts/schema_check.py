#!/usr/bin/env python3
"""Checks the manifest JSON Schema (printed by `aisearchd schema`) against the repository's
manifests: every example must pass; every invalid-corpus case whose rule a JSON Schema can
express must fail (a YAML parse error counts as a failure).

usage: schema_check.py SCHEMA.json SOURCE_DIR
"""
import json
import pathlib
import sys

import jsonschema
import yaml

# Invalid-corpus cases the schema cannot reject: duplicate keys (PyYAML keeps the last), YAML 1.1
# booleans (`yes`), cron / time zone / interval semantics, unset environment variables, rules
# across files or across the defaults merge (51: type and source may come from defaults). 24 is
# the alias bomb: PyYAML builds it by reference,
# but jsonschema's error messages would repr() it in full, so it is left to the loader's tests.
NOT_EXPRESSIBLE = {
    "02-duplicate-key", "04-yes-is-not-a-boolean", "12-bad-cron", "13-bad-timezone",
    "16-every-too-short", "17-unset-env-var", "22-duplicate-instance-across-files",
    "24-billion-laughs", "36-namespace-setting-conflict", "42-required-after-merge",
    "44-unterminated-env", "50-cron-never-fires", "51-no-type-no-source",
}


def documents(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def main():
    schema = json.load(open(sys.argv[1], encoding="utf-8"))
    root = pathlib.Path(sys.argv[2])
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    failures = []

    examples = sorted(p for p in (root / "examples").rglob("*") if p.suffix in (".yaml", ".yml"))
    checked = 0
    for path in examples:
        if "apiVersion: aisearchd/v1" not in path.read_text(encoding="utf-8"):
            continue  # CI workflow files
        for doc in documents(path):
            errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
            for e in errors:
                failures.append(f"{path.relative_to(root)}: {'/'.join(map(str, e.absolute_path))}: {e.message}")
            checked += 1
    if checked < 5:
        failures.append(f"only {checked} example documents found under examples/")

    corpus = root / "tests" / "data" / "manifests" / "invalid"
    cases = sorted(p for p in corpus.iterdir() if p.suffix != ".expected")
    rejected, passed = 0, []
    for case in cases:
        name = case.stem if case.is_file() else case.name
        if name in NOT_EXPRESSIBLE or case.is_dir():
            continue
        try:
            docs = documents(case)
        except (yaml.YAMLError, RecursionError):
            rejected += 1
            continue
        if not docs or any(not validator.is_valid(d) for d in docs):
            rejected += 1
        else:
            passed.append(name)
    for name in passed:
        failures.append(f"invalid/{name}: passes the schema, but the rule is expressible (or list it in NOT_EXPRESSIBLE)")

    for line in failures:
        print("FAIL:", line, file=sys.stderr)
    print(f"schema: {checked} example documents valid, {rejected} invalid cases rejected, "
          f"{len(NOT_EXPRESSIBLE)} left to the loader")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env bash
# scripts/include-graph.py --check (issue 16): the real tree passes; a tree with an arrow running
# back up, or a source no CMakeLists.txt names, fails and says which.
set -euo pipefail
: "${SOURCE_DIR:?}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
check="$SOURCE_DIR/scripts/include-graph.py"

python3 "$check" --root "$SOURCE_DIR" --check >"$work/out" 2>&1 || { cat "$work/out" >&2; fail "the tree fails its own check"; }
grep -q '^cli -> ' "$work/out" || fail "no graph printed: $(cat "$work/out")"

# A small tree: util <- api <- state.
mkdir -p "$work/t/src/util" "$work/t/src/api" "$work/t/src/state"
cat >"$work/t/CMakeLists.txt" <<'CMAKE'
add_library(aisearchd_util STATIC src/util/strings.cpp)
aisearchd_module(api
  SOURCES
    client.cpp)
aisearchd_module(state
  SOURCES
    store.cpp
  LINK aisearchd_api)
CMAKE
echo '#include "util/strings.hpp"' >"$work/t/src/api/client.cpp"
echo '#include "api/client.hpp"' >"$work/t/src/state/store.cpp"
echo '' >"$work/t/src/util/strings.cpp"
python3 "$check" --root "$work/t" --check >"$work/out" 2>&1 || { cat "$work/out" >&2; fail "the small tree should pass"; }

echo '#include "state/store.hpp"' >"$work/t/src/api/client.cpp"  # api reaching up into state
if python3 "$check" --root "$work/t" --check >"$work/out" 2>&1; then fail "a back-arrow passed"; fi
grep -q 'back-arrow: api includes state' "$work/out" || fail "back-arrow not named: $(cat "$work/out")"
echo '#include "util/strings.hpp"' >"$work/t/src/api/client.cpp"

echo '' >"$work/t/src/state/forgotten.cpp"  # on disk, compiled by nothing
if python3 "$check" --root "$work/t" --check >"$work/out" 2>&1; then fail "a dead file passed"; fi
grep -q 'dead file: src/state/forgotten.cpp' "$work/out" || fail "dead file not named: $(cat "$work/out")"
echo PASS

#!/usr/bin/env bash
# Builds aisearchd and runs the whole test suite: the README's second command, and CI's.
#   scripts/test.sh              normal build (build/) with -Werror
#   scripts/test.sh --sanitize   ASan+UBSan build (build-asan/)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/install-deps.sh

build=build
flags=(-DAISEARCHD_WERROR=ON)
if [[ "${1:-}" == "--sanitize" ]]; then
  build=build-asan
  flags+=(-DAISEARCHD_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug)
fi
cmake -S . -B "$build" -G Ninja "${flags[@]}" >/dev/null
cmake --build "$build" -j "$(nproc)"
cd "$build"
ctest --output-on-failure -j "$(nproc)" --timeout 600

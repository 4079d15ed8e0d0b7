#!/usr/bin/env bash
# Builds the libFuzzer targets with clang and runs each for N seconds (default 30) on its seed
# corpus. Fails on any crash, leak, hang (>10 s per input) or sanitizer report.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-30}
cd "$root"
CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DAISEARCHD_FUZZ=ON -DAISEARCHD_TESTS=OFF \
  -DCMAKE_BUILD_TYPE=Debug >/dev/null
targets=$(cd fuzz && ls fuzz_*.cpp 2>/dev/null | sed 's/\.cpp$//')
[[ -n "$targets" ]] || { echo "no fuzz targets"; exit 0; }
cmake --build build-fuzz -j "$(nproc)" --target $targets
for t in $targets; do
  corpus_seed="fuzz/corpus/${t#fuzz_}"
  work=$(mktemp -d)
  [[ -d "$corpus_seed" ]] && cp -r "$corpus_seed"/. "$work"/
  echo "fuzz: $t for ${seconds}s"
  artifacts="build-fuzz/artifacts/$t/"
  rm -rf "$artifacts" && mkdir -p "$artifacts"
  if ! build-fuzz/fuzz/$t -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$artifacts" "$work" >"build-fuzz/$t.log" 2>&1; then
    grep -E "ERROR|SUMMARY|Test unit written" "build-fuzz/$t.log" || tail -n 20 "build-fuzz/$t.log"
    for f in "$artifacts"*; do
      [[ -f "$f" ]] && { echo "input that failed ($f):"; od -c "$f" | head -n 20; }
    done
    rm -rf "$work"
    exit 1
  fi
  tail -n 1 "build-fuzz/$t.log"
  rm -rf "$work"
done

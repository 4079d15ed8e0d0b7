#!/usr/bin/env bash
# Runs the whole suite N times on a deliberately busy machine, to find tests that depend on how
# fast the machine answers: each round is `ctest -j 6` (more tests than cores), on the normal
# build and then on the ASan+UBSan build, while a CPU load (one busy loop per core, bounded by
# the run's own length) competes beside it. Every round runs every test (unlike
# `--repeat until-fail`, which drops a test after its first failure), so a failure's count is
# how many of the N rounds it failed. A tool for developers, not a CI stage.
#
#   scripts/stress-tests.sh [N]            N rounds per build (default 5)
# Env: STRESS_BUILDS="build build-asan" (which builds; a name containing "asan" is configured
#      with -DAISEARCHD_SANITIZE=ON), STRESS_JOBS=6 (ctest -j), STRESS_LOAD=<cores> (busy loops
#      beside the suite; 0 = none), STRESS_FILTER (ctest -R), STRESS_EXCLUDE (ctest -E),
#      STRESS_BUILD_JOBS=<cores> (cmake --build -j).
# Exit 0 when no test failed in any round; 1 otherwise (the summary names each failure).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

rounds=${1:-5}
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || { echo "usage: $0 [ROUNDS]" >&2; exit 2; }
builds=${STRESS_BUILDS:-build build-asan}
jobs=${STRESS_JOBS:-6}
load=${STRESS_LOAD:-$(nproc)}
filter=${STRESS_FILTER:-}
exclude=${STRESS_EXCLUDE:-}
build_jobs=${STRESS_BUILD_JOBS:-$(nproc)}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

logs=$(mktemp -d)
load_pids=()
stop_load() {
  for pid in "${load_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${load_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  load_pids=()
}
trap 'stop_load; rm -rf "$logs"' EXIT
trap 'exit 130' INT TERM

configure_and_build() {
  local dir=$1
  local flags=(-DAISEARCHD_WERROR=ON)
  [[ "$dir" == *asan* ]] && flags+=(-DAISEARCHD_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug)
  cmake -S . -B "$dir" -G Ninja "${flags[@]}" >/dev/null
  cmake --build "$dir" -j "$build_jobs" >/dev/null
}

# One busy loop per requested core; each ends by itself after `seconds` if not killed before.
start_load() {
  local seconds=$1
  for _ in $(seq 1 "$load"); do
    timeout "$seconds" bash -c 'while :; do :; done' &
    load_pids+=($!)
  done
}

scripts/install-deps.sh
declare -A failures=()
total_failed=0
started=$(date +%s)
for dir in $builds; do
  echo "== $dir: building"
  configure_and_build "$dir"
  for round in $(seq 1 "$rounds"); do
    start_load 3600
    log="$logs/$dir.$round.log"
    args=(-j "$jobs" --timeout 900 --output-on-failure)
    [[ -n "$filter" ]] && args+=(-R "$filter")
    [[ -n "$exclude" ]] && args+=(-E "$exclude")
    t0=$(date +%s)
    (cd "$dir" && ctest "${args[@]}") >"$log" 2>&1 && status=0 || status=$?
    stop_load
    failed_here=$(grep -E '^[[:space:]]*[0-9]+ - .* \((Failed|Timeout|SEGFAULT|Subprocess aborted|Exception|Child aborted|OTHER_FAULT|Not Run)\)' "$log" |
      sed -E 's/^[[:space:]]*[0-9]+ - //' || true)
    summary=$(grep -E 'tests passed, [0-9]+ tests failed' "$log" | tail -1 || true)
    echo "   round $round/$rounds: ${summary:-ctest exit $status} ($(( $(date +%s) - t0 )) s, load $load)"
    if [[ -n "$failed_here" ]]; then
      while IFS= read -r line; do
        key="$dir: $line"
        failures[$key]=$(( ${failures[$key]:-0} + 1 ))
        total_failed=$((total_failed + 1))
      done <<<"$failed_here"
      cp "$log" "$root/stress-$dir-round$round.log"
      echo "   (output kept in stress-$dir-round$round.log)"
    elif [[ $status -ne 0 ]]; then
      total_failed=$((total_failed + 1))
      failures["$dir: ctest exited $status without naming a test"]=1
      cp "$log" "$root/stress-$dir-round$round.log"
    fi
  done
done

echo "== stress summary: $rounds round(s) per build ($builds), ctest -j $jobs, $load busy loop(s), $(( $(date +%s) - started )) s"
if ((total_failed == 0)); then
  echo "no test failed"
  exit 0
fi
for key in "${!failures[@]}"; do
  printf '%3d/%d  %s\n' "${failures[$key]}" "$rounds" "$key"
done | sort -rn
exit 1

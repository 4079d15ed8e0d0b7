#!/usr/bin/env bash
# Prints the API requests spent per hour by N instances each syncing hourly with jobs lasting
# 5 minutes (target: < 10% of the default request budget 600/5m, i.e. < 720 requests/hour for 100).
# Usage: bench/sync_requests.sh [build-dir] [instances] [hours] [job_seconds]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="${1:-$here/../build}"
shift || true
cmake --build "$build" --target bench_sync_requests >/dev/null
exec "$build/bench/bench_sync_requests" "$@"

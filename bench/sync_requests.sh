#!/usr/bin/env bash
# Prints the API requests per job and per hour of N instances each syncing hourly (every: 1h,
# jitter 10m) with jobs lasting job_seconds +/- 10 %, run by the daemon's sync engine on simulated
# time (target: <= 3.0 requests per job in steady state under forbid, the default, whose every
# slot reads the job list before its trigger; 2.0 under replace), and the figure for 1,000 instances
# against Cloudflare's 1200 requests per 5 minutes.
# Usage: bench/sync_requests.sh [build-dir] [instances] [hours] [job_seconds]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="${1:-$here/../build}"
shift || true
cmake --build "$build" --target bench_sync_requests >/dev/null
exec "$build/bench/bench_sync_requests" "$@"

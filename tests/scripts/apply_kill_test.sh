#!/usr/bin/env bash
# kill -9 aisearchd at random moments during an apply of 200 changes, 20 times: each time the state
# file parses and the next apply converges with nothing lost.
set -euo pipefail
exec python3 "$(dirname "$0")/apply_kill.py"

#!/usr/bin/env bash
# kill -9 aisearchd after a random number of writes during an apply of 120 changes, 12 times:
# each time the state file parses and the next apply converges with nothing lost.
set -euo pipefail
exec python3 "$(dirname "$0")/apply_kill.py"

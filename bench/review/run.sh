#!/usr/bin/env bash
# Review benchmark (issue 5): `agentgate list` over 100,000 requests (target
# < 100 ms) and the approve round trip (target < 50 ms). See RESULTS.md.
#
# Usage: bench/review/run.sh [BUILD_DIR] [REQUESTS] [RUNS]   (default build/ 100000 30)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
cmake --build "$build" --target agentgate review_bench >/dev/null
AGENTGATE_LOG_LEVEL=${AGENTGATE_LOG_LEVEL:-error} "$build/bin/review_bench" "$build/bin/agentgate" "${2:-100000}" "${3:-30}"

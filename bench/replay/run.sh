#!/usr/bin/env bash
# Replay benchmark (issue 6): replay worker vs plain `git push` of the same
# commits to the same nginx + git http-backend upstream. See RESULTS.md.
#
# Usage: bench/replay/run.sh [BUILD_DIR] [ROUNDS] [LARGE_COMMITS]   (default build/ 7 200)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
cmake --build "$build" --target replay_bench >/dev/null
AGENTGATE_LOG_LEVEL=warn "$build/bin/replay_bench" "${2:-7}" "${3:-200}"

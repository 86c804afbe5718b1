#!/usr/bin/env bash
# Instruction counts of `agentgate scan` under callgrind: load-independent,
# unlike wall times on a shared machine. Uses the first N files (~2 MB each)
# of the throughput corpus (run bench/scan/throughput.sh once to build it).
#
#   bench/scan/callgrind.sh [FILES=16] [AGENTGATE=build-scan/bin/agentgate]
#
# Prints, per rule set: Scanner::Create alone (an empty directory), and for
# the corpus subset: total instructions, ScanText (scanning proper, first-use
# rule compiles included) and instructions per byte.
set -euo pipefail
files=${1:-16}
here=$(cd "$(dirname "$0")" && pwd)
ag=${2:-$here/../../build-scan/bin/agentgate}
work=${AG_BENCH_DIR:-/tmp/ag-scan-bench}
sub=$work/cg-subset-$files
empty=$work/cg-empty
if [ ! -d "$sub" ]; then
  mkdir -p "$sub.tmp"
  for f in $(ls "$work/corpus-256" | head -n "$files"); do ln "$work/corpus-256/$f" "$sub.tmp/$f"; done
  mv "$sub.tmp" "$sub"
fi
mkdir -p "$empty"
bytes=$(cat "$sub"/* | wc -c)

inclusive() {  # callgrind file, function pattern -> inclusive Ir
  callgrind_annotate --inclusive=yes "$1" 2>/dev/null | grep -E "$2" | grep -v '=>' | head -1 |
    awk '{gsub(",", "", $1); print $1}'
}

run() {  # name, extra args...
  local name=$1; shift
  valgrind --tool=callgrind --callgrind-out-file="$work/cg.create" "$ag" scan --json "$@" "$empty" \
    > /dev/null 2>&1 || true
  valgrind --tool=callgrind --callgrind-out-file="$work/cg.scan" "$ag" scan --json "$@" "$sub" \
    > /dev/null 2>&1 || true
  local create total scan
  create=$(inclusive "$work/cg.create" 'Scanner::Create\(')
  total=$(callgrind_annotate "$work/cg.scan" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
  scan=$(inclusive "$work/cg.scan" 'ScannerImpl::ScanText\(')
  printf "%-30s Create %12s Ir | %s bytes: total %13s Ir, ScanText %13s Ir = %5.2f Ir/byte\n" \
    "$name" "$create" "$bytes" "$total" "$scan" "$(python3 -c "print($scan/$bytes)")"
}

run "reference 34 rules" --no-builtin --no-decode --rules "$here/reference-34.yaml"
run "built-in pack + decoding"
run "built-in, no decoding" --no-decode
run "+ gitleaks default" --rules /work/shared/corpus/gitleaks.toml

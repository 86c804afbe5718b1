#!/usr/bin/env bash
# Throughput of `agentgate scan` on one core, side by side with ripgrep using
# the same regexes (rg -f) and git-secrets (AWS patterns), on a corpus of real
# source text (/usr/include, /usr/share source files) with injected secrets.
#
#   bench/scan/throughput.sh [SIZE_MB=256] [AGENTGATE=build-scan/bin/agentgate]
#   AG_BUILTIN_DIR=policies/rules bench/scan/throughput.sh ...  # the pack on disk
#   SKIP_OTHERS=1 bench/scan/throughput.sh ...   # agentgate only
#
# Not a test: prints MB/s by wall time and by CPU time (user + sys), and
# peak RSS (from /usr/bin/time -v) per tool. Instruction counts, which do not
# depend on the machine's load: bench/scan/callgrind.sh.
set -euo pipefail
size_mb=${1:-256}
here=$(cd "$(dirname "$0")" && pwd)
ag=${2:-$here/../../build-scan/bin/agentgate}
work=${AG_BENCH_DIR:-/tmp/ag-scan-bench}
corpus=$work/corpus-$size_mb
mkdir -p "$work"

if [ ! -d "$corpus" ]; then
  echo "building $size_mb MB corpus in $corpus" >&2
  mkdir -p "$corpus.tmp"
  find /usr/include /usr/share -type f \( -name '*.h' -o -name '*.hpp' -o -name '*.c' -o -name '*.cc' \
       -o -name '*.py' -o -name '*.pl' -o -name '*.pm' -o -name '*.rb' -o -name '*.sh' -o -name '*.js' \
       -o -name '*.el' -o -name '*.tcl' -o -name '*.cmake' -o -name '*.xml' \) -size -2M 2>/dev/null \
       | sort > "$work/files.txt"
  python3 - "$corpus.tmp" "$size_mb" "$work/files.txt" <<'PY'
import os, random, sys
out, size_mb, listing = sys.argv[1], int(sys.argv[2]), sys.argv[3]
files = [l.strip() for l in open(listing)]
rnd = random.Random(20260722)
alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
def noise(n, a=alnum): return "".join(rnd.choice(a) for _ in range(n))
def secret():  # assembled here, never stored in the repository
    k = rnd.randrange(4)
    if k == 0: return 'static const char* kToken = "gh' + 'p_' + noise(36) + '";\n'
    if k == 1: return 'AWS_ACCESS_KEY_ID=AK' + 'IA' + noise(16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") + '\n'
    if k == 2: return 'db_password = "' + noise(18) + '"\n'
    return 'slack = "xo' + 'xb-' + noise(11, "0123456789") + '-' + noise(12, "0123456789") + '-' + noise(24) + '"\n'
target, total, n, injected = size_mb << 20, 0, 0, 0
chunk = []
chunk_size = 0
while total < target:
    for f in files:
        try:
            data = open(f, "rb").read()
        except OSError:
            continue
        if b"\0" in data[:8000]:
            continue
        chunk.append(data)
        chunk_size += len(data)
        if chunk_size >= (2 << 20):
            body = b"".join(chunk)
            cut = body.find(b"\n", len(body) // 2) + 1
            body = body[:cut] + secret().encode() + body[cut:]
            injected += 1
            with open(os.path.join(out, "chunk%05d.src" % n), "wb") as o:
                o.write(body)
            n += 1
            total += len(body)
            chunk, chunk_size = [], 0
            if total >= target:
                break
print("files %d, bytes %d, injected secrets %d" % (n, total, injected), file=sys.stderr)
PY
  mv "$corpus.tmp" "$corpus"
fi
bytes=$(du -sb "$corpus" | cut -f1)
mb=$(python3 -c "print($bytes/1048576)")

# The reference pack's regexes (the 34 rules before issue 13), one per
# line, for rg -f.
python3 - "$here/reference-34.yaml" > "$work/patterns.txt" <<'PY'
import re, sys
for line in open(sys.argv[1]):
    m = re.match(r"^\s+regex: '(.*)'\s*$", line)
    if m: print(m.group(1).replace("''", "'"))
PY

if [ -n "${AG_BUILTIN_DIR:-}" ]; then  # agentgate with the built-in pack read from disk
  real_ag=$ag
  ag=$work/ag-with-dir
  printf '#!/bin/sh\nsub=$1; shift\nexec %s "$sub" --builtin-dir %s "$@"\n' "$real_ag" \
    "$(cd "$AG_BUILTIN_DIR" && pwd)" > "$ag"
  chmod +x "$ag"
fi

measure() {  # name, command...
  local name=$1; shift
  sync
  cat "$corpus"/* > /dev/null  # warm the page cache
  /usr/bin/time -v -o "$work/time.txt" taskset -c 0 "$@" > "$work/out-$name.txt" 2> "$work/err-$name.txt" || true
  local secs rss cpu
  secs=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$work/time.txt")
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time.txt")
  # CPU seconds (user + sys): on a shared machine wall time includes waiting
  # for the core; both are printed.
  cpu=$(awk -F': ' '/User time|System time/ {s+=$2} END {print s}' "$work/time.txt")
  printf "%-34s %8.1f MB/s wall %6.2f s | %8.1f MB/s cpu %6.2f s | peak RSS %7.1f MB | output lines %s\n" "$name" \
    "$(python3 -c "print($mb/max($secs,0.001))")" "$secs" \
    "$(python3 -c "print($mb/max($cpu,0.001))")" "$cpu" "$(python3 -c "print($rss/1024)")" \
    "$(wc -l < "$work/out-$name.txt")"
}

echo "corpus: $corpus, $(printf %.1f "$mb") MB; machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
# Issue 13's comparison, in one run: the 34-rule pack as it was (no
# decoding then), the whole built-in pack with base64 decoding, the built-in
# pack plus the gitleaks import, and the gitleaks import alone.
gitleaks=/work/shared/corpus/gitleaks.toml
measure "reference 34 rules (no decoding)" "$ag" scan --json --no-builtin --no-decode \
  --rules "$here/reference-34.yaml" "$corpus"
measure "built-in pack + base64 decoding" "$ag" scan --json "$corpus"
measure "built-in pack, no decoding" "$ag" scan --json --no-decode "$corpus"
measure "built-in + gitleaks default" "$ag" scan --json --rules "$gitleaks" "$corpus"
measure "gitleaks default alone" "$ag" scan --json --no-builtin --rules "$gitleaks" "$corpus"
[ -n "${SKIP_OTHERS:-}" ] && exit 0  # SKIP_OTHERS=1: agentgate only (rg takes minutes)
measure "rg -f (same agentgate regexes)" rg -j1 --no-config -n -f "$work/patterns.txt" "$corpus"
if command -v git-secrets > /dev/null; then
  # git-secrets runs git grep with its own (AWS) patterns over a repository.
  repo=$work/gs-repo-$size_mb
  if [ ! -d "$repo" ]; then
    cp -r "$corpus" "$repo" && git -C "$repo" init -q && git -C "$repo" add -A \
      && git -C "$repo" -c user.name=b -c user.email=b@example.org commit -qm corpus \
      && (cd "$repo" && git secrets --register-aws > /dev/null)
  fi
  ( cd "$repo" && measure "git-secrets --scan (AWS patterns)" git secrets --scan -r . )
fi

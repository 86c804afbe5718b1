#!/usr/bin/env bash
# Benchmark of the pre-receive hook's added latency (issue 2).
#
# The same pushes go to two bare repos on local disk, one without hooks and one
# with agentgate's hooks and the default policy; each push is timed end to end
# (git push wall time) and the hook alone is timed and its peak RSS measured
# by a wrapper. Results are medians over RUNS pushes.
#
#   small:   1 commit, 3 files                        (target: <= 1.3x)
#   large:   1 commit, 5,000 files, 100 MB            (target: hook peak RSS < 100 MB)
#   history: the small push into a repo with 100,000 commits vs 10 commits
#            (target: hook time changes by <= 1.2x)
#   pending: small pushes, each on top of the previous one, on agent/big, a
#            10,000-commit branch upstream lacks that was pushed through the
#            hook once before (the range judged is then ~10,000 commits, all
#            but one cached)                         (target: <= 1.5x)
#            The first (cold) 10,000-commit push is timed and reported too.
#
# The hooked repos look like mirrors: refs/agentgate/upstream/heads/main is at
# main's tip, as sync writes it, so the history is upstream's and only what
# upstream lacks is judged.
#
# The hooked repos are served by agentgate-mirror's check server (the path
# every push through the daemon takes); IN_PROCESS=1 measures the hook
# programs running on their own instead (a local push with the daemon down).
#
# Usage: bench/hook/run.sh [BUILD_DIR]   (default build/)
#        ONLY=small bench/hook/run.sh     (the small push only, for quick iterations)
#        ONLY=pending bench/hook/run.sh   (the pending case only)
#        ONLY=history bench/hook/run.sh   (the small push and the history case)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=$(cd "${1:-$root/build}/bin" && pwd)
RUNS=${RUNS:-15}
work=$(mktemp -d /tmp/agentgate-bench-hook-XXXXXX)
daemons=()
cleanup() {
  for pid in "${daemons[@]}"; do kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT

now_us() { date +%s%6N; }
ms() { awk "BEGIN{printf \"%.1f\", $1/1000}"; }  # microseconds -> ms
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
ratio() { awk "BEGIN{printf \"%.2f\", $1/$2}"; }
die() { echo "bench: $*" >&2; exit 1; }

# make_repo NAME COMMITS [hooked [MAX_COMMITS]]: a bare repo with COMMITS
# commits of history; a hooked one has upstream's ref at main's tip and, with
# MAX_COMMITS, a policy whose max-commits rule allows that many.
make_repo() {
  local name=$1 commits=$2 hooked=${3:-} max_commits=${4:-}
  local bare=$work/$name.git
  git init -q --bare -b main "$bare"
  git -C "$bare" config receive.advertisePushOptions true
  {
    for ((i = 1; i <= commits; i++)); do
      printf 'commit refs/heads/main\ncommitter Bench <b@example.com> %d +0000\ndata 2\nc\n' $((1700000000 + i))
      printf 'M 100644 inline history.txt\ndata %d\n%s\n' $((${#i} + 1)) "$i"
    done
  } | git -C "$bare" fast-import --quiet
  if [ -n "$hooked" ]; then
    # As sync writes it in a real mirror: upstream has main's history.
    git -C "$bare" update-ref refs/agentgate/upstream/heads/main refs/heads/main
    mkdir -p "$work/$name-data"
    cp "$root/policies/default.yaml" "$work/$name-policy.yaml"
    if [ -n "$max_commits" ]; then
      awk -v n="$max_commits" '/- id: /{r=$3} r=="max-commits" && $1=="limit:" {sub(/limit: [0-9]+/, "limit: " n)} {print}' \
        "$root/policies/default.yaml" > "$work/$name-policy.yaml"
      grep -q "limit: $max_commits\$" "$work/$name-policy.yaml" || die "cannot raise max-commits in the policy copy"
    fi
    cat > "$work/$name.yaml" <<YAML
data_dir: $work/$name-data
policy: $work/$name-policy.yaml
listen: 127.0.0.1:$((20000 + RANDOM % 20000))
control_socket: $work/$name-control.sock
repos:
  - name: $name
    path: $bare
    sync_interval: 0s
YAML
    if [ -z "${IN_PROCESS:-}" ]; then
      "$bin/agentgate-mirror" --config "$work/$name.yaml" > "$work/$name-daemon.log" 2>&1 &
      daemons+=($!)
      echo $! > "$work/$name.pid"
      for _ in $(seq 100); do [ -S "$work/$name-data/hook.sock" ] && break; sleep 0.1; done
    fi
    install_hooks "$name" file
  fi
}

# install_hooks NAME file|timed: the hooks as `agentgate repo add` installs
# them (a hook file: git starts the hook program from its #! line), or a
# shell wrapper around the same program that also times it alone and records
# its peak RSS (KiB).
install_hooks() {
  local name=$1 mode=$2 bare=$work/$1.git
  local flags="--config=$work/$name.yaml --repo=$name"
  [ -z "${IN_PROCESS:-}" ] && flags="$flags --socket=$work/$name-data/hook.sock"
  for hook in pre-receive post-receive; do
    if [ "$mode" = file ]; then
      { echo "#!$bin/agentgate-$hook"; echo "# as agentgate repo add installs it"; printf '%s\n' $flags; } > "$bare/hooks/$hook"
    else
      cat > "$bare/hooks/$hook" <<SH
#!/bin/sh
start=\$(date +%s%N)
/usr/bin/time -f %M -o "$work/$name.$hook.rss" "$bin/agentgate-$hook" $flags
rc=\$?
echo \$(( (\$(date +%s%N) - start) / 1000 )) >> "$work/$name.$hook.us"
cat "$work/$name.$hook.rss" >> "$work/$name.$hook.rsslog"
exit \$rc
SH
    fi
    chmod +x "$bare/hooks/$hook"
  done
}

# clone_of NAME: a work clone of repo NAME.
clone_of() {
  local dir=$work/$1.work
  git clone -q "$work/$1.git" "$dir" 2>/dev/null
  git -C "$dir" config user.email b@example.com
  git -C "$dir" config user.name Bench
  echo "$dir"
}

# small_push DIR I: one commit with 3 small files on a new agent branch.
small_push() {
  local dir=$1 i=$2
  git -C "$dir" checkout -q -B "agent/s$i" main
  for f in a b c; do printf 'change %s %s\n' "$i" "$f" > "$dir/$f.txt"; done
  git -C "$dir" add -A && git -C "$dir" commit -q -m "small $i"
  local t0; t0=$(now_us)
  git -C "$dir" push -q origin "agent/s$i" 2>"$work/push.err" || { cat "$work/push.err" >&2; die "push to $dir's origin failed"; }
  echo $(( $(now_us) - t0 ))
}

echo "agentgate hook benchmark: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(git --version)," \
     "hooks $([ -n "${IN_PROCESS:-}" ] && echo "in-process" || echo "via the daemon's check server")"

pending_case() {
  # The same history in a hookless repo and a hooked one whose upstream ref is
  # at the base (main's tip); one work clone pushes to both.
  make_repo pendplain 10
  make_repo pend 10 hooked 20000
  local w; w=$(clone_of pend)
  git -C "$w" remote add plain "$work/pendplain.git"
  # agent/big: 10,000 commits on top of main, each changing one small file.
  {
    for ((i = 1; i <= 10000; i++)); do
      printf 'commit refs/heads/agent/big\ncommitter Bench <b@example.com> %d +0000\ndata 4\nbig\n' $((1710000000 + i))
      [ "$i" = 1 ] && printf 'from refs/heads/main^0\n'
      printf 'M 100644 inline big/f%d.txt\ndata %d\n%s\n' $((i % 100)) $((${#i} + 1)) "$i"
    done
  } | git -C "$w" fast-import --quiet
  [ "$(git -C "$w" rev-list --count main..agent/big)" = 10000 ] || die "agent/big is not 10,000 commits ahead"
  local t0 cold_hooked cold_plain
  t0=$(now_us)
  git -C "$w" push -q origin agent/big 2>"$work/push.err" || { cat "$work/push.err" >&2; die "the 10,000-commit push was refused"; }
  cold_hooked=$(( $(now_us) - t0 ))
  t0=$(now_us)
  git -C "$w" push -q plain agent/big 2>/dev/null || die "the 10,000-commit push to the plain repo failed"
  cold_plain=$(( $(now_us) - t0 ))
  echo "pending: first push of agent/big (10,000 commits, cold cache): no hook $(ms "$cold_plain") ms," \
       "with hooks $(ms "$cold_hooked") ms"
  # pend_push REMOTE I: one commit on agent/big (made once, pushed to both).
  pend_push() {
    local remote=$1 i=$2 t0
    if [ "$remote" = plain ]; then
      for f in a b c; do printf 'pending %s %s\n' "$i" "$f" > "$w/$f.txt"; done
      git -C "$w" add -A && git -C "$w" commit -q -m "pending $i"
    fi
    t0=$(now_us)
    git -C "$w" push -q "$remote" agent/big 2>"$work/push.err" || { cat "$work/push.err" >&2; die "push of agent/big to $remote failed"; }
    echo $(( $(now_us) - t0 ))
  }
  git -C "$w" checkout -q agent/big
  local i t p=() h=()
  for i in w0 w1 w2; do pend_push plain "$i" >/dev/null; pend_push origin "$i" >/dev/null; done  # warm-up
  for ((i = 0; i < RUNS; i++)); do
    t=$(pend_push plain "$i") || exit 1; p+=("$t")
    t=$(pend_push origin "$i") || exit 1; h+=("$t")
  done
  local pend_plain pend_hooked pend_hook_only
  pend_plain=$(printf '%s\n' "${p[@]}" | median)
  pend_hooked=$(printf '%s\n' "${h[@]}" | median)
  install_hooks pend timed
  for ((i = 0; i < RUNS; i++)); do pend_push plain "t$i" >/dev/null; pend_push origin "t$i" >/dev/null; done
  pend_hook_only=$(median < "$work/pend.pre-receive.us")
  echo "pending (1 commit on a 10,000-commit branch upstream lacks, pushed before): no hook $(ms "$pend_plain") ms," \
       "with hooks $(ms "$pend_hooked") ms, ratio $(ratio "$pend_hooked" "$pend_plain")," \
       "pre-receive alone $(ms "$pend_hook_only") ms, post-receive alone $(ms "$(median < "$work/pend.post-receive.us")") ms"
}

if [ "${ONLY:-}" = pending ]; then pending_case; exit 0; fi

make_repo plain 10
make_repo hooked 10 hooked
plain_w=$(clone_of plain); hooked_w=$(clone_of hooked)
for i in 0 1 2; do small_push "$plain_w" "w$i" >/dev/null; small_push "$hooked_w" "w$i" >/dev/null; done  # warm-up
p=(); h=()
for ((i = 0; i < RUNS; i++)); do
  t=$(small_push "$plain_w" "$i") || exit 1; p+=("$t")
  t=$(small_push "$hooked_w" "$i") || exit 1; h+=("$t")
done
small_plain=$(printf '%s\n' "${p[@]}" | median)
small_hooked=$(printf '%s\n' "${h[@]}" | median)
# The hook alone, timed by the wrapper.
install_hooks hooked timed
for ((i = 0; i < RUNS; i++)); do small_push "$hooked_w" "t$i" >/dev/null; done
small_hook_only=$(median < "$work/hooked.pre-receive.us")
small_post_only=$(median < "$work/hooked.post-receive.us")
echo "small push (1 commit, 3 files): no hook $(ms "$small_plain") ms, with hooks $(ms "$small_hooked") ms," \
     "ratio $(awk "BEGIN{printf \"%.2f\", $small_hooked/$small_plain}"), pre-receive alone $(ms "$small_hook_only") ms," \
     "post-receive alone $(ms "$small_post_only") ms (each alone: with a timing wrapper)"

[ "${ONLY:-}" = small ] && exit 0

if [ -z "${ONLY:-}" ]; then  # the large push (skipped by ONLY=history)
# Large push: 5,000 files of ~20 KB of text, 100 MB in one commit.
large_push() {
  local dir=$1
  git -C "$dir" checkout -q -B agent/large main
  mkdir -p "$dir/large"
  python3 - "$dir/large" <<'PY'
import os, random, sys
random.seed(7)
words = [''.join(random.choice('abcdefghijklmnopqrstuvwxyz') for _ in range(random.randint(2, 9))) for _ in range(5000)]
for i in range(5000):
    d = os.path.join(sys.argv[1], 'd%02d' % (i % 50))
    os.makedirs(d, exist_ok=True)
    lines = []
    size = 0
    while size < 20000:
        line = ' '.join(random.choice(words) for _ in range(12)) + '\n'
        lines.append(line); size += len(line)
    open(os.path.join(d, 'f%04d.txt' % i), 'w').write(''.join(lines))
PY
  git -C "$dir" add -A && git -C "$dir" commit -q -m large
  local t0; t0=$(now_us)
  git -C "$dir" push -q origin agent/large 2>"$work/push.err" || { cat "$work/push.err" >&2; die "the large push failed"; }
  echo $(( $(now_us) - t0 ))
}
: > "$work/hooked.pre-receive.us"; : > "$work/hooked.pre-receive.rsslog"
large_plain=$(large_push "$plain_w") || exit 1
large_hooked=$(large_push "$hooked_w") || exit 1
large_hook_only=$(tail -1 "$work/hooked.pre-receive.us")
large_rss=$(tail -1 "$work/hooked.pre-receive.rsslog")
echo "large push (5,000 files, $(du -sm "$hooked_w/large" | cut -f1) MB): no hook $(ms "$large_plain") ms, with hooks $(ms "$large_hooked") ms," \
     "ratio $(awk "BEGIN{printf \"%.2f\", $large_hooked/$large_plain}"), pre-receive alone $(ms "$large_hook_only") ms," \
     "pre-receive process peak RSS $(awk "BEGIN{printf \"%.1f\", $large_rss/1024}") MB"
if [ -z "${IN_PROCESS:-}" ]; then
  echo "daemon (check server) peak RSS after the large push: $(awk '/VmHWM/ {print int($2/1024)}' /proc/$(cat "$work/hooked.pid")/status) MB"
fi
fi  # large

# History: the small push into 100,000 commits of history vs 10.
make_repo deep 100000 hooked
deep_w=$(clone_of deep)
for i in 0 1 2; do small_push "$deep_w" "w$i" >/dev/null; done
install_hooks deep timed
# Alternating with the same pushes into the 10-commit repo (timed hooks there
# too), so a load that comes and goes hits both alike.
: > "$work/hooked.pre-receive.us"
for ((i = 0; i < RUNS; i++)); do
  small_push "$hooked_w" "h$i" >/dev/null
  small_push "$deep_w" "$i" >/dev/null
done
shallow_hook=$(median < "$work/hooked.pre-receive.us")
deep_hook=$(median < "$work/deep.pre-receive.us")
echo "history: pre-receive $(ms "$shallow_hook") ms with 10 commits, $(ms "$deep_hook") ms with 100,000 commits," \
     "ratio $(ratio "$deep_hook" "$shallow_hook")"

[ "${ONLY:-}" = history ] && exit 0
pending_case

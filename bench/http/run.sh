#!/usr/bin/env bash
# agentgate-mirror vs nginx + fcgiwrap + git http-backend, same repos, same
# machine, one run. Prints a Markdown report (bench/http/RESULTS.md is a copy
# of one run). Not a ctest test.
#
#   bench/http/run.sh [BIN_DIR]        # BIN_DIR holds agentgate-mirror (default build/bin)
#
# Sizes (environment): SIZE_MB=200 (clone/fetch repo), BIG_MB=1024 (RSS
# clone), RUNS=3 (clone/fetch repetitions, median), N_LAT=20 (small pushes),
# N_CONC=50 (concurrent pushes). Needs nginx, fcgiwrap, git, curl; runs nginx
# as the current user (root: `user root;`).
set -euo pipefail

BIN=${1:-$(cd "$(dirname "$0")/../.." && pwd)/build/bin}
SIZE_MB=${SIZE_MB:-200}
BIG_MB=${BIG_MB:-1024}
RUNS=${RUNS:-3}
N_LAT=${N_LAT:-20}
N_CONC=${N_CONC:-50}
BACKEND=/usr/lib/git-core/git-http-backend

T=$(mktemp -d /tmp/agentgate-bench-XXXXXX)
PIDS=()
FCGI_PGID=
cleanup() {
  [ -n "$FCGI_PGID" ] && kill -- "-$FCGI_PGID" 2>/dev/null || true
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$T"
}
trap cleanup EXIT

export HOME=$T/home GIT_CONFIG_NOSYSTEM=1 GIT_TERMINAL_PROMPT=0
mkdir -p "$HOME" "$T/data/repos" "$T/work"
git config --global user.name bench
git config --global user.email bench@example.com
git config --global init.defaultBranch main

now_ms() { date +%s%3N; }
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
pct() { sort -n | awk -v p="$1" '{a[NR]=$1} END {i=int((NR*p+99)/100); if(i<1)i=1; print a[i]}'; }
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }

# --- repos: "data" (SIZE_MB: base branch + 25% more on main), "big" (BIG_MB), "small"
make_repo() {  # name, MB on base, MB more on main
  local name=$1 base=$2 more=$3 w=$T/work/gen-$1 bare=$T/data/repos/$1.git
  git init -q --bare -b main "$bare"
  git -C "$bare" config receive.advertisePushOptions true
  git -C "$bare" config pack.compression 0
  git init -q "$w"
  git -C "$w" config core.compression 0
  local i=0
  while [ $((i * 10)) -lt "$base" ]; do head -c 10485760 /dev/urandom > "$w/base$i.bin"; i=$((i + 1)); done
  git -C "$w" add -A && git -C "$w" commit -qm base
  git -C "$w" branch base
  if [ "$more" -gt 0 ]; then
    i=0
    while [ $((i * 10)) -lt "$more" ]; do head -c 10485760 /dev/urandom > "$w/more$i.bin"; i=$((i + 1)); done
    git -C "$w" add -A && git -C "$w" commit -qm more
  fi
  git -C "$w" push -q "$bare" main base
  rm -rf "$w"
}
echo "generating repos in $T ..." >&2
make_repo data $((SIZE_MB * 4 / 5)) $((SIZE_MB / 5))
make_repo big "$BIG_MB" 0
git init -q --bare -b main "$T/data/repos/small.git"
w=$T/work/gen-small; git init -q "$w"; echo x > "$w/x"; git -C "$w" add x; git -C "$w" commit -qm x
git -C "$w" push -q "$T/data/repos/small.git" main; rm -rf "$w"
DATA_BYTES=$(du -sb "$T/data/repos/data.git/objects" | cut -f1)
MORE_BYTES=$(( SIZE_MB / 5 * 1048576 ))

# --- agentgate-mirror
TOKEN=agt_$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
AG_PORT=$(free_port)
cat > "$T/agentgate.yaml" <<YAML
data_dir: $T/data
policy: $T/policy.yaml
listen: 127.0.0.1:$AG_PORT
control_socket: $T/control.sock
limits: {max_concurrent: 256, max_concurrent_per_identity: 128}
repos:
  - {name: data, path: $T/data/repos/data.git, sync_interval: 0s}
  - {name: big, path: $T/data/repos/big.git, sync_interval: 0s}
  - {name: small, path: $T/data/repos/small.git, sync_interval: 0s}
tokens:
  - {identity: bench, groups: [agents], sha256: $(printf %s "$TOKEN" | sha256sum | cut -d' ' -f1)}
YAML
: > "$T/policy.yaml"
"$BIN/agentgate-mirror" --config "$T/agentgate.yaml" > "$T/ag.out" 2> "$T/ag.log" &
AG_PID=$!; PIDS+=("$AG_PID")

# --- nginx + fcgiwrap + git http-backend
NG_PORT=$(free_port)
PASS=benchpass
printf 'bench:%s\n' "$(openssl passwd -apr1 "$PASS")" > "$T/htpasswd"
# Own session: its -c children are killed with it (kill -- -PGID).
setsid fcgiwrap -c 16 -s "unix:$T/fcgi.sock" 2> "$T/fcgiwrap.log" < /dev/null > /dev/null &
FCGI_PGID=$!
mkdir -p "$T/nginx"
cat > "$T/nginx.conf" <<NGINX
$( [ "$(id -u)" = 0 ] && echo "user root;" )
worker_processes 2;
daemon off;
pid $T/nginx/nginx.pid;
error_log $T/nginx/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $T/nginx/body; proxy_temp_path $T/nginx/proxy;
  fastcgi_temp_path $T/nginx/fastcgi; uwsgi_temp_path $T/nginx/uwsgi; scgi_temp_path $T/nginx/scgi;
  server {
    listen 127.0.0.1:$NG_PORT;
    client_max_body_size 0;
    location ~ ^/.*\.git/(info/refs|git-upload-pack|git-receive-pack)\$ {
      auth_basic "git"; auth_basic_user_file $T/htpasswd;
      include /etc/nginx/fastcgi_params;
      fastcgi_param SCRIPT_FILENAME $BACKEND;
      fastcgi_param GIT_PROJECT_ROOT $T/data/repos;
      fastcgi_param GIT_HTTP_EXPORT_ALL 1;
      fastcgi_param PATH_INFO \$uri;
      fastcgi_param REMOTE_USER \$remote_user;
      fastcgi_param GIT_PROTOCOL \$http_git_protocol;
      fastcgi_pass unix:$T/fcgi.sock;
    }
  }
}
NGINX
nginx -c "$T/nginx.conf" -p "$T/nginx" 2> "$T/nginx/stderr.log" &
NG_PID=$!; PIDS+=("$NG_PID")

for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$AG_PORT/healthz" >/dev/null 2>&1 && \
    curl -s -o /dev/null "http://127.0.0.1:$NG_PORT/" 2>/dev/null && break
  sleep 0.1
done
AG="http://bench:$TOKEN@127.0.0.1:$AG_PORT"
NG="http://bench:$PASS@127.0.0.1:$NG_PORT"
git ls-remote "$AG/data.git" >/dev/null && git ls-remote "$NG/data.git" >/dev/null

RSS_IDLE=$(rss_kb "$AG_PID")

# --- clone and fetch throughput (median of RUNS, alternating servers)
declare -A CLONE FETCH
for name in AG NG; do CLONE[$name]=""; FETCH[$name]=""; done
for run in $(seq "$RUNS"); do
  for name in AG NG; do
    url=${!name}
    d=$T/work/c-$name-$run
    t0=$(now_ms); git clone -q --bare "$url/data.git" "$d"; t1=$(now_ms)
    CLONE[$name]+="$((t1 - t0)) "
    rm -rf "$d"
    git init -q --bare "$d"
    git -C "$d" fetch -q "$url/data.git" base:refs/heads/base
    t0=$(now_ms); git -C "$d" fetch -q "$url/data.git" main:refs/heads/main; t1=$(now_ms)
    FETCH[$name]+="$((t1 - t0)) "
    rm -rf "$d"
  done
done
mbps() { awk -v b="$1" -v ms="$2" 'BEGIN {printf "%.1f", b / 1048576 / (ms / 1000)}'; }
declare -A CLONE_MS FETCH_MS
for name in AG NG; do
  CLONE_MS[$name]=$(echo "${CLONE[$name]}" | tr ' ' '\n' | grep . | median)
  FETCH_MS[$name]=$(echo "${FETCH[$name]}" | tr ' ' '\n' | grep . | median)
done

# --- small-push latency (median of N_LAT)
declare -A LAT
for name in AG NG; do
  url=${!name}
  d=$T/work/lat-$name
  git clone -q "$url/small.git" "$d"
  LAT[$name]=""
  for i in $(seq "$N_LAT"); do
    echo "$i" > "$d/n"; git -C "$d" add n; git -C "$d" commit -qm "n$i"
    t0=$(now_ms); git -C "$d" push -q origin "HEAD:refs/heads/lat-$name"; t1=$(now_ms)
    LAT[$name]+="$((t1 - t0)) "
  done
done
declare -A LAT_MS
for name in AG NG; do LAT_MS[$name]=$(echo "${LAT[$name]}" | tr ' ' '\n' | grep . | median); done

# --- N_CONC concurrent pushes to different branches
declare -A CONC_WALL CONC_P50 CONC_P99 CONC_OK
for name in AG NG; do
  url=${!name}
  base=$T/work/conc-$name
  git clone -q "$url/small.git" "$base"
  for i in $(seq "$N_CONC"); do
    cp -r "$base" "$base-$i"
    echo "$name $i" > "$base-$i/c"; git -C "$base-$i" add c; git -C "$base-$i" commit -qm "c$i"
  done
  PUSHERS=()
  t0=$(now_ms)
  for i in $(seq "$N_CONC"); do
    ( s=$(now_ms); git -C "$base-$i" push -q origin "HEAD:refs/heads/conc-$name-$i" 2> "$base-$i.err";
      echo $(( $(now_ms) - s )) > "$base-$i.ms" ) &
    PUSHERS+=("$!")
  done
  for p in "${PUSHERS[@]}"; do wait "$p" || true; done
  t1=$(now_ms)
  CONC_WALL[$name]=$((t1 - t0))
  CONC_P50[$name]=$(cat "$base"-*.ms | median)
  CONC_P99[$name]=$(cat "$base"-*.ms | pct 99)
  CONC_OK[$name]=$(git ls-remote "$url/small.git" "refs/heads/conc-$name-*" | wc -l)
done

# --- RSS during a BIG_MB clone through agentgate
d=$T/work/big
git clone -q --bare "$AG/big.git" "$d" &
CLONE_PID=$!
RSS_MAX=0; SAMPLES=0
while kill -0 "$CLONE_PID" 2>/dev/null; do
  r=$(rss_kb "$AG_PID"); SAMPLES=$((SAMPLES + 1))
  [ "$r" -gt "$RSS_MAX" ] && RSS_MAX=$r
  sleep 0.2
done
wait "$CLONE_PID"
BIG_BYTES=$(du -sb "$d" | cut -f1)
rm -rf "$d"
RSS_AFTER=$(rss_kb "$AG_PID")

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
cat <<REPORT
## agentgate-mirror vs nginx + fcgiwrap + git http-backend

- date: $(date -u +%Y-%m-%dT%H:%MZ); machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr); $(git --version); $(nginx -v 2>&1 | sed 's/.*: //'); fcgiwrap -c 16
- repos: data ${SIZE_MB} MB random (pack $(awk -v b="$DATA_BYTES" 'BEGIN{printf "%.0f", b/1048576}') MB, fetch = last $((SIZE_MB / 5)) MB), big ${BIG_MB} MB; pack.compression 0; clone is \`git clone --bare\`; both over 127.0.0.1 with Basic credentials in the URL

| measure | agentgate | nginx | ratio (agentgate/nginx) |
|---|---|---|---|
| clone throughput (MB/s, median of $RUNS) | $(mbps "$DATA_BYTES" "${CLONE_MS[AG]}") | $(mbps "$DATA_BYTES" "${CLONE_MS[NG]}") | $(ratio "${CLONE_MS[NG]}" "${CLONE_MS[AG]}") (target >= 0.95) |
| fetch throughput (MB/s, median of $RUNS) | $(mbps "$MORE_BYTES" "${FETCH_MS[AG]}") | $(mbps "$MORE_BYTES" "${FETCH_MS[NG]}") | $(ratio "${FETCH_MS[NG]}" "${FETCH_MS[AG]}") (target >= 0.95) |
| small-push latency (ms, median of $N_LAT) | ${LAT_MS[AG]} | ${LAT_MS[NG]} | $(ratio "${LAT_MS[AG]}" "${LAT_MS[NG]}") (target <= 1.2) |
| $N_CONC concurrent pushes: wall (ms) | ${CONC_WALL[AG]} | ${CONC_WALL[NG]} | $(ratio "${CONC_WALL[AG]}" "${CONC_WALL[NG]}") |
| $N_CONC concurrent pushes: throughput (pushes/s) | $(awk -v n="$N_CONC" -v ms="${CONC_WALL[AG]}" 'BEGIN{printf "%.1f", n/(ms/1000)}') | $(awk -v n="$N_CONC" -v ms="${CONC_WALL[NG]}" 'BEGIN{printf "%.1f", n/(ms/1000)}') | |
| $N_CONC concurrent pushes: p50 / p99 (ms) | ${CONC_P50[AG]} / ${CONC_P99[AG]} | ${CONC_P50[NG]} / ${CONC_P99[NG]} | |
| pushes landed (git ls-remote) | ${CONC_OK[AG]} / $N_CONC | ${CONC_OK[NG]} / $N_CONC | |

agentgate-mirror RSS: idle $((RSS_IDLE / 1024)) MB; max $((RSS_MAX / 1024)) MB over $SAMPLES samples during a $(awk -v b="$BIG_BYTES" 'BEGIN{printf "%.0f", b/1048576}') MB clone; $((RSS_AFTER / 1024)) MB after (target < 50 MB idle, flat during the clone).
REPORT

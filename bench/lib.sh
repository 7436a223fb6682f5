# Shared by the bench/*.sh scripts (sourced, not run). Locates the binaries, makes a scratch
# directory, starts and stops servers, and makes sure every server a script started is
# stopped when it exits, however it exits (trap on EXIT, INT, TERM).
#
# Environment:
#   OVERDUE_BUILD_DIR  build tree with the release binaries (default: <repo>/build/release)
#   OVERDUE_BIN        the overdue binary        (default: $OVERDUE_BUILD_DIR/src/cli/overdue)
#   SEED_BIN           the overdue-seed binary   (default: $OVERDUE_BUILD_DIR/bench/overdue-seed)
#   BENCH_WORK         scratch directory parent  (default: /tmp); data dirs of 1M watches
#                      take about 0.5 GB each
#   BENCH_KEEP=1       keep the scratch directory (data dirs, logs) for inspection

set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$BENCH_DIR/.." && pwd)"
OVERDUE_BUILD_DIR="${OVERDUE_BUILD_DIR:-$REPO_DIR/build/release}"
OVERDUE_BIN="${OVERDUE_BIN:-$OVERDUE_BUILD_DIR/src/cli/overdue}"
SEED_BIN="${SEED_BIN:-$OVERDUE_BUILD_DIR/bench/overdue-seed}"

# How long a server may take to print its listening line (1M watches load in seconds, but a
# slow disk or a Debug build is allowed to be slow rather than fail the run).
SERVER_START_TIMEOUT_S="${SERVER_START_TIMEOUT_S:-300}"

_BENCH_PIDS=()
WORK=""

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

need() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found (scripts/bootstrap --bench installs it)"
  done
}

# Stops every process this script started (by its pid), then removes the scratch directory.
_bench_cleanup() {
  local rc=$?
  local pid
  for pid in "${_BENCH_PIDS[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
      done
      if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
      wait "$pid" 2>/dev/null || true
    fi
  done
  if [ -n "$WORK" ] && [ -d "$WORK" ]; then
    if [ "${BENCH_KEEP:-0}" = 1 ]; then
      log "kept $WORK"
    else
      rm -rf "$WORK"
    fi
  fi
  exit "$rc"
}

bench_init() {
  [ -x "$OVERDUE_BIN" ] || die "$OVERDUE_BIN not found: build the release preset first (make build)"
  [ -x "$SEED_BIN" ] || die "$SEED_BIN not found: build the release preset with bench/ added"
  need curl python3
  WORK="$(mktemp -d "${BENCH_WORK:-/tmp}/overdue-bench.XXXXXX")"
  trap _bench_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  mkfifo "$WORK/nap.fifo"
  exec {_NAP_FD}<>"$WORK/nap.fifo"
}

# nap SECONDS: sleeps without starting a process: `read -t` on a FIFO that nobody writes to
# (opened read-write by bench_init, so the open does not block). For loops that wait while a
# benchmark measures: on this VM every fork and exec of `sleep` or `date` costs ~5 ms of CPU
# (100 loop turns of `sleep 0.02` and `$(date +%s)`: 1.15 s of CPU), which the measured server
# then lacks.
nap() { read -r -t "$1" -u "$_NAP_FD" _ || true; }

# Remembers a pid so the trap stops it.
track_pid() { _BENCH_PIDS+=("$1"); }

# new_data_dir NAME: an initialised data dir, as `overdue init` makes it (project 1 + keys).
new_data_dir() {
  local dir="$WORK/$1"
  "$OVERDUE_BIN" init --data-dir "$dir" --json >"$dir.init.json" ||
    die "overdue init --data-dir $dir failed"
  echo "$dir"
}

# seed DIR COUNT [overdue-seed flags...]: prints the seed tool's summary line to stderr.
seed() {
  local dir="$1" count="$2"
  shift 2
  local t0 t1
  t0=$(now_s)
  "$SEED_BIN" --data-dir "$dir" --count "$count" "$@" >"$dir.seed.out" ||
    die "overdue-seed failed for $dir"
  t1=$(now_s)
  log "$(cat "$dir.seed.out") in $(python3 -c "print(f'{$t1-$t0:.1f}')") s"
}

# start_overdue DIR [serve flags...]: starts `overdue serve` on 127.0.0.1, a free port, and
# waits for its listening line. Sets SERVER_PID and SERVER_URL. Logs go to DIR.serve.{out,err}.
start_overdue() {
  local dir="$1"
  shift
  "$OVERDUE_BIN" serve --listen 127.0.0.1:0 --data-dir "$dir" --log-level "${LOG_LEVEL:-warn}" "$@" \
    >"$dir.serve.out" 2>"$dir.serve.err" &
  SERVER_PID=$!
  track_pid "$SERVER_PID"
  local deadline=$(($(date +%s) + SERVER_START_TIMEOUT_S))
  SERVER_URL=""
  while [ -z "$SERVER_URL" ]; do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      cat "$dir.serve.err" >&2 || true
      die "overdue serve exited before listening"
    fi
    [ "$(date +%s)" -lt "$deadline" ] || die "overdue serve did not listen within ${SERVER_START_TIMEOUT_S}s"
    SERVER_URL=$(sed -n 's/^overdue listening on \(http:\/\/[^ ]*\)$/\1/p' "$dir.serve.out" | head -1)
    [ -n "$SERVER_URL" ] || sleep 0.01
  done
}

# wait_ready URL: polls /readyz every 10 ms until it answers 200.
wait_ready() {
  local url="$1"
  local deadline=$(($(date +%s) + SERVER_START_TIMEOUT_S))
  until [ "$(curl -s -o /dev/null -w '%{http_code}' "$url/readyz")" = 200 ]; do
    [ "$(date +%s)" -lt "$deadline" ] || die "$url/readyz not 200 within ${SERVER_START_TIMEOUT_S}s"
    sleep 0.01
  done
}

# stop_server PID: SIGTERM and wait for a clean exit (SIGKILL after 30 s).
stop_server() {
  local pid="$1"
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 300); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "pid $pid ignored SIGTERM for 30 s; killing"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

# A free TCP port on 127.0.0.1 (for nginx, which cannot report a port-0 bind).
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

now_s() { date +%s.%N; }

# median: of the numbers on stdin, one a line (the lower middle of an even count).
median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) {print "nan"} else {print a[int((NR+1)/2)]}}'; }

# rss_kib PID: VmRSS of a process in KiB.
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

machine_summary() {
  local cpu
  cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
  echo "machine: $(nproc) cores ($cpu), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM, kernel $(uname -r)"
  echo "overdue: $OVERDUE_BIN"
}

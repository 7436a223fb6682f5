#!/usr/bin/env bash
# Check-in throughput of `overdue serve` against nginx returning a constant 200 "OK" on the
# same machine, with the same wrk load (BENCHMARKS.md, "Check-in throughput").
#
# For each durability mode (commit, then relaxed): a fresh data dir with $WATCHES period
# watches, `overdue serve --durability MODE`, one untimed warm-up, then $RUNS wrk runs of
# GET /ping/<random seeded uuid> (keep-alive). Between the two modes: nginx (2 workers,
# access_log off, `return 200 "OK"`), $RUNS runs of the same wrk command. Prints the runs,
# the medians and the ratio overdue/nginx per mode. Every server it starts is stopped on exit.
#
# Environment: WATCHES (10000), RUNS (3), WRK_THREADS (2), WRK_CONNS (64), WRK_DURATION (10s),
# WARMUP_DURATION (2s), MODES ("commit relaxed"); see lib.sh for binaries and BENCH_KEEP.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

WATCHES="${WATCHES:-10000}"
RUNS="${RUNS:-3}"
WRK_THREADS="${WRK_THREADS:-2}"
WRK_CONNS="${WRK_CONNS:-64}"
WRK_DURATION="${WRK_DURATION:-10s}"
WARMUP_DURATION="${WARMUP_DURATION:-2s}"
MODES="${MODES:-commit relaxed}"

bench_init
need wrk nginx

# run_wrk NAME URL UUIDS: warm-up, then $RUNS runs; appends "rps p50 p99 non2xx errors" lines
# to $WORK/NAME.runs.
run_wrk() {
  local name="$1" url="$2" uuids="$3" i
  wrk -t"$WRK_THREADS" -c"$WRK_CONNS" -d"$WARMUP_DURATION" -s "$BENCH_DIR/ping.lua" "$url" \
    -- "$uuids" >"$WORK/$name.warmup.txt" 2>&1 || die "wrk warm-up against $url failed"
  : >"$WORK/$name.runs"
  for i in $(seq "$RUNS"); do
    wrk -t"$WRK_THREADS" -c"$WRK_CONNS" -d"$WRK_DURATION" --latency -s "$BENCH_DIR/ping.lua" \
      "$url" -- "$uuids" >"$WORK/$name.wrk$i.txt" 2>&1 || die "wrk against $url failed"
    "$BENCH_DIR/wrk_summary.py" "$WORK/$name.wrk$i.txt" >>"$WORK/$name.runs"
    log "$name run $i: $(tail -1 "$WORK/$name.runs") (req/s p50_ms p99_ms non2xx errors)"
  done
}

bench_overdue() {
  local mode="$1" dir uuids body
  dir=$(new_data_dir "checkin-$mode")
  uuids="$dir.uuids"
  seed "$dir" "$WATCHES" --period 1h --grace 1h --uuids "$uuids"
  start_overdue "$dir" --durability "$mode"
  wait_ready "$SERVER_URL"
  # A wrong URL would make every request a fast 404: check one ping really succeeds.
  body=$(curl -s "$SERVER_URL/ping/$(head -1 "$uuids")")
  [ "$body" = "OK" ] || die "ping of a seeded watch answered '$body', not OK"
  log "overdue ($mode) at $SERVER_URL"
  run_wrk "overdue-$mode" "$SERVER_URL" "$uuids"
  stop_server "$SERVER_PID"
}

bench_nginx() {
  local port prefix="$WORK/nginx" uuids="$WORK/checkin-commit.uuids"
  [ -f "$uuids" ] || uuids="$WORK/checkin-relaxed.uuids"
  port=$(free_port)
  mkdir -p "$prefix/logs"
  cat >"$prefix/nginx.conf" <<EOF
worker_processes 2;
pid $prefix/nginx.pid;
error_log $prefix/logs/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $prefix/client_body;
  proxy_temp_path $prefix/proxy;
  fastcgi_temp_path $prefix/fastcgi;
  uwsgi_temp_path $prefix/uwsgi;
  scgi_temp_path $prefix/scgi;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$port;
    default_type text/plain;
    location / { return 200 "OK"; }
  }
}
EOF
  nginx -p "$prefix" -e "$prefix/logs/error.log" -c "$prefix/nginx.conf" -g 'daemon off;' &
  local pid=$!
  track_pid "$pid"
  local url="http://127.0.0.1:$port"
  for _ in $(seq 500); do
    [ "$(curl -s "$url/ping/x" 2>/dev/null)" = "OK" ] && break
    kill -0 "$pid" 2>/dev/null || die "nginx exited: $(cat "$prefix/logs/error.log")"
    sleep 0.01
  done
  [ "$(curl -s "$url/ping/x")" = "OK" ] || die "nginx did not answer on $url"
  log "nginx at $url"
  run_wrk nginx "$url" "$uuids"
  stop_server "$pid"
}

machine_summary
echo "load: wrk -t$WRK_THREADS -c$WRK_CONNS -d$WRK_DURATION --latency -s bench/ping.lua (GET /ping/<random of $WATCHES uuids>, keep-alive), $RUNS runs after a $WARMUP_DURATION warm-up"

first=1
for mode in $MODES; do
  bench_overdue "$mode"
  if [ "$first" = 1 ]; then
    bench_nginx
    first=0
  fi
done

# col FILE N: the Nth field of each run line.
col() { awk -v n="$2" '{print $n}' "$1"; }
nginx_rps=$(col "$WORK/nginx.runs" 1 | median)
echo
printf '%-18s %-26s %12s %9s %9s %8s %9s\n' server "req/s (runs)" "median req/s" "p50 ms" "p99 ms" "non-2xx" "vs nginx"
for name in $(for m in $MODES; do echo "overdue-$m"; done) nginx; do
  f="$WORK/$name.runs"
  rps=$(col "$f" 1 | median)
  ratio=$(python3 -c "print(f'{100*$rps/$nginx_rps:.0f}%')")
  printf '%-18s %-26s %12s %9s %9s %8s %9s\n' "$name" "$(col "$f" 1 | paste -sd' ')" "$rps" \
    "$(col "$f" 2 | median)" "$(col "$f" 3 | median)" "$(awk '{s += $4} END {print s}' "$f")" "$ratio"
done
echo "target: overdue (commit) >= 40% of nginx"

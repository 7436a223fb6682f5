#!/usr/bin/env bash
# Management API (BENCHMARKS.md, "Management API"): in a fresh data dir, $CHECKS checks are
# created through POST /api/v3/checks/ by $CONCURRENCY keep-alive clients (create throughput:
# each create is durable before its 201, durability = commit); then GET /api/v3/checks/ (all
# $CHECKS checks, ~7 MB of JSON) is timed $REPEATS times from one keep-alive client. Repeated
# $RUNS times in new data dirs; medians reported.
#
# Environment: CHECKS (10000), CONCURRENCY (8), REPEATS (20), RUNS (3).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CHECKS="${CHECKS:-10000}"
CONCURRENCY="${CONCURRENCY:-8}"
REPEATS="${REPEATS:-20}"
RUNS="${RUNS:-3}"

bench_init
machine_summary

: >"$WORK/create.runs"
: >"$WORK/list.runs"
for i in $(seq "$RUNS"); do
  dir=$(new_data_dir "api$i")
  key=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['api_key'])" "$dir.init.json")
  start_overdue "$dir"
  wait_ready "$SERVER_URL"
  rate=$(python3 "$BENCH_DIR/api_bench.py" "$SERVER_URL" "$key" create "$CHECKS" "$CONCURRENCY" | awk '{print $2}')
  python3 "$BENCH_DIR/api_bench.py" "$SERVER_URL" "$key" list "$REPEATS" >"$WORK/list.$i" 2>"$WORK/list.$i.err"
  med=$(median <"$WORK/list.$i")
  p95=$(sort -g "$WORK/list.$i" | awk '{a[NR]=$1} END {print a[int(NR*0.95+0.999)]}')
  log "run $i: create $rate/s; list median $med ms, p95 $p95 ms; $(cat "$WORK/list.$i.err" | tr -d '#')"
  echo "$rate" >>"$WORK/create.runs"
  echo "$med" >>"$WORK/list.runs"
  stop_server "$SERVER_PID"
done

echo
echo "create throughput, creates/s ($CONCURRENCY clients, $CHECKS checks; runs): $(paste -sd' ' "$WORK/create.runs")"
echo "median: $(median <"$WORK/create.runs") creates/s"
echo "list latency with $CHECKS checks, ms (median of $REPEATS per run; runs): $(paste -sd' ' "$WORK/list.runs")"
echo "median: $(median <"$WORK/list.runs") ms"

#!/usr/bin/env bash
# Detection lag (BENCHMARKS.md, "Detection lag"): how long after a deadline the engine acts
# on it, with $WATCHES watches whose deadlines fall evenly over a $WINDOW_S-second window.
#
# Seeds $WATCHES "up" watches (period 1 h, grace 1 h) with last_ping = now - period + offset,
# so their deadlines (the start of grace) fall over [seed + LEAD_S, seed + LEAD_S + WINDOW_S);
# LEAD_S leaves time to finish seeding and to start the server, so the deadlines pass while
# it runs rather than during start-up. Starts the server, scrapes /metrics once when ready
# and again $SETTLE_S seconds after the last deadline, and takes the difference of the
# overdue_detection_lag_seconds histogram (so a deadline fired by the start-up catch-up, if
# any, is not counted). p50/p99/p99.9 are interpolated within buckets as Prometheus'
# histogram_quantile does; the buckets bound the precision (edges at 1, 5, 10, 20, 30, 50,
# 100 ms ...).
#
# Environment: WATCHES (1000000), WINDOW_S (60), LEAD_S (120), SETTLE_S (10).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

WATCHES="${WATCHES:-1000000}"
WINDOW_S="${WINDOW_S:-60}"
LEAD_S="${LEAD_S:-120}"
SETTLE_S="${SETTLE_S:-10}"
METRIC=overdue_detection_lag_seconds

bench_init
machine_summary

dir=$(new_data_dir lag)
seed "$dir" "$WATCHES" --period 1h --grace 1h --deadlines-from "${LEAD_S}s" \
  --deadlines-over "${WINDOW_S}s"
read -r first last < <(sed -n 's/.*deadlines from \([0-9.]*\) to \([0-9.]*\)$/\1 \2/p' "$dir.seed.out")
[ -n "${first:-}" ] || die "no deadline window in the seed output"

start_overdue "$dir"
wait_ready "$SERVER_URL"
ready_at=$(now_s)
curl -sf "$SERVER_URL/metrics" >"$WORK/metrics.before" || die "GET /metrics failed"
if python3 -c "import sys; sys.exit(0 if $ready_at < $first else 1)"; then
  log "ready $(python3 -c "print(f'{$first - $ready_at:.1f}')") s before the first deadline"
else
  log "warning: ready only $(python3 -c "print(f'{$ready_at - $first:.1f}')") s AFTER the first deadline (raise LEAD_S); deadlines fired before the first scrape are not counted"
fi

wait_until=$(python3 -c "print(int($last + $SETTLE_S) + 1)")
log "waiting until $(date -d "@$wait_until" +%H:%M:%S) (last deadline + ${SETTLE_S}s)"
while [ "$(date +%s)" -lt "$wait_until" ]; do
  kill -0 "$SERVER_PID" 2>/dev/null || die "overdue serve died: $(tail -5 "$dir.serve.err")"
  sleep 1
done
curl -sf "$SERVER_URL/metrics" >"$WORK/metrics.after" || die "GET /metrics failed"
in_grace=$(sed -n 's/^overdue_watches{state="grace"} \(.*\)$/\1/p' "$WORK/metrics.after")
rss=$(rss_kib "$SERVER_PID")
stop_server "$SERVER_PID"

echo
echo "watches: $WATCHES, deadlines over ${WINDOW_S}s; in grace at the end: ${in_grace:-?}; VmRSS at the end: $rss KiB"
"$BENCH_DIR/histogram_quantiles.py" "$METRIC" "$WORK/metrics.before" "$WORK/metrics.after" \
  0.5 0.99 0.999 | tee "$WORK/lag.txt"
grep -q '^count ' "$WORK/lag.txt" || die "no lag observations"
echo "target: p99 <= 0.050 s"

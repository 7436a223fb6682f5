#!/usr/bin/env bash
# Restart to ready with many watches (BENCHMARKS.md, "Restart time"): $WATCHES watches seeded
# once ("up", period 1 day, deadlines spread over the next 20 hours, so nothing fires during
# the test); then $RUNS times: take the time, start `overdue serve`, poll /readyz every 10 ms
# until 200, take the time, stop the server with SIGTERM. The database file stays in the page
# cache between runs (a warm restart, as after a crash or an upgrade on the same machine).
#
# Environment: WATCHES (1000000), RUNS (3).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

WATCHES="${WATCHES:-1000000}"
RUNS="${RUNS:-3}"

bench_init
machine_summary

dir=$(new_data_dir restart)
seed "$dir" "$WATCHES" --period 1d --grace 1h --deadlines-from 1h --deadlines-over 20h
log "database: $(du -sh "$dir" | cut -f1)"

: >"$WORK/restart.runs"
for i in $(seq "$RUNS"); do
  t0=$(now_s)
  LOG_LEVEL=info start_overdue "$dir"
  wait_ready "$SERVER_URL"
  t1=$(now_s)
  secs=$(python3 -c "print(f'{$t1 - $t0:.3f}')")
  load=$(sed -n 's/.*loaded \([0-9]*\) watches in \([0-9]*\) ms.*/\2 ms (\1 watches)/p' "$dir.serve.err" | tail -1)
  log "run $i: ready after $secs s; server's own log: load ${load:-?}"
  echo "$secs" >>"$WORK/restart.runs"
  stop_server "$SERVER_PID"
done

echo
echo "restart to ready with $WATCHES watches, s (runs): $(paste -sd' ' "$WORK/restart.runs")"
echo "median: $(median <"$WORK/restart.runs") s"
echo "target: <= 5 s with 1M watches"

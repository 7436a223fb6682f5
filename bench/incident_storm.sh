#!/usr/bin/env bash
# Incident storm (BENCHMARKS.md, "Incident storm"): $STORM_WATCHES watches miss their deadline
# at the same instant T; each opens an incident whose one notification goes to a webhook
# channel on a local receiver (bench/storm_receiver.cc). Measures deliveries per second, the
# time from the deadline to each incident's first delivery (p50/p99/max), and check-in latency
# (wrk, GET /ping/<uuid> of $HEALTHY_WATCHES other, healthy watches) before and during the storm.
#
# Per run, in a fresh data dir: overdue-seed writes $HEALTHY_WATCHES healthy watches (period 1 h,
# deadlines 30-40 min ahead) and $STORM_WATCHES storm watches, period 1 h, whose grace began at
# seeding (so the start-up catch-up moves them to grace) and whose grace of $LEAD_S s ends at
# T = seed time + $LEAD_S (with STORM_WINDOW=0s all at the same microsecond; STORM_WINDOW=1s
# spreads them evenly over one second). `overdue serve --allow-private-targets true` starts, one
# webhook channel is created (POST /api/v1/channels), so with no policy every incident notifies
# it once. Check-in load: a baseline wrk run of $BASELINE_S s ending 1.5 s before T, then a
# second wrk run started 0.1 s before T and stopped (SIGINT) as soon as the receiver has all
# $STORM_WATCHES deliveries. /metrics is polled every 100 ms meanwhile (outbox, journal queue,
# notification counters) and scraped whole before T and after the outbox drained.
#
# The receiver (overdue-storm-receiver, bench/storm_receiver.cc: one epoll loop in C++) answers
# 204 and keeps (receive time, body); latency per delivery is receive time
# minus the incident's opened_at from the body (= the deadline), so it does not depend on when
# the script thinks T is. Its capacity (POSTs/s from wrk, same body size) is measured first
# and printed, to show it is not the limit.
#
# $BYSTANDERS more watches have ordinary deadlines (up -> grace, which notifies nobody) spread
# evenly from T - 1 s to T + 4 s; the detection lag histogram (overdue_detection_lag_seconds,
# before T vs after the storm) shows whether the engine still sees deadlines on time during
# the storm: the script reports how many of those observations took over 100 ms and over 1 s.
# The poller also times each /metrics and /readyz request: the longest of each is reported.
# With check-in load, the server's own check-in p99 (overdue_http_request_duration_seconds,
# route="ping": request read whole -> response written) is reported beside wrk's, from
# /metrics scraped before and after the baseline and after the storm's wrk stopped. With
# RUNS > 1 the summary also gives wrk's check-in p99 over all runs' requests together (a
# paced storm has only ~600 check-ins, so one run's p99 is its ~6th slowest request).
# Each run also prints the CPU time of every server thread (and the receiver) from T - 0.1 s to
# the last delivery, with the time each spent runnable but waiting for a core
# (/proc/<pid>/task/*/schedstat).
#
# Environment: STORM_WATCHES (10000), HEALTHY_WATCHES (10000), BYSTANDERS (1000), RUNS (3),
# STORM_WINDOW (0s), LEAD_S (20), BASELINE_S (8), CHECKIN_LOAD (full: wrk -t2 -c64 at full
# speed, as checkin_throughput.sh; paced: wrk -t1 -c$PACED_CONNS (16), each connection waiting
# $PACE_MS (16) ms after a reply, ~900 check-ins/s; none), DELIVERY_TIMEOUT_S (120),
# DURABILITY (commit), CHECKIN_LOG (false; true: `--checkin-log true`), PROFILE (0; 1: `perf record` of the server, DWARF call graphs at 499 Hz,
# from T to the last delivery, and each busy thread's top symbols printed per run).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

STORM_WATCHES="${STORM_WATCHES:-10000}"
HEALTHY_WATCHES="${HEALTHY_WATCHES:-10000}"
RUNS="${RUNS:-3}"
STORM_WINDOW="${STORM_WINDOW:-0s}"
LEAD_S="${LEAD_S:-20}"
BASELINE_S="${BASELINE_S:-8}"
CHECKIN_LOAD="${CHECKIN_LOAD:-full}"
PACED_CONNS="${PACED_CONNS:-16}"
PACE_MS="${PACE_MS:-16}"
DELIVERY_TIMEOUT_S="${DELIVERY_TIMEOUT_S:-120}"
DURABILITY="${DURABILITY:-commit}"
CHECKIN_LOG="${CHECKIN_LOG:-false}"
BYSTANDERS="${BYSTANDERS:-1000}"
REPORT="$BENCH_DIR/storm_report.py"
RECEIVER_BIN="${RECEIVER_BIN:-$OVERDUE_BUILD_DIR/bench/overdue-storm-receiver}"

case "$CHECKIN_LOAD" in
  full) WRK_ARGS=(-t2 -c64) PACE_ARG=() ;;
  paced) WRK_ARGS=(-t1 "-c$PACED_CONNS") PACE_ARG=("$PACE_MS") ;;
  none) WRK_ARGS=() PACE_ARG=() ;;
  *) die "CHECKIN_LOAD must be full, paced or none" ;;
esac
[ "$LEAD_S" -ge $((BASELINE_S + 8)) ] || die "LEAD_S must be at least BASELINE_S + 8"

bench_init
need wrk
[ -x "$RECEIVER_BIN" ] || die "$RECEIVER_BIN not found: build the release preset with bench/ added"
PROFILE="${PROFILE:-0}"
[ "$PROFILE" = 0 ] || need perf

# ms_now VAR: sets VAR to the milliseconds since the epoch, from bash's EPOCHREALTIME (no
# process started, not even the subshell of a command substitution).
ms_now() {
  local t=${EPOCHREALTIME//[!0-9]/}
  printf -v "$1" '%d' $((t / 1000))
}
# sleep_until_ms EPOCH_MS
sleep_until_ms() {
  local now d
  ms_now now
  d=$(($1 - now))
  if [ "$d" -gt 0 ]; then sleep "$(printf '%d.%03d' $((d / 1000)) $((d % 1000)))"; fi
}
# wait_for_file PATH TIMEOUT_S PID: until PATH exists; dies if PID exits first.
wait_for_file() {
  local deadline=$((EPOCHSECONDS + $2))
  until [ -f "$1" ]; do
    kill -0 "$3" 2>/dev/null || die "process $3 exited before writing $1"
    [ "$EPOCHSECONDS" -lt "$deadline" ] || die "$1 not written within $2 s"
    nap 0.02
  done
}
# thread_times PID...: one line per thread of each PID, "name cpu_ns runqueue_ns" from
# /proc/<pid>/task/*/{comm,schedstat} (time on a core, time runnable but waiting for one).
# Bash builtins only: a fork per thread would delay the storm's wrk run started after it.
thread_times() {
  local pid t comm run wait rest
  for pid in "$@"; do
    for t in /proc/"$pid"/task/*; do
      { read -r comm <"$t/comm" && read -r run wait rest <"$t/schedstat"; } 2>/dev/null || continue
      printf '%s %s %s\n' "${comm// /_}" "$run" "$wait"
    done
  done
}
# thread_cpu BEFORE AFTER: per thread name (od-http summed over its threads; names of the
# receiver and wrk as they are), CPU ms and runqueue-wait ms between the two snapshots.
thread_cpu() {
  awk 'FNR == NR {bc[$1] += $2; bw[$1] += $3; next} {ac[$1] += $2; aw[$1] += $3}
    END {for (k in ac) {c = (ac[k] - bc[k]) / 1e6; w = (aw[k] - bw[k]) / 1e6
           if (c >= 5) printf "%s %.0f %.0f\n", k, c, w}}' "$1" "$2" | sort -k2,2nr
}
# metric FILE NAME: the value of one sample line ("NAME value"), 0 if absent.
metric() { awk -v n="$2" '$1 == n {v = $2} END {print v == "" ? 0 : v}' "$1"; }

# start_receiver NAME [EXPECT]: sets RECEIVER_PID, RECEIVER_URL; records go to $WORK/NAME.jsonl,
# the time of the EXPECTth delivery to $WORK/NAME.done.
start_receiver() {
  local name="$1" expect="${2:-0}"
  rm -f "$WORK/$name.port" "$WORK/$name.done"
  "$RECEIVER_BIN" --port-file "$WORK/$name.port" --out "$WORK/$name.jsonl" \
    --expect "$expect" --done-file "$WORK/$name.done" 2>"$WORK/$name.err" &
  RECEIVER_PID=$!
  track_pid "$RECEIVER_PID"
  wait_for_file "$WORK/$name.port" 30 "$RECEIVER_PID"
  RECEIVER_URL="http://127.0.0.1:$(cat "$WORK/$name.port")"
}

# The receiver's own ceiling: wrk POSTing a body of a delivery's size (~1 KB) for 3 s.
receiver_capacity() {
  start_receiver capacity
  cat >"$WORK/post.lua" <<'EOF'
wrk.method = "POST"
wrk.body = '{"event":"down","incident":{"opened_at":"2026-11-25T10:00:00Z"}}' .. string.rep(" ", 900)
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Idempotency-Key"] = "overdue-1-1"
EOF
  wrk -t1 -c64 -d3s -s "$WORK/post.lua" "$RECEIVER_URL/hook" >"$WORK/capacity.txt" 2>&1 ||
    die "wrk against the receiver failed"
  RECEIVER_CAPACITY=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$WORK/capacity.txt")
  stop_server "$RECEIVER_PID"
}

# run_storm I: one storm; appends a result line to $WORK/runs.
run_storm() {
  local i="$1" dir key seeded grace_from t_ms channel ping wrk_pid=""
  dir=$(new_data_dir "storm$i")
  key=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['api_key'])" "$dir.init.json")
  seed "$dir" "$HEALTHY_WATCHES" --period 1h --grace 1h --deadlines-from 30m \
    --deadlines-over 10m --uuids "$dir.healthy"
  seed "$dir" "$STORM_WATCHES" --period 1h --grace "${LEAD_S}s" --deadlines-from 0s \
    --deadlines-over "$STORM_WINDOW" --uuids "$dir.storm"
  seeded=$(cat "$dir.seed.out")
  grace_from=$(sed -n 's/.*deadlines from \([0-9]*\)\.\([0-9]\{3\}\) to .*/\1\2/p' <<<"$seeded")
  [ -n "$grace_from" ] || die "no deadline window in the seed output: $seeded"
  t_ms=$((grace_from + LEAD_S * 1000)) # T: the first storm watch goes down
  if [ "$BYSTANDERS" -gt 0 ]; then
    # Deadlines (up -> grace, no notification) evenly from T - 1 s to T + 4 s: how late the
    # engine sees them during the storm is the detection lag measured below.
    seed "$dir" "$BYSTANDERS" --period 1h --grace 1h --deadlines-from "$((LEAD_S - 1))s" \
      --deadlines-over 5s
  fi

  start_receiver "deliveries$i" "$STORM_WATCHES"
  # The flag only when set, so that builds before it can be compared with the same script.
  local log_flag=()
  [ "$CHECKIN_LOG" = false ] || log_flag=(--checkin-log "$CHECKIN_LOG")
  start_overdue "$dir" --allow-private-targets true --min-period 1s --durability "$DURABILITY" \
    "${log_flag[@]}"
  wait_ready "$SERVER_URL"
  channel=$(curl -sf -X POST -H "X-Api-Key: $key" -H 'Content-Type: application/json' \
    -d "{\"name\":\"bench\",\"kind\":\"webhook\",\"config\":{\"url\":\"$RECEIVER_URL/hook\"}}" \
    "$SERVER_URL/api/v1/channels") || die "creating the webhook channel failed"
  log "run $i: overdue at $SERVER_URL, receiver at $RECEIVER_URL, channel $(sed -n 's/.*"id": *"\([^"]*\)".*/\1/p' <<<"$channel" | head -1)"
  ping=$(curl -s "$SERVER_URL/ping/$(head -1 "$dir.healthy")")
  [ "$ping" = OK ] || die "ping of a healthy watch answered '$ping', not OK"
  local now lead
  ms_now now
  lead=$((t_ms - now))
  [ "$lead" -gt $(((BASELINE_S + 3) * 1000)) ] ||
    die "only $lead ms left before the deadline after start-up: raise LEAD_S"
  log "run $i: $STORM_WATCHES deadlines at $(date -d "@$((t_ms / 1000))" +%H:%M:%S) (in $((lead / 1000)) s)"

  # Baseline check-ins: the same server and data, no incident activity.
  if [ "$CHECKIN_LOAD" != none ]; then
    sleep_until_ms $((t_ms - BASELINE_S * 1000 - 1500))
    curl -sf "$SERVER_URL/metrics" >"$WORK/metrics$i.prebase" || die "GET /metrics failed"
    wrk "${WRK_ARGS[@]}" -d"${BASELINE_S}s" --timeout 10s --latency -s "$BENCH_DIR/storm_checkin.lua" \
      "$SERVER_URL" -- "$dir.healthy" "$WORK/checkins-base$i.hist" "${PACE_ARG[@]}" >"$WORK/base$i.wrk" 2>&1 ||
      die "baseline wrk failed: $(tail -3 "$WORK/base$i.wrk")"
  fi
  curl -sf "$SERVER_URL/metrics" >"$WORK/metrics$i.before" || die "GET /metrics failed"
  python3 "$REPORT" metrics "$SERVER_URL" "$WORK/poll$i.txt" &
  local poll_pid=$!
  track_pid "$poll_pid"

  sleep_until_ms $((t_ms - 100))
  local storm_start_ms
  ms_now storm_start_ms
  if [ "$CHECKIN_LOAD" != none ]; then
    wrk "${WRK_ARGS[@]}" -d"$((DELIVERY_TIMEOUT_S + 10))s" --timeout 10s --latency \
      -s "$BENCH_DIR/storm_checkin.lua" "$SERVER_URL" -- "$dir.healthy" "$WORK/checkins-storm$i.hist" \
      "${PACE_ARG[@]}" >"$WORK/storm$i.wrk" 2>&1 &
    wrk_pid=$!
    track_pid "$wrk_pid"
  fi
  thread_times "$SERVER_PID" "$RECEIVER_PID" >"$WORK/threads$i.before"
  local perf_pid=""
  if [ "$PROFILE" != 0 ]; then
    perf record --call-graph dwarf,16384 -F 499 -o "$WORK/perf$i.data" -p "$SERVER_PID" 2>"$WORK/perf$i.err" &
    perf_pid=$!
    track_pid "$perf_pid"
  fi
  # Bash builtins only (nap, EPOCHSECONDS) while the storm runs: until the seventeenth round
  # this loop started `date` and `sleep` every 20 ms, ~0.4 s of CPU per storm on the server's
  # two cores (BENCHMARKS.md, "The bench's own load").
  local deadline=$((EPOCHSECONDS + DELIVERY_TIMEOUT_S))
  until [ -f "$WORK/deliveries$i.done" ]; do
    kill -0 "$SERVER_PID" 2>/dev/null || die "overdue serve died: $(tail -5 "$dir.serve.err")"
    if [ "$EPOCHSECONDS" -ge "$deadline" ]; then
      log "run $i: not all $STORM_WATCHES deliveries within ${DELIVERY_TIMEOUT_S}s; measuring what arrived"
      break
    fi
    nap 0.02
  done
  local storm_end_ms
  ms_now storm_end_ms
  thread_times "$SERVER_PID" "$RECEIVER_PID" >"$WORK/threads$i.after"
  if [ -n "$perf_pid" ]; then
    kill -INT "$perf_pid"
    wait "$perf_pid" || true
  fi
  if [ -n "$wrk_pid" ]; then
    kill -INT "$wrk_pid"
    wait "$wrk_pid" || die "storm wrk failed: $(tail -3 "$WORK/storm$i.wrk")"
    curl -sf "$SERVER_URL/metrics" >"$WORK/metrics$i.stormwrk" || die "GET /metrics failed"
  fi
  # Let in-flight completions and their commits finish (and the last bystander deadline,
  # T + 4 s, pass), then take the final scrape.
  [ "$BYSTANDERS" = 0 ] || sleep_until_ms $((t_ms + 5000))
  for _ in $(seq 300); do
    curl -sf "$SERVER_URL/metrics" >"$WORK/metrics$i.after" || die "GET /metrics failed"
    [ "$(metric "$WORK/metrics$i.after" overdue_outbox_pending)" = 0 ] &&
      [ "$(metric "$WORK/metrics$i.after" overdue_journal_queue)" = 0 ] && break
    sleep 0.1
  done
  kill -TERM "$poll_pid" 2>/dev/null || true
  wait "$poll_pid" 2>/dev/null || true
  local rss
  rss=$(rss_kib "$SERVER_PID")
  stop_server "$SERVER_PID"
  stop_server "$RECEIVER_PID" # SIGTERM: writes the records
  # Check-ins also written to the check-in log (journal/checkin_log.h): before T - 1.5 s
  # (start-up and the baseline), and from then to the end.
  log "run $i: check-ins also written to the check-in log: $(awk \
    -v a="$(metric "$WORK/metrics$i.after" overdue_checkin_log_records_total)" \
    -v b="$(metric "$WORK/metrics$i.before" overdue_checkin_log_records_total)" \
    'BEGIN {printf "%d before T - 1.5 s, %d after", b, a - b}')"

  # The server's own view of the same check-ins (overdue_http_request_duration_seconds,
  # route="ping": from the request read whole to its response written), p99 from the
  # histogram's buckets: it leaves out wrk's own wait for a core and the time a request waited
  # in its socket.
  if [ "$CHECKIN_LOAD" != none ]; then
    local series='overdue_http_request_duration_seconds_bucket{route="ping"'
    echo "$(python3 "$REPORT" histq "$WORK/metrics$i.prebase" "$WORK/metrics$i.before" "$series" 0.99)" \
      "$(python3 "$REPORT" histq "$WORK/metrics$i.before" "$WORK/metrics$i.stormwrk" "$series" 0.99)" \
      >>"$WORK/server_ping"
    log "run $i: server-side check-in p99 (read whole -> response written): baseline" \
      "$(tail -1 "$WORK/server_ping" | cut -d' ' -f1) ms, storm $(tail -1 "$WORK/server_ping" | cut -d' ' -f2) ms"
  fi

  # --- one result line ---------------------------------------------------------------------
  python3 "$REPORT" report "$WORK/deliveries$i.jsonl" "$STORM_WATCHES" >"$WORK/report$i.txt"
  r() { awk -v k="$1" '$1 == k {print $2}' "$WORK/report$i.txt"; }
  local base="- - - -" storm="- - - -"
  if [ "$CHECKIN_LOAD" != none ]; then
    base=$(python3 "$REPORT" latency "$WORK/checkins-base$i.hist" | awk '{print $2, $4, $6, $8}')
    storm=$(python3 "$REPORT" latency "$WORK/checkins-storm$i.hist" | awk '{print $2, $4, $6, $8}')
  fi
  local lag batch delivered retry failed max_outbox max_journal
  # Detection lag observations during the storm (storm flips + bystanders): total/over 100 ms/
  # over 1 s.
  lag=$(awk '
    /^overdue_detection_lag_seconds_bucket/ {
      match($0, /le="[^"]*"/); le = substr($0, RSTART + 4, RLENGTH - 5)
      if (FNR == NR) b[le] = $2; else a[le] = $2
    }
    END {n = a["+Inf"] - b["+Inf"]; printf "%d/%d/%d", n, n - (a["0.1"] - b["0.1"]), n - (a["1"] - b["1"])}
  ' "$WORK/metrics$i.before" "$WORK/metrics$i.after")
  batch=$(awk '
    FNR == NR && /^overdue_commit_batch_size_(sum|count) / {b[$1] = $2; next}
    /^overdue_commit_batch_size_(sum|count) / {a[$1] = $2}
    END {n = a["overdue_commit_batch_size_count"] - b["overdue_commit_batch_size_count"];
         s = a["overdue_commit_batch_size_sum"] - b["overdue_commit_batch_size_sum"];
         printf "%d/%.0f", n, n ? s / n : 0}' "$WORK/metrics$i.before" "$WORK/metrics$i.after")
  delivered=$(awk -v a="$(metric "$WORK/metrics$i.after" 'overdue_notifications_total{outcome="delivered"}')" \
    -v b="$(metric "$WORK/metrics$i.before" 'overdue_notifications_total{outcome="delivered"}')" 'BEGIN {print a - b}')
  retry=$(metric "$WORK/metrics$i.after" 'overdue_notifications_total{outcome="retry"}')
  failed=$(metric "$WORK/metrics$i.after" 'overdue_notifications_total{outcome="failed"}')
  max_outbox=$(awk 'BEGIN {m = 0} $2 > m {m = $2} END {print m}' "$WORK/poll$i.txt")
  max_journal=$(awk 'BEGIN {m = 0} $3 > m {m = $3} END {print m}' "$WORK/poll$i.txt")
  # The longest /metrics and /readyz request (ms) and the /readyz answers other than 200.
  local stalls
  stalls=$(awk '$8 > m {m = $8} $9 > r {r = $9} $10 != 200 {n++}
    END {printf "%.0f %.0f %d", m, r, n}' "$WORK/poll$i.txt")
  # runs line: deliveries incidents dups per_s p50 p99 max last | base n p50 p99 max | storm
  # n p50 p99 max | window_ms | lag total/>0.1s/>1s commits/mean_batch delivered retry failed max_outbox
  # max_journal rss_kib | max_metrics_ms max_readyz_ms readyz_not_200
  echo "$(r deliveries) $(r incidents) $(r duplicates) $(r deliveries_per_s) $(r latency_p50_s)" \
    "$(r latency_p99_s) $(r latency_max_s) $(r last_delivery_s) $base $storm" \
    "$((storm_end_ms - storm_start_ms)) ${lag:-nan} $batch $delivered $retry $failed" \
    "$max_outbox $max_journal $rss $stalls" >>"$WORK/runs"
  log "run $i: $(r incidents)/$STORM_WATCHES incidents delivered ($(r duplicates) duplicates), $(printf '%.0f' "$(r deliveries_per_s)")/s;" \
    "deadline -> delivery p50 $(r latency_p50_s) s, p99 $(r latency_p99_s) s, max $(r latency_max_s) s;" \
    "check-in p99 baseline $(cut -d' ' -f3 <<<"$base") ms, storm $(cut -d' ' -f3 <<<"$storm") ms;" \
    "detection lag observations total/>100 ms/>1 s $lag; commits/mean batch $batch; max outbox $max_outbox, max journal queue $max_journal;" \
    "longest /metrics, /readyz request (ms), /readyz not 200: $stalls"
  echo "--- run $i: CPU by thread from T - 0.1 s to the last delivery (name, ms on a core, ms waiting for one)"
  thread_cpu "$WORK/threads$i.before" "$WORK/threads$i.after" | sed 's/^/  /' | tee "$WORK/cpu$i.txt"
  if [ -n "$perf_pid" ]; then
    # One line per thread (tid:name, e.g. od-journal, od-transport, od-notifier) with its share
    # of the samples, then each busy thread's top symbols.
    echo "--- run $i: perf, server threads from T to the last delivery (share of samples)"
    perf report -i "$WORK/perf$i.data" --no-children --stdio -g none --sort pid 2>/dev/null |
      awk '/^ +[0-9.]+%/ && $1 + 0 >= 1 {print "  " $1, $2}' | tee "$WORK/perf$i.threads" || true
    local tid
    for tid in $(awk '{split($2, a, ":"); print a[1]}' "$WORK/perf$i.threads"); do
      echo "  thread $tid, top symbols (% of all samples):"
      perf report -i "$WORK/perf$i.data" --no-children --stdio -g none --tid "$tid" \
        --sort dso,symbol 2>/dev/null | awk '/^ +[0-9.]+%/' | head -10 | cut -c1-120 | sed 's/^/    /' || true
    done
  fi
  [ "${BENCH_KEEP:-0}" = 1 ] || rm -rf "$dir" "$dir".*
}

machine_summary
case "$CHECKIN_LOAD" in
  full) load="wrk -t2 -c64 at full speed (as checkin_throughput.sh)" ;;
  paced) load="wrk -t1 -c$PACED_CONNS, ${PACE_MS} ms between a connection's requests" ;;
  none) load="none" ;;
esac
echo "storm: $STORM_WATCHES watches down at T (spread over $STORM_WINDOW), 1 webhook each to a local receiver;" \
  "$HEALTHY_WATCHES healthy watches; check-in load: $load; durability=$DURABILITY; checkin_log=$CHECKIN_LOG; $RUNS runs"
receiver_capacity
echo "receiver capacity: $RECEIVER_CAPACITY POSTs/s (wrk -t1 -c64, ~1 KB bodies)"
: >"$WORK/runs"
for i in $(seq "$RUNS"); do run_storm "$i"; done

col() { awk -v n="$1" '{print $n}' "$WORK/runs"; }
med() { col "$1" | median; }
fmt_ms() { awk -v s="$1" 'BEGIN {printf "%.0f", s * 1000}'; }
echo
printf '%-4s %11s %6s %9s %9s %9s %9s %9s   %-21s %-21s %16s %9s\n' run delivered dups "deliv/s" \
  "p50 ms" "p99 ms" "max ms" "last ms" "check-in base p50/p99" "storm p50/p99 (ms)" "lag n/>0.1s/>1s" "max outbox"
n=0
while read -r d inc dup rate p50 p99 max last bn bp50 bp99 bmax sn sp50 sp99 smax win lag batch dl rt fl mo mj rss mm rm rn; do
  n=$((n + 1))
  printf '%-4s %11s %6s %9.0f %9s %9s %9s %9s   %-21s %-21s %16s %9s\n' "$n" "$inc/$STORM_WATCHES" "$dup" \
    "$rate" "$(fmt_ms "$p50")" "$(fmt_ms "$p99")" "$(fmt_ms "$max")" "$(fmt_ms "$last")" \
    "$bp50 / $bp99" "$sp50 / $sp99" "$lag" "$mo"
done <"$WORK/runs"
echo
echo "medians of $RUNS runs:"
echo "  deliveries/s (first to last delivery): $(printf '%.0f' "$(med 4)")"
echo "  deadline -> first delivery: p50 $(fmt_ms "$(med 5)") ms, p99 $(fmt_ms "$(med 6)") ms, max $(fmt_ms "$(med 7)") ms; last delivery $(fmt_ms "$(med 8)") ms after T"
if [ "$CHECKIN_LOAD" != none ]; then
  bp99=$(med 11)
  sp99=$(med 15)
  echo "  check-in p50 ms: baseline $(med 10), storm $(med 14); p99 ms: baseline $bp99, storm $sp99;" \
    "storm/baseline p99 = $(awk -v a="$sp99" -v b="$bp99" 'BEGIN {printf "%.2f", a / b}')x" \
    "(requests: baseline $(med 9) in ${BASELINE_S} s, storm $(med 13) in $(med 17) ms)"
  if [ "$RUNS" -gt 1 ]; then
    # A paced storm has ~600 check-ins, so one run's p99 is its ~6th slowest request; the
    # requests of all runs together give a steadier p99 (the same merge as per run).
    read -r pbn pbp99 < <(python3 "$REPORT" latency "$WORK"/checkins-base*.hist | awk '{print $2, $6}')
    read -r psn psp99 < <(python3 "$REPORT" latency "$WORK"/checkins-storm*.hist | awk '{print $2, $6}')
    echo "  check-in p99 ms over all $RUNS runs' requests together: baseline $pbp99 ($pbn requests)," \
      "storm $psp99 ($psn requests); storm/baseline p99 = $(awk -v a="$psp99" -v b="$pbp99" 'BEGIN {printf "%.2f", a / b}')x"
  fi
  sb=$(cut -d' ' -f1 "$WORK/server_ping" | median)
  ss=$(cut -d' ' -f2 "$WORK/server_ping" | median)
  echo "  server-side check-in p99 ms (read whole -> response written, from the histogram):" \
    "baseline $sb, storm $ss (runs: $(cut -d' ' -f2 "$WORK/server_ping" | paste -sd' '))"
fi
echo "  server: detection lag observations total/>100 ms/>1 s (runs): $(col 18 | paste -sd' '); commits during the storm/mean batch (runs): $(col 19 | paste -sd' ');" \
  "max outbox_pending (runs): $(col 23 | paste -sd' '); max journal_queue (runs): $(col 24 | paste -sd' ')"
echo "  longest /metrics request, ms (runs): $(col 26 | paste -sd' '); longest /readyz request, ms (runs):" \
  "$(col 27 | paste -sd' '); /readyz answers other than 200 (runs): $(col 28 | paste -sd' ')"
echo "  notifications: delivered per run $(col 20 | paste -sd' '), retry $(col 21 | paste -sd' '), failed $(col 22 | paste -sd' ')"
echo "target: first delivery p99 <= 1000 ms after the deadline; check-in p99 during the storm <= 2x baseline"

#!/usr/bin/env bash
# Resident memory per watch (BENCHMARKS.md, "Memory per watch"): VmRSS of `overdue serve`
# once ready with $WATCHES watches loaded, minus VmRSS of the same binary on an empty store,
# divided by $WATCHES. The watches are "up" with period 1 day and deadlines spread over the
# next 20 hours, so every one also holds a deadline-wheel entry. RSS is read $SETTLE_S
# seconds after /readyz first answers 200 (start-up allocations freed by then stay counted
# if malloc keeps them: that is memory the machine really gives the process).
#
# Environment: WATCHES (1000000), SETTLE_S (2), VARIANTS ("plain slugs": "slugs" also gives
# every watch a 12-character slug, indexed for /ping/<ping-key>/<slug> URLs).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

WATCHES="${WATCHES:-1000000}"
SETTLE_S="${SETTLE_S:-2}"
VARIANTS="${VARIANTS:-plain slugs}"

bench_init

# measure DIR: prints VmRSS in KiB of a server on DIR, read SETTLE_S s after ready.
measure() {
  local dir="$1" rss
  start_overdue "$dir"
  wait_ready "$SERVER_URL"
  sleep "$SETTLE_S"
  rss=$(rss_kib "$SERVER_PID")
  stop_server "$SERVER_PID"
  echo "$rss"
}

machine_summary
empty=$(new_data_dir empty)
base_kib=$(measure "$empty")
log "empty store: VmRSS $base_kib KiB"

echo
printf '%-8s %10s %14s %14s %14s\n' variant watches "baseline KiB" "loaded KiB" "bytes/watch"
for variant in $VARIANTS; do
  extra=()
  [ "$variant" = slugs ] && extra=(--slugs)
  dir=$(new_data_dir "mem-$variant")
  seed "$dir" "$WATCHES" --period 1d --grace 1h --deadlines-from 1h --deadlines-over 20h \
    "${extra[@]}"
  loaded_kib=$(measure "$dir")
  log "$variant: VmRSS $loaded_kib KiB with $WATCHES watches"
  per=$(python3 -c "print(f'{($loaded_kib - $base_kib) * 1024 / $WATCHES:.0f}')")
  printf '%-8s %10s %14s %14s %14s\n' "$variant" "$WATCHES" "$base_kib" "$loaded_kib" "$per"
  rm -rf "$dir"
done
echo "target: <= 300 bytes RSS per watch at 1M watches"

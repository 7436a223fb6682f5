#!/usr/bin/env bash
# Runs every system benchmark in turn (`make bench`) and keeps a copy of the output in
# $BENCH_RESULTS (default: <repo>/build/bench-results/<date-time>.txt). Takes about 15
# minutes on the 2-core reference machine; each script stops the servers it started. A failed
# benchmark does not stop the others; the exit code is non-zero if any failed.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${BENCH_RESULTS:-$here/../build/bench-results/$(date +%Y-%m-%dT%H%M%S).txt}"
mkdir -p "$(dirname "$out")"
failed=()
echo "# overdue system benchmarks, $(date -u +%Y-%m-%dT%H:%M:%SZ)" | tee "$out"
for b in checkin_throughput memory_per_watch restart_time detection_lag api incident_storm; do
  printf '\n## %s\n' "$b" | tee -a "$out"
  "$here/$b.sh" 2>&1 | tee -a "$out" || failed+=("$b")
done
echo "results: $out" >&2
if [ ${#failed[@]} -gt 0 ]; then
  echo "failed: ${failed[*]}" | tee -a "$out" >&2
  exit 1
fi

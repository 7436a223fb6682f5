#!/usr/bin/env python3
"""Reads one wrk --latency report and prints: req_per_s p50_ms p99_ms non_2xx socket_errors.

Used by bench/checkin_throughput.sh. Exits non-zero when the report has no Requests/sec line
(wrk failed), so a broken run never turns into a figure.
"""
import re
import sys

UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def latency_ms(text):
    m = re.fullmatch(r"([0-9.]+)(us|ms|s|m)", text)
    if not m:
        raise ValueError(f"unreadable latency {text!r}")
    return float(m.group(1)) * UNITS_MS[m.group(2)]


def main(path):
    text = open(path, encoding="utf-8").read()
    rps = re.search(r"^Requests/sec:\s+([0-9.]+)", text, re.M)
    if not rps:
        sys.exit(f"{path}: no Requests/sec line (wrk failed?)")
    p50 = re.search(r"^\s+50%\s+(\S+)", text, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", text, re.M)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    errors = sum(int(x) for x in sock.groups()) if sock else 0
    print(
        f"{float(rps.group(1)):.0f} "
        f"{latency_ms(p50.group(1)) if p50 else float('nan'):.3f} "
        f"{latency_ms(p99.group(1)) if p99 else float('nan'):.3f} "
        f"{int(non2xx.group(1)) if non2xx else 0} {errors}"
    )


if __name__ == "__main__":
    main(sys.argv[1])

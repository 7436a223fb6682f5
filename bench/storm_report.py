#!/usr/bin/env python3
"""Report tools for bench/incident_storm.sh (BENCHMARKS.md, "Incident storm").

  storm_report.py report RECORDS EXPECTED
      Summarises one run's deliveries, the records overdue-storm-receiver
      (bench/storm_receiver.cc) wrote: prints `key value` lines (see summarise()).
  storm_report.py latency HIST [HIST ...]
      Merges wrk latency histograms written by bench/storm_checkin.lua ("<us> <count>" lines)
      and prints `count N p50_ms X p99_ms Y max_ms Z`.
  storm_report.py metrics URL OUT
      Polls URL/metrics, then URL/readyz, every 100 ms over one keep-alive connection until
      SIGTERM and appends `epoch outbox_pending journal_queue delivered retry failed
      incidents_open metrics_ms readyz_ms readyz_status` lines to OUT (the two request times
      show whether either endpoint stalls during the storm).

  storm_report.py histq BEFORE AFTER SERIES Q
      The Q-quantile (0..1), in ms, of the observations a Prometheus histogram made between
      two /metrics scrapes: SERIES is the bucket series' name with its other labels, e.g.
      'overdue_http_request_duration_seconds_bucket{route="ping"'. Linear within a bucket;
      prints `nan` without observations and `>LAST_BOUND` when the quantile is in +Inf.

The receiver itself was an asyncio loop in this file (then storm_receiver.py) until the third
round: it took ~40k POSTs/s from wrk, but ~180 us of CPU per delivery during a storm, a third
of the 2-core machine.
"""
import http.client
import json
import math
import signal
import sys
import time
import urllib.parse
from datetime import datetime


def epoch(iso):
    if not iso:
        return None
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def with_body(rec, body):
    """Adds the incident's opened_at and id and the watch id from a delivery's JSON body."""
    try:
        msg = json.loads(body)
        inc = msg.get("incident") or {}
        rec["opened_at"] = epoch(inc.get("opened_at"))
        rec["incident"] = inc.get("id")
        rec["watch"] = (msg.get("watch") or {}).get("id")
    except (ValueError, AttributeError):
        rec["bad_body"] = body[:200]
    return rec


def quantile(sorted_values, q):
    """Nearest rank: the smallest value with at least q of the values at or below it."""
    if not sorted_values:
        return float("nan")
    return sorted_values[max(0, math.ceil(q * len(sorted_values)) - 1)]


def summarise(path, expected):
    recs = [json.loads(line) for line in open(path, encoding="utf-8")]
    recs = [with_body(r, r.pop("body", "")) for r in recs]
    bad = [r for r in recs if "bad_body" in r or r.get("opened_at") is None]
    recs = [r for r in recs if r not in bad]
    first = {}  # incident -> its first delivery
    for r in sorted(recs, key=lambda r: r["t"]):
        first.setdefault(r["incident"], r)
    lat = sorted(r["t"] - r["opened_at"] for r in first.values())
    times = sorted(r["t"] for r in recs)
    deadlines = sorted(r["opened_at"] for r in first.values())
    out = {
        "deliveries": len(recs),
        "incidents": len(first),
        "expected": expected,
        "duplicates": len(recs) - len(first),
        "unreadable": len(bad),
    }
    if lat:
        span = times[-1] - times[0]
        out.update({
            "deadline_first": deadlines[0],
            "deadline_last": deadlines[-1],
            "first_delivery_s": times[0] - deadlines[0],
            "last_delivery_s": times[-1] - deadlines[0],
            "delivery_span_s": span,
            "deliveries_per_s": (len(recs) - 1) / span if span > 0 else float("nan"),
            "latency_p50_s": quantile(lat, 0.50),
            "latency_p99_s": quantile(lat, 0.99),
            "latency_max_s": lat[-1],
            "within_1s": sum(1 for x in lat if x <= 1.0),
        })
    for k, v in out.items():
        print(f"{k} {v:.6f}" if isinstance(v, float) else f"{k} {v}")


def latency(paths):
    hist = {}
    for p in paths:
        for line in open(p, encoding="utf-8"):
            us, n = line.split()
            hist[int(float(us))] = hist.get(int(float(us)), 0) + int(float(n))
    total = sum(hist.values())
    if total == 0:
        print("count 0 p50_ms nan p99_ms nan max_ms nan")
        return
    values = sorted(hist)

    def q(frac):
        rank = max(1, math.ceil(frac * total))
        seen = 0
        for v in values:
            seen += hist[v]
            if seen >= rank:
                return v / 1000.0
        return values[-1] / 1000.0

    print(f"count {total} p50_ms {q(0.5):.3f} p99_ms {q(0.99):.3f} max_ms {values[-1] / 1000.0:.3f}")


def metrics(url, out):
    u = urllib.parse.urlparse(url)
    running = [True]
    signal.signal(signal.SIGTERM, lambda *_: running.__setitem__(0, False))
    wanted = {
        "overdue_outbox_pending": "outbox",
        "overdue_journal_queue": "journal",
        'overdue_notifications_total{outcome="delivered"}': "delivered",
        'overdue_notifications_total{outcome="retry"}': "retry",
        'overdue_notifications_total{outcome="failed"}': "failed",
        "overdue_incidents_open": "open",
    }
    conn = None
    with open(out, "a", encoding="utf-8") as f:
        while running[0]:
            t = time.time()
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
                conn.request("GET", "/metrics")
                text = conn.getresponse().read().decode()
                t_ready = time.time()
                conn.request("GET", "/readyz")
                ready = conn.getresponse()
                ready.read()
                t_end = time.time()
            except (OSError, http.client.HTTPException):
                conn = None
                time.sleep(0.1)
                continue
            vals = dict.fromkeys(wanted.values(), "nan")
            for line in text.splitlines():
                name, _, value = line.rpartition(" ")
                if name in wanted:
                    vals[wanted[name]] = value
            f.write(f"{t:.3f} " + " ".join(vals[k] for k in wanted.values()) +
                    f" {(t_ready - t) * 1000:.1f} {(t_end - t_ready) * 1000:.1f} {ready.status}\n")
            f.flush()
            time.sleep(max(0.0, 0.1 - (time.time() - t)))


def histogram_quantile(before, after, series, q):
    def buckets(path):
        out = {}
        with open(path) as f:
            for line in f:
                if not line.startswith(series):
                    continue
                head, value = line.rsplit(" ", 1)
                le = head[head.index('le="') + 4:]
                le = le[:le.index('"')]
                out[math.inf if le == "+Inf" else float(le)] = float(value)
        return out
    b, a = buckets(before), buckets(after)
    bounds = sorted(a)
    counts = [a[le] - b.get(le, 0.0) for le in bounds]  # cumulative
    if not bounds or counts[-1] <= 0:
        return "nan"
    rank = q * counts[-1]
    lower, below = 0.0, 0.0
    for le, c in zip(bounds, counts):
        if c >= rank:
            if math.isinf(le):
                return f">{lower * 1000:g}"
            frac = (rank - below) / (c - below) if c > below else 1.0
            return f"{(lower + (le - lower) * frac) * 1000:.3f}"
        lower, below = le, c
    return "nan"


def main(argv):
    if len(argv) == 4 and argv[1] == "report":
        summarise(argv[2], int(argv[3]))
    elif len(argv) >= 3 and argv[1] == "latency":
        latency(argv[2:])
    elif len(argv) == 6 and argv[1] == "histq":
        print(histogram_quantile(argv[2], argv[3], argv[4], float(argv[5])))
    elif len(argv) == 4 and argv[1] == "metrics":
        metrics(argv[2], argv[3])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)

#!/usr/bin/env python3
"""Webhook receiver and report tools for bench/incident_storm.sh (BENCHMARKS.md, "Incident storm").

  storm_receiver.py serve --port-file F --out RECORDS [--expect N --done-file D]
      An HTTP/1.1 receiver on 127.0.0.1 (a free port, written to F once listening). Every
      request to /hook is answered 204 at once and kept in memory as (receive time, headers,
      body); nothing is parsed until exit, so the receiver's cost per delivery is reading the
      request and writing one fixed reply. GET /count answers how many /hook requests arrived;
      GET /reset forgets them (after the capacity check). When the Nth /hook request arrives
      it writes its receive time to D (the script polls for that file). On SIGTERM or SIGINT it writes one
      JSON line per delivery to RECORDS: {"t": receive epoch s, "key": Idempotency-Key,
      "event": X-Overdue-Event, "opened_at": incident.opened_at epoch s, "incident": id,
      "watch": watch id}, then exits.
  storm_receiver.py report RECORDS EXPECTED
      Summarises one run's deliveries: prints `key value` lines (see summarise()).
  storm_receiver.py latency HIST [HIST ...]
      Merges wrk latency histograms written by bench/storm_checkin.lua ("<us> <count>" lines)
      and prints `count N p50_ms X p99_ms Y max_ms Z`.
  storm_receiver.py metrics URL OUT
      Polls URL/metrics, then URL/readyz, every 100 ms over one keep-alive connection until
      SIGTERM and appends `epoch outbox_pending journal_queue delivered retry failed
      incidents_open metrics_ms readyz_ms readyz_status` lines to OUT (the two request times
      show whether either endpoint stalls during the storm).

`serve` is one asyncio event loop with bare Protocols. It takes ~40k POSTs/s from wrk, but
during a storm it spent ~170 us of CPU per delivery (many connections, few requests per
wakeup): a third of the 2-core machine, taken from the server measured. incident_storm.sh
therefore uses overdue-storm-receiver (bench/storm_receiver.cc, same protocol, ~25 us per
delivery); `report` reads the records of either (that one keeps the raw body).
"""
import asyncio
import http.client
import json
import math
import os
import re
import signal
import sys
import time
import urllib.parse
from datetime import datetime

NO_CONTENT = b"HTTP/1.1 204 No Content\r\n\r\n"
CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)", re.I)


def reply(status, text):
    body = text.encode()
    return b"HTTP/1.1 %d OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s" % (
        status, len(body), body)


class Hooks(asyncio.Protocol):
    records = []  # (time, head bytes, body bytes), shared by every connection
    expect = 0
    done_file = None

    def connection_made(self, transport):
        self.transport = transport
        self.buf = bytearray()

    def data_received(self, data):
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buf[:end])
            m = CONTENT_LENGTH.search(head)
            length = int(m.group(1)) if m else 0
            if len(self.buf) < end + 4 + length:
                return
            now = time.time()
            body = bytes(self.buf[end + 4:end + 4 + length])
            del self.buf[:end + 4 + length]
            line = head.split(b"\r\n", 1)[0].split(b" ")
            path = line[1] if len(line) > 1 else b""
            if path.startswith(b"/hook"):
                Hooks.records.append((now, head, body))
                self.transport.write(NO_CONTENT)
                if len(Hooks.records) == Hooks.expect and Hooks.done_file:
                    with open(Hooks.done_file + ".tmp", "w") as f:
                        f.write(f"{now:.6f}\n")
                    os.rename(Hooks.done_file + ".tmp", Hooks.done_file)
            elif path == b"/count":
                self.transport.write(reply(200, str(len(Hooks.records))))
            elif path == b"/reset":
                Hooks.records.clear()
                self.transport.write(reply(200, "0"))
            else:
                self.transport.write(reply(404, "not found"))


def header(head, name):
    m = re.search(rb"\r\n" + name + rb":[ \t]*([^\r\n]*)", head, re.I)
    return m.group(1).decode() if m else ""


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
        rec["bad_body"] = (body[:200].decode(errors="replace")
                           if isinstance(body, bytes) else body[:200])
    return rec


def write_records(path):
    with open(path, "w", encoding="utf-8") as out:
        for t, head, body in Hooks.records:
            rec = {"t": t, "key": header(head, b"idempotency-key"),
                   "event": header(head, b"x-overdue-event")}
            out.write(json.dumps(with_body(rec, body)) + "\n")


def serve(port_file, out):
    loop = asyncio.new_event_loop()
    stop = loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))

    async def main():
        server = await loop.create_server(Hooks, "127.0.0.1", 0, backlog=1024)
        port = server.sockets[0].getsockname()[1]
        tmp = port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{port}\n")
        os.rename(tmp, port_file)
        await stop
        server.close()

    loop.run_until_complete(main())
    write_records(out)


def quantile(sorted_values, q):
    """Nearest rank: the smallest value with at least q of the values at or below it."""
    if not sorted_values:
        return float("nan")
    return sorted_values[max(0, math.ceil(q * len(sorted_values)) - 1)]


def summarise(path, expected):
    recs = [json.loads(line) for line in open(path, encoding="utf-8")]
    # Records of overdue-storm-receiver carry the raw body.
    recs = [with_body(r, r.pop("body")) if "body" in r else r for r in recs]
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


def main(argv):
    if len(argv) >= 2 and argv[1] == "serve":
        args = dict(zip(argv[2::2], argv[3::2]))
        Hooks.expect = int(args.get("--expect", "0"))
        Hooks.done_file = args.get("--done-file")
        serve(args["--port-file"], args["--out"])
    elif len(argv) == 4 and argv[1] == "report":
        summarise(argv[2], int(argv[3]))
    elif len(argv) >= 3 and argv[1] == "latency":
        latency(argv[2:])
    elif len(argv) == 4 and argv[1] == "metrics":
        metrics(argv[2], argv[3])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)

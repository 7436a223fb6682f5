#!/usr/bin/env python3
"""Management API benchmark driver (bench/api.sh): create throughput and list latency.

  api_bench.py URL API_KEY create COUNT CONCURRENCY  -> prints "creates/s <rate>"
  api_bench.py URL API_KEY list REPEATS              -> prints one latency (ms) per line

Each worker thread keeps one HTTP/1.1 keep-alive connection. Python's own overhead per
request is ~0.1 ms, small next to the server's time for these calls (measured in the run)."""
import http.client
import json
import sys
import threading
import time
import urllib.parse


def connect(url):
    u = urllib.parse.urlparse(url)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=60)


def create(url, key, count, concurrency):
    per = [count // concurrency + (1 if i < count % concurrency else 0) for i in range(concurrency)]
    errors = []

    def worker(i, n):
        c = connect(url)
        for j in range(n):
            body = json.dumps({"name": f"w{i}-{j}", "slug": f"w{i}-{j}", "tags": f"t{j % 10}",
                               "timeout": 3600, "grace": 600})
            c.request("POST", "/api/v3/checks/", body=body,
                      headers={"X-Api-Key": key, "Content-Type": "application/json"})
            r = c.getresponse()
            r.read()
            if r.status != 201:
                errors.append(r.status)
        c.close()

    threads = [threading.Thread(target=worker, args=(i, n)) for i, n in enumerate(per)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    if errors:
        sys.exit(f"{len(errors)} creates failed, e.g. HTTP {errors[0]}")
    print(f"creates/s {count / elapsed:.1f}")


def list_latency(url, key, repeats):
    c = connect(url)
    n = None
    for _ in range(repeats):
        t0 = time.monotonic()
        c.request("GET", "/api/v3/checks/", headers={"X-Api-Key": key})
        r = c.getresponse()
        body = r.read()
        ms = (time.monotonic() - t0) * 1000
        if r.status != 200:
            sys.exit(f"list answered HTTP {r.status}")
        n = len(json.loads(body)["checks"])
        print(f"{ms:.2f}")
    print(f"# {n} checks per response, {len(body)} bytes", file=sys.stderr)


if __name__ == "__main__":
    url, key, mode = sys.argv[1:4]
    if mode == "create":
        create(url, key, int(sys.argv[4]), int(sys.argv[5]))
    else:
        list_latency(url, key, int(sys.argv[4]))

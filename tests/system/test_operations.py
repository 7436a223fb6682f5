"""Operations: health, readiness, metrics, history pruning, init."""
import json
import os
import re
import subprocess
import tempfile
import unittest
import uuid

from harness import BIN, Server, watch_toml, wait_for


class OperationsTest(unittest.TestCase):
    def setUp(self):
        self.watch = str(uuid.uuid4())
        self.server = Server(config=watch_toml(self.watch, "job", period="1h"),
                             args=["--history-limit", "5"])
        self.addCleanup(self.server.cleanup)
        self.server.start()

    def test_health_and_readiness(self):
        self.assertEqual(self.server.request("GET", "/healthz")[:2], (200, b"ok"))
        self.assertEqual(self.server.request("GET", "/readyz")[:2], (200, b"ready"))

    def test_metrics_expose_states_signals_lag_and_commits(self):
        s = self.server
        s.request("GET", f"/ping/{self.watch}")
        s.request("GET", f"/ping/{self.watch}/fail")
        s.request("GET", f"/ping/{self.watch}/log")
        status, body, headers = s.request("GET", "/metrics")
        self.assertEqual(status, 200)
        self.assertTrue(headers["Content-Type"].startswith("text/plain; version=0.0.4"))
        text = body.decode()
        for line in ('overdue_watches{state="down"} 1', 'overdue_watches{state="up"} 0',
                     'overdue_checkins_total{signal="success"} 1',
                     'overdue_checkins_total{signal="fail"} 1',
                     'overdue_checkins_total{signal="log"} 1', "overdue_store_healthy 1"):
            self.assertIn(line, text)
        for family in ("overdue_detection_lag_seconds_bucket", "overdue_commit_batch_size_bucket",
                       "overdue_commit_latency_seconds_bucket", "overdue_journal_queue"):
            self.assertIn(family, text)
        # Request latency by route, observed once each response is written (the counts are
        # awaited: a response can reach us just before its observation is made).
        def count(route):
            m = re.search(r'^overdue_http_request_duration_seconds_count\{route="%s"\} (\d+)$'
                          % route, s.request("GET", "/metrics")[1].decode(), re.M)
            return int(m.group(1)) if m else None
        wait_for(lambda: count("ping") == 3, what="3 timed check-ins")
        self.assertEqual(count("api"), 0)
        s.api("/api/v3/checks/")
        wait_for(lambda: count("api") == 1, what="1 timed API request")
        self.assertGreaterEqual(count("other"), 1)  # the /metrics requests above
        wal = re.search(r"^overdue_store_wal_pages (\d+)$", text, re.M)
        self.assertIsNotNone(wal, "no overdue_store_wal_pages")
        self.assertGreater(int(wal.group(1)), 0)  # the check-ins above went through the WAL

    def test_history_keeps_the_newest_n(self):
        s = self.server
        for i in range(20):
            s.request("POST", f"/ping/{self.watch}", body=f"run {i}".encode())
        pings = wait_for(lambda: (lambda p: p if len(p) == 5 else None)(s.pings(self.watch)),
                         what="pruning to 5")
        self.assertEqual([p["n"] for p in pings], [20, 19, 18, 17, 16])
        self.assertEqual(s.check(self.watch)["n_pings"], 20)


class InitTest(unittest.TestCase):
    def test_init_prints_keys_once(self):
        with tempfile.TemporaryDirectory() as d:
            first = subprocess.run([BIN, "init", "--data-dir", d, "--json"], capture_output=True,
                                   text=True, timeout=30)
            self.assertEqual(first.returncode, 0, first.stderr)
            keys = json.loads(first.stdout)
            self.assertTrue(keys["api_key"].startswith("hcw_"))
            self.assertEqual(len(keys["api_key"]), 32)
            self.assertTrue(keys["api_key_readonly"].startswith("hcr_"))
            self.assertEqual(len(keys["ping_key"]), 22)
            self.assertTrue(os.path.exists(os.path.join(d, "overdue.db")))
            second = subprocess.run([BIN, "init", "--data-dir", d, "--json"],
                                    capture_output=True, text=True, timeout=30)
            self.assertEqual(second.returncode, 1)
            self.assertIn("already initialised", second.stderr)
            # The keys init printed work against the server on that data dir.
            server = Server(data_dir=d)
            self.addCleanup(server.cleanup)
            server.start()
            server.keys = keys
            self.assertEqual(server.api("/api/v3/checks/")[0], 200)
            self.assertEqual(server.api("/api/v3/checks/", key=keys["api_key_readonly"])[0], 200)
            self.assertEqual(server.stop(), 0)


if __name__ == "__main__":
    unittest.main()

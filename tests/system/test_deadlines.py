"""Deadlines in real time: grace, down, start timeouts, and deadlines missed while down."""
import re
import time
import unittest
import uuid

from harness import Server, watch_toml, wait_for


def lag_buckets(server):
    _, body, _ = server.request("GET", "/metrics")
    text = body.decode()
    buckets = dict(re.findall(r'overdue_detection_lag_seconds_bucket\{le="([^"]+)"\} (\d+)', text))
    return {k: int(v) for k, v in buckets.items()}


class DeadlineTest(unittest.TestCase):
    def setUp(self):
        self.a, self.b, self.c = (str(uuid.uuid4()) for _ in range(3))
        config = (watch_toml(self.a, "a", period="1s", grace="1s") +
                  watch_toml(self.b, "b", period="1h", grace="1s") +
                  watch_toml(self.c, "c", period="1h", grace="1h"))
        self.server = Server(config=config, args=["--min-period", "1s"])
        self.addCleanup(self.server.cleanup)
        self.server.start()

    def status(self, watch):
        return self.server.check(watch)["status"]

    def test_period_goes_grace_then_down_and_a_check_in_brings_it_back(self):
        s = self.server
        self.assertEqual(self.status(self.a), "new")  # no deadline before the first check-in
        self.assertEqual(s.request("GET", f"/ping/{self.a}")[0], 200)
        self.assertEqual(self.status(self.a), "up")
        wait_for(lambda: self.status(self.a) == "grace", timeout=5, what="grace")
        wait_for(lambda: self.status(self.a) == "down", timeout=5, what="down")
        # The flip is committed by the journal just after the engine acted.
        flips = wait_for(lambda: (lambda f: f if len(f) == 2 else None)(s.flips(self.a)),
                         timeout=5, what="the down flip")
        self.assertEqual([f["up"] for f in flips], [1, 0])
        # Every deadline the engine acted on was detected within 50 ms.
        buckets = lag_buckets(s)
        self.assertGreaterEqual(buckets["+Inf"], 2)
        self.assertEqual(buckets["0.05"], buckets["+Inf"], buckets)
        self.assertEqual(s.request("GET", f"/ping/{self.a}")[0], 200)
        self.assertEqual(self.status(self.a), "up")
        self.assertEqual([f["up"] for f in s.flips(self.a)], [1, 0, 1])

    def test_start_without_finish_goes_down_after_grace(self):
        s = self.server
        s.request("GET", f"/ping/{self.b}/start")
        self.assertTrue(s.check(self.b)["started"])
        wait_for(lambda: self.status(self.b) == "down", timeout=5, what="start timeout")
        s.request("GET", f"/ping/{self.b}/0")
        self.assertEqual(self.status(self.b), "up")
        self.assertFalse(s.check(self.b)["started"])

    def test_fail_and_nonzero_exit_go_down_at_once(self):
        s = self.server
        s.request("GET", f"/ping/{self.c}")
        s.request("GET", f"/ping/{self.c}/fail")
        self.assertEqual(self.status(self.c), "down")
        s.request("GET", f"/ping/{self.c}/0")
        self.assertEqual(self.status(self.c), "up")
        s.request("GET", f"/ping/{self.c}/7")
        self.assertEqual(self.status(self.c), "down")
        self.assertEqual([p["type"] for p in s.pings(self.c)], ["fail", "success", "fail", "success"])


class MissedWhileDownTest(unittest.TestCase):
    def test_deadlines_that_passed_while_down_fire_at_start(self):
        up, fresh = str(uuid.uuid4()), str(uuid.uuid4())
        config = watch_toml(up, "up", period="2s", grace="1s") + watch_toml(fresh, "fresh",
                                                                            period="2s", grace="1s")
        server = Server(config=config, args=["--min-period", "1s"])
        self.addCleanup(server.cleanup)
        server.start()
        server.request("GET", f"/ping/{up}")
        server.kill()
        # The premise of the test: the deadline (2 s + 1 s grace) passes while no server runs.
        time.sleep(3.5)
        server.start()
        # Down at once on start, not a period later.
        self.assertEqual(server.check(up)["status"], "down")
        # The down flip is written by the journal shortly after the first tick.
        wait_for(lambda: [f["up"] for f in server.flips(up)] == [1, 0], timeout=5,
                 what="the down flip in the history")
        self.assertEqual(server.check(fresh)["status"], "new")
        _, metrics, _ = server.request("GET", "/metrics")
        self.assertIn('overdue_watches{state="down"} 1', metrics.decode())
        self.assertEqual(server.stop(), 0)


if __name__ == "__main__":
    unittest.main()

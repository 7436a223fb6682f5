"""Safety property 1: no acknowledged check-in is lost, even on kill -9."""
import http.client
import threading
import unittest
import uuid

from harness import Server, watch_toml, wait_for


class DurabilityTest(unittest.TestCase):
    def run_and_kill(self, durability):
        watches = [str(uuid.uuid4()) for _ in range(200)]
        config = "".join(watch_toml(w, f"w{i}", period="1h") for i, w in enumerate(watches))
        server = Server(config=config, args=["--durability", durability])
        self.addCleanup(server.cleanup)
        server.start()
        n_total, n_threads = 2000, 64
        acked = [0] * len(watches)
        lock = threading.Lock()
        errors = []

        def worker(t):
            c = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
            for i in range(t, n_total, n_threads):
                w = i % len(watches)
                c.request("POST", f"/ping/{watches[w]}", body=f"check-in {i}")
                r = c.getresponse()
                body = r.read()
                if r.status == 200 and body == b"OK":
                    with lock:
                        acked[w] += 1
                else:
                    errors.append((r.status, body))
            c.close()

        threads = [threading.Thread(target=worker, args=(t,)) for t in range(n_threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        # The moment the last reply arrived: no graceful anything.
        server.kill()
        self.assertEqual(errors, [])
        self.assertEqual(sum(acked), n_total)

        server.start()
        total = 0
        for w, watch in enumerate(watches):
            check = server.check(watch)
            self.assertEqual(check["n_pings"], acked[w], watch)
            self.assertEqual(check["status"], "up")
            pings = server.pings(watch)
            self.assertEqual(len(pings), acked[w])
            # The newest ping in the history is the watch's last_ping.
            self.assertEqual(pings[0]["date"][:19], check["last_ping"][:19])
            total += check["n_pings"]
        self.assertEqual(total, n_total)
        self.assertEqual(server.stop(), 0)

    def test_commit_durability_survives_kill_9(self):
        self.run_and_kill("commit")

    def test_relaxed_durability_survives_kill_9_of_the_process(self):
        # relaxed skips the fsync, not the write: a process crash loses nothing.
        self.run_and_kill("relaxed")


class GracefulStopTest(unittest.TestCase):
    def test_sigterm_answers_in_flight_requests_then_exits_zero(self):
        watch = str(uuid.uuid4())
        server = Server(config=watch_toml(watch, "job", period="1h"))
        self.addCleanup(server.cleanup)
        server.start()
        oks = []
        stop = threading.Event()

        def pinger():
            c = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
            try:
                while not stop.is_set():
                    c.request("GET", f"/ping/{watch}")
                    r = c.getresponse()
                    if r.read() == b"OK" and r.status == 200:
                        oks.append(1)
            except (ConnectionError, http.client.HTTPException, OSError):
                pass  # the server closed the connection while stopping

        threads = [threading.Thread(target=pinger) for _ in range(8)]
        for t in threads:
            t.start()
        wait_for(lambda: len(oks) > 200, what="some check-ins")
        self.assertEqual(server.stop(), 0)
        stop.set()
        for t in threads:
            t.join()
        server.start()
        self.assertEqual(server.check(watch)["n_pings"], len(oks))


if __name__ == "__main__":
    unittest.main()

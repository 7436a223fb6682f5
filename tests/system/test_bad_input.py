"""Bad input gets a clear answer, changes nothing, and the server stays up."""
import os
import socket
import subprocess
import tempfile
import time
import unittest
import uuid

from harness import BIN, Server, watch_toml, wait_for


def raw(server, data, read_timeout=5.0):
    s = socket.create_connection(("127.0.0.1", server.port), timeout=read_timeout)
    try:
        s.sendall(data)
        chunks = []
        while True:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        s.close()


class BadRequestTest(unittest.TestCase):
    def setUp(self):
        self.watch = str(uuid.uuid4())
        self.server = Server(config=watch_toml(self.watch, "job", period="1h"),
                             args=["--max-body-bytes", "2048", "--read-timeout", "1s",
                                   "--max-connections", "5"])
        self.addCleanup(self.server.cleanup)
        self.server.start()

    def assert_still_serving(self):
        status, body, _ = self.server.request("GET", f"/ping/{self.watch}")
        self.assertEqual((status, body), (200, b"OK"))

    def n_pings(self):
        return self.server.check(self.watch)["n_pings"]

    def test_malformed_request_line(self):
        reply = raw(self.server, b"GARBAGE\r\n\r\n")
        self.assertTrue(reply.startswith(b"HTTP/1.1 400"), reply[:80])
        self.assert_still_serving()

    def test_header_flood_is_431(self):
        headers = b"".join(b"X-Flood-%d: %s\r\n" % (i, b"x" * 100) for i in range(200))
        reply = raw(self.server, b"GET /ping/" + self.watch.encode() +
                    b" HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n")
        self.assertTrue(reply.startswith(b"HTTP/1.1 431"), reply[:80])
        self.assertEqual(self.n_pings(), 0)
        self.assert_still_serving()

    def test_body_over_the_limit_is_413_and_changes_nothing(self):
        status, body, _ = self.server.request("POST", f"/ping/{self.watch}", body=b"x" * 5000)
        self.assertEqual(status, 413)
        self.assertEqual(self.n_pings(), 0)
        self.assert_still_serving()

    def test_slow_client_is_timed_out(self):
        start = time.monotonic()
        reply = raw(self.server, b"GET /ping/" + self.watch.encode() + b" HTTP/1.1\r\nHo",
                    read_timeout=10)
        self.assertLess(time.monotonic() - start, 5)
        self.assertTrue(reply == b"" or reply.startswith(b"HTTP/1.1 408"), reply[:80])
        self.assertEqual(self.n_pings(), 0)
        self.assert_still_serving()

    def test_connections_over_the_limit_get_503(self):
        held = [socket.create_connection(("127.0.0.1", self.server.port)) for _ in range(5)]
        self.addCleanup(lambda: [h.close() for h in held])
        # The server accepts asynchronously: wait until the sixth connection is refused.
        def sixth_refused():
            reply = raw(self.server, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", read_timeout=2)
            return reply.startswith(b"HTTP/1.1 503")
        wait_for(sixth_refused, timeout=5, what="503 over max_connections")
        for h in held:
            h.close()
        held.clear()
        wait_for(lambda: self.server.request("GET", "/healthz")[0] == 200, what="recovery")
        self.assert_still_serving()

    def test_unknown_watch_and_bad_paths(self):
        s = self.server
        self.assertEqual(s.request("GET", f"/ping/{uuid.uuid4()}")[:2], (404, b"not found"))
        self.assertEqual(s.request("GET", "/ping/not-a-uuid")[:2], (404, b"not found"))
        self.assertEqual(s.request("GET", f"/ping/{self.watch}/256")[:2],
                         (400, b"invalid url format"))
        self.assertEqual(s.request("GET", f"/ping/{self.watch}?rid=12345")[:2],
                         (400, b"invalid uuid format"))
        self.assertEqual(s.request("GET", "/ping/%zz")[0], 400)
        self.assertEqual(self.n_pings(), 0)
        self.assert_still_serving()

    def test_api_keys(self):
        s = self.server
        self.assertEqual(s.api("/api/v3/checks/", key="short"),
                         (401, {"error": "missing api key"}))
        self.assertEqual(s.api("/api/v3/checks/", key="hcw_" + "x" * 28),
                         (401, {"error": "wrong api key"}))
        status, _, _ = s.request("GET", "/api/v3/checks/")
        self.assertEqual(status, 401)


class BadConfigTest(unittest.TestCase):
    def serve_with(self, config=None, args=(), env=None):
        with tempfile.TemporaryDirectory() as d:
            cmd = [BIN, "serve", "--listen", "127.0.0.1:0", "--data-dir", d] + list(args)
            if config is not None:
                path = os.path.join(d, "overdue.toml")
                with open(path, "w") as f:
                    f.write(config)
                cmd += ["--config", path]
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=30,
                               env=dict(os.environ, **(env or {})))
            return p.returncode, p.stderr

    def test_each_bad_value_names_its_field(self):
        w = str(uuid.uuid4())
        cases = [
            (watch_toml(w, "x", cron="61 * * * *"), "watch[0].cron"),
            (watch_toml(w, "x", cron="0 3 * * *", tz="Mars/Base"), "Mars/Base"),
            (watch_toml(w, "x", period="10s"), "watch[0].period"),
            (watch_toml(w, "x", period="1h", grace="5x"), "watch[0].grace"),
            ('listen = "127.0.0.1:0"\ncolour = "blue"\n', "colour"),
            ('min_period = "abc"\n', "min_period"),
        ]
        for config, field in cases:
            with self.subTest(field=field):
                code, err = self.serve_with(config)
                self.assertEqual(code, 2, err)
                self.assertIn(field, err)

    def test_env_and_flag_precedence(self):
        code, err = self.serve_with(env={"OVERDUE_MIN_PERIOD": "abc"})
        self.assertEqual(code, 2)
        self.assertIn("OVERDUE_MIN_PERIOD", err)
        # A period allowed only by a lowered min_period: the flag beats the file.
        w = str(uuid.uuid4())
        config = 'min_period = "1m"\n' + watch_toml(w, "x", period="5s")
        code, err = self.serve_with(config)
        self.assertEqual(code, 2)
        self.assertIn("period", err)
        server = Server(config=config, args=["--min-period", "1s"])
        self.addCleanup(server.cleanup)
        server.start()
        self.assertEqual(server.check(w)["timeout"], 5)


if __name__ == "__main__":
    unittest.main()

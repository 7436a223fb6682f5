"""Starts the real overdue binary on 127.0.0.1:0 in a temp data dir and talks HTTP to it.

Used by the system tests beside this file (python3 -m unittest). OVERDUE_BIN names the
binary (set by CTest)."""
import http.client
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time

BIN = os.environ.get("OVERDUE_BIN", "build/release/src/cli/overdue")


def wait_for(predicate, timeout=10.0, interval=0.02, what="condition"):
    """Polls predicate() until it returns a truthy value; fails after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class Server:
    def __init__(self, data_dir=None, args=(), config=None, env=None):
        self.owns_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="overdue-test-")
        self.args = list(args)
        self.config_path = None
        if config is not None:
            self.config_path = os.path.join(self.data_dir, "overdue.toml")
            with open(self.config_path, "w") as f:
                f.write(config)
        self.env = dict(os.environ, **(env or {}))
        self.proc = None
        self.port = None
        self.keys = None
        self.lines = []

    def start(self, expect_ready=True):
        cmd = [BIN, "serve", "--listen", "127.0.0.1:0", "--data-dir", self.data_dir]
        if self.config_path:
            cmd += ["--config", self.config_path]
        cmd += self.args
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env=self.env, text=True)
        if not expect_ready:
            return self
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise AssertionError("server exited before listening: " + self.proc.stderr.read())
            self.lines.append(line)
            if line.startswith("{") and self.keys is None:
                self.keys = json.loads(line)
            if line.startswith("overdue listening on http://"):
                self.port = int(line.strip().rsplit(":", 1)[1])
                break
        # Drain stdout in the background so the server never blocks on a full pipe.
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()
        threading.Thread(target=self.proc.stderr.read, daemon=True).start()
        if self.keys is None:
            self.keys = getattr(self, "_saved_keys", None)
        self._saved_keys = self.keys
        return self

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if self.proc is None:
            return None
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=timeout)
        for pipe in (self.proc.stdout, self.proc.stderr):
            try:
                pipe.close()
            except OSError:
                pass
        self.proc = None
        return code

    def kill(self):
        return self.stop(signal.SIGKILL)

    def cleanup(self):
        if self.proc is not None:
            self.kill()
        if self.owns_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def conn(self, timeout=10):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None):
        c = self.conn()
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            return r.status, r.read(), dict(r.getheaders())
        finally:
            c.close()

    def api(self, path, key=None):
        status, body, _ = self.request(
            "GET", path, headers={"X-Api-Key": key or self.keys["api_key"]})
        return status, (json.loads(body) if body else None)

    def check(self, uuid):
        status, body = self.api(f"/api/v3/checks/{uuid}")
        assert status == 200, (status, body)
        return body

    def pings(self, uuid):
        status, body = self.api(f"/api/v3/checks/{uuid}/pings/")
        assert status == 200, (status, body)
        return body["pings"]

    def flips(self, uuid):
        """Oldest first (the API answers newest first, as healthchecks does)."""
        status, body = self.api(f"/api/v3/checks/{uuid}/flips/")
        assert status == 200, (status, body)
        return list(reversed(body["flips"]))

    def slug_url(self, slug, suffix=""):
        return f"/ping/{self.keys['ping_key']}/{slug}{suffix}"

    def create(self, slug):
        status, body, _ = self.request("GET", self.slug_url(slug) + "?create=1")
        assert status in (200, 201), (status, body)
        _, checks = self.api("/api/v3/checks/")
        return next(c["uuid"] for c in checks["checks"] if c["slug"] == slug)


def watch_toml(uuid, name, **fields):
    lines = ["[[watch]]", f'id = "{uuid}"', f'name = "{name}"']
    for k, v in fields.items():
        if isinstance(v, bool):
            lines.append(f"{k} = {'true' if v else 'false'}")
        elif isinstance(v, int):
            lines.append(f"{k} = {v}")
        else:
            lines.append(f'{k} = "{v}"')
    return "\n".join(lines) + "\n\n"

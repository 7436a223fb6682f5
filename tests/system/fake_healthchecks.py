"""A stand-in for a healthchecks.io project, speaking the Management API v3 wire format.

Serves the check objects in tests/fixtures/healthchecks/*.json (one check per file, shaped as
healthchecks' Check.to_dict(v=3) returns them to a read-write key) on 127.0.0.1 with a port from
the OS. Authentication as healthchecks does it: X-Api-Key must be the read-write or the
read-only key, else 401 {"error": "missing api key"} / {"error": "wrong api key"}. A read-only
key sees unique_key instead of uuid, ping_url, update_url, pause_url, resume_url and channels.
Answers:
  GET /api/v3/checks/            {"checks": [...]} in file-name order (?tag= and ?slug= filter)
  GET /api/v3/checks/<uuid>      one check, or 404 {"error": "not found"}
Every request is recorded (method, path, headers) so tests can prove the importer only reads.

Standalone: python3 fake_healthchecks.py  prints the URL and keys, serves until Ctrl-C."""
import glob
import hashlib
import http.server
import json
import os
import threading
import urllib.parse

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures",
                        "healthchecks")

READ_WRITE_KEY = "hc-rw-key-0123456789abcdefghijkl"  # 32 characters, like healthchecks' keys
READ_ONLY_KEY = "hc-ro-key-0123456789abcdefghijkl"

# Fields healthchecks leaves out for a read-only key (api.md, "List existing checks").
_HIDDEN_FROM_READ_ONLY = ("uuid", "ping_url", "update_url", "pause_url", "resume_url", "channels")


def load_fixtures(directory=FIXTURES):
    """{file stem: check object}, in file-name order."""
    out = {}
    for path in sorted(glob.glob(os.path.join(directory, "*.json"))):
        with open(path) as f:
            out[os.path.splitext(os.path.basename(path))[0]] = json.load(f)
    return out


def unique_key(uuid):
    """healthchecks' Check.unique_key: sha1 of the first 16 hex digits of the UUID."""
    return hashlib.sha1(uuid.replace("-", "")[:16].encode()).hexdigest()


def read_only_view(check):
    c = {k: v for k, v in check.items() if k not in _HIDDEN_FROM_READ_ONLY}
    # unique_key sits where healthchecks puts it: after badge_url / last_duration.
    out = {}
    for k, v in c.items():
        if k in ("timeout", "schedule", "tz") and "unique_key" not in out:
            out["unique_key"] = unique_key(check["uuid"])
        out[k] = v
    return out


class FakeHealthchecks:
    def __init__(self, checks=None):
        self.checks = list((checks or load_fixtures()).values())
        self.requests = []
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def reply(self, status, obj):
                body = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def authenticate(self):
                key = self.headers.get("X-Api-Key", "")
                if not key:
                    self.reply(401, {"error": "missing api key"})
                    return None
                if key not in (READ_WRITE_KEY, READ_ONLY_KEY):
                    self.reply(401, {"error": "wrong api key"})
                    return None
                return key == READ_ONLY_KEY

            def view(self, check, read_only):
                return read_only_view(check) if read_only else dict(check)

            def do_GET(self):
                url = urllib.parse.urlsplit(self.path)
                fake.requests.append(("GET", self.path, dict(self.headers)))
                read_only = self.authenticate()
                if read_only is None:
                    return
                query = urllib.parse.parse_qs(url.query)
                if url.path == "/api/v3/checks/":
                    checks = fake.checks
                    for tag in query.get("tag", []):
                        checks = [c for c in checks if tag in c["tags"].split()]
                    if query.get("slug"):
                        checks = [c for c in checks if c["slug"] == query["slug"][0]]
                    self.reply(200, {"checks": [self.view(c, read_only) for c in checks]})
                    return
                prefix = "/api/v3/checks/"
                if url.path.startswith(prefix):
                    code = url.path[len(prefix):]
                    for c in fake.checks:
                        if c["uuid"] == code or unique_key(c["uuid"]) == code:
                            self.reply(200, self.view(c, read_only))
                            return
                self.reply(404, {"error": "not found"})

            def refuse(self):
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                fake.requests.append((self.command, self.path, dict(self.headers)))
                if self.authenticate() is not None:
                    self.reply(405, {"error": "this fake healthchecks is read-only"})

            do_POST = do_PUT = do_DELETE = refuse

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = None

    def start(self):
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def writes(self):
        return [r for r in self.requests if r[0] != "GET"]


if __name__ == "__main__":
    fake = FakeHealthchecks()
    print(f"fake healthchecks on {fake.url}  read-write key {READ_WRITE_KEY}  "
          f"read-only key {READ_ONLY_KEY}", flush=True)
    try:
        fake.httpd.serve_forever()
    except KeyboardInterrupt:
        pass

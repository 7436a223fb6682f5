"""Real receivers for notifications, each on 127.0.0.1 and a port it picked itself.

SmtpReceiver    an aiosmtpd SMTP server (optionally AUTH, STARTTLS or implicit TLS) keeping
                every message it accepted.
WebhookReceiver an HTTP server keeping every request, answering from a script (failures,
                429 with Retry-After, slow answers), checking X-Overdue-Signature.
TwilioReceiver  an HTTP server speaking Twilio's REST wire format for Messages.json and
                Calls.json: basic auth, form-urlencoded parameters, Twilio-shaped errors and
                resources.

Used by the system tests beside this file; checked by test_receivers.py. Python 3 standard
library plus Debian's python3-aiosmtpd."""
import base64
import collections
import email
import email.policy
import email.utils
import hashlib
import hmac
import http.server
import json
import logging
import os
import re
import secrets
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import warnings
from datetime import datetime, timezone

try:
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword
except ImportError:  # pragma: no cover - depends on the machine
    # Debian's python3-aiosmtpd is pure Python; a python3 other than Debian's (pyenv, a venv)
    # does not see /usr/lib/python3/dist-packages. Borrow it rather than skip the mail tests.
    if os.path.isdir("/usr/lib/python3/dist-packages"):
        sys.path.append("/usr/lib/python3/dist-packages")
    try:
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult, LoginPassword
    except ImportError:
        Controller = None

# aiosmtpd logs every session (and a deprecation warning per AUTH) at INFO/WARNING.
logging.getLogger("mail.log").setLevel(logging.ERROR)

HAVE_AIOSMTPD = Controller is not None
HAVE_OPENSSL = shutil.which("openssl") is not None

# How long a received X-Overdue-Signature stays acceptable (replay protection).
SIGNATURE_TOLERANCE_SECONDS = 300


def free_port():
    """A port nothing listens on right now (for 'connection refused' targets)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Blackhole:
    """A TCP port that accepts connections (the kernel completes the handshake) and never
    answers: a receiver that hangs."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]

    def close(self):
        self.sock.close()


def _wait(cond, predicate, timeout, what):
    """Waits on a Condition (held by the caller) until predicate() is truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        cond.wait(left)


# ---- TLS ------------------------------------------------------------------------------------

class SelfSignedCert:
    """A throwaway self-signed certificate for 127.0.0.1/localhost made with the openssl CLI."""

    def __init__(self):
        if not HAVE_OPENSSL:
            raise RuntimeError("the openssl command is not installed")
        self.dir = tempfile.mkdtemp(prefix="overdue-cert-")
        self.cert = os.path.join(self.dir, "cert.pem")
        self.key = os.path.join(self.dir, "key.pem")
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-keyout", self.key, "-out", self.cert, "-subj", "/CN=localhost",
             "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
            check=True, capture_output=True, timeout=60)

    def server_context(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert, self.key)
        return ctx

    def client_context(self):
        """Trusts exactly this certificate."""
        ctx = ssl.create_default_context(cafile=self.cert)
        return ctx

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


# ---- SMTP -----------------------------------------------------------------------------------

class ReceivedMail:
    """One message the SMTP receiver accepted."""

    def __init__(self, envelope_from, rcpt_tos, raw, login, tls, peer):
        self.envelope_from = envelope_from
        self.rcpt_tos = list(rcpt_tos)
        self.raw = raw  # bytes, as received (dot-unstuffed)
        self.message = email.message_from_bytes(raw, policy=email.policy.default)
        self.login = login  # the AUTH user name, or None
        self.tls = tls      # whether the session was encrypted when DATA arrived
        self.peer = peer
        self.received_at = time.time()

    @property
    def subject(self):
        return str(self.message.get("Subject", ""))

    def text(self):
        """Every text/* part, decoded (transfer encoding and charset), joined by newlines."""
        parts = []
        for part in self.message.walk():
            if part.get_content_maintype() == "text":
                parts.append(part.get_content())
        return "\n".join(parts)

    def __repr__(self):
        return f"<mail from={self.envelope_from!r} to={self.rcpt_tos!r} subject={self.subject!r}>"


class _BoundController(Controller if HAVE_AIOSMTPD else object):
    """aiosmtpd's Controller serving a socket bound before start: the port is chosen by the
    kernel (bind to port 0), so no other process can take it between choosing and binding."""

    def __init__(self, handler, **kwargs):
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        super().__init__(handler, hostname="127.0.0.1", port=self._sock.getsockname()[1],
                         **kwargs)

    def factory(self):
        # AUTH without TLS is the point of the AUTH mode (the server under test has no CA to
        # trust for STARTTLS); aiosmtpd warns about it on every connection.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")
            return super().factory()

    def _create_server(self):
        return self.loop.create_server(self._factory_invoker, sock=self._sock,
                                       ssl=self.ssl_context)


class SmtpReceiver:
    """A real SMTP server on 127.0.0.1:<port>.

    auth=(user, password): advertise AUTH PLAIN/LOGIN on the plain connection and require it;
        the login of each accepted message is recorded (`ReceivedMail.login`), failed logins
        in `failed_logins`.
    tls="starttls": offer STARTTLS (and require it when require_tls) with a self-signed
        certificate; tls="implicit": TLS from the first byte (smtps://). `cert` is the
        SelfSignedCert so a client can trust it.
    """

    def __init__(self, auth=None, tls=None, require_tls=False):
        if not HAVE_AIOSMTPD:
            raise RuntimeError("aiosmtpd is not installed (Debian: apt-get install python3-aiosmtpd)")
        self._cond = threading.Condition()
        self.messages = []
        self.failed_logins = []
        self.logins = []
        self.auth = auth
        self.cert = None
        kwargs = {}
        if auth is not None:
            kwargs.update(authenticator=self._authenticate, auth_required=True,
                          auth_require_tls=False)
        if tls is not None:
            self.cert = SelfSignedCert()
            if tls == "starttls":
                kwargs.update(tls_context=self.cert.server_context(),
                              require_starttls=require_tls)
            elif tls == "implicit":
                kwargs.update(ssl_context=self.cert.server_context())
            else:
                raise ValueError(f"tls: {tls!r}: one of None, 'starttls', 'implicit'")
        self.tls = tls
        self._controller = _BoundController(_Handler(self), **kwargs)
        self._controller.start()
        self.host = "127.0.0.1"
        self.port = self._controller.port

    def _authenticate(self, server, session, envelope, mechanism, auth_data):
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login = auth_data.login.decode("utf-8", "replace")
        password = auth_data.password.decode("utf-8", "replace")
        ok = (login, password) == tuple(self.auth)
        with self._cond:
            (self.logins if ok else self.failed_logins).append((mechanism, login))
            self._cond.notify_all()
        return AuthResult(success=ok, handled=False, auth_data=auth_data)

    def _received(self, mail):
        with self._cond:
            self.messages.append(mail)
            self._cond.notify_all()

    @property
    def url(self):
        scheme = "smtps" if self.tls == "implicit" else "smtp"
        return f"{scheme}://127.0.0.1:{self.port}"

    def received(self):
        with self._cond:
            return list(self.messages)

    def wait_for_messages(self, n, timeout=15.0):
        """The first n messages, once at least n arrived."""
        with self._cond:
            return _wait(self._cond, lambda: len(self.messages) >= n and self.messages[:n],
                         timeout, f"{n} mail message(s) (have {len(self.messages)})")

    def wait_for_failed_login(self, timeout=15.0):
        with self._cond:
            return _wait(self._cond, lambda: list(self.failed_logins), timeout, "a failed login")

    def stop(self):
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
        if self.cert is not None:
            self.cert.cleanup()


class _Handler:
    def __init__(self, receiver):
        self.receiver = receiver

    async def handle_DATA(self, server, session, envelope):
        login = None
        if session.authenticated and isinstance(session.auth_data, LoginPassword):
            login = session.auth_data.login.decode("utf-8", "replace")
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        tls = (session.ssl is not None or
               server.transport.get_extra_info("ssl_object") is not None)
        self.receiver._received(ReceivedMail(envelope.mail_from, envelope.rcpt_tos, raw, login,
                                             tls, session.peer))
        return "250 2.0.0 Message accepted for delivery"


# ---- HTTP receivers -------------------------------------------------------------------------

class ReceivedRequest:
    """One HTTP request as the receiver saw it."""

    def __init__(self, method, target, headers, body, client):
        self.method = method
        self.target = target  # path and query as sent
        split = urllib.parse.urlsplit(target)
        self.path = split.path
        self.query = urllib.parse.parse_qs(split.query)
        self.headers = headers  # http.client.HTTPMessage: case-insensitive .get()
        self.body = body        # bytes
        self.client = client
        self.time = time.time()
        self.monotonic = time.monotonic()
        self.status = None      # what the receiver answered (None until answered)

    def header(self, name, default=None):
        return self.headers.get(name, default)

    def json(self):
        return json.loads(self.body)

    def form(self):
        """The form-urlencoded body as {name: value} (last value wins)."""
        return {k: v[-1] for k, v in
                urllib.parse.parse_qs(self.body.decode(), keep_blank_values=True).items()}

    @property
    def idempotency_key(self):
        return self.headers.get("Idempotency-Key")

    def __repr__(self):
        return (f"<{self.method} {self.target} key={self.idempotency_key!r} "
                f"event={self.headers.get('X-Overdue-Event')!r} status={self.status}>")


class Reply:
    """A scripted answer: status, body (bytes or str or JSON-able), headers, delay (seconds
    before answering; the request is recorded before the delay)."""

    def __init__(self, status=200, body=b"", headers=None, delay=0.0):
        self.status = status
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
            headers = dict({"Content-Type": "application/json"}, **(headers or {}))
        if isinstance(body, str):
            body = body.encode()
        self.body = body
        self.headers = dict(headers or {})
        self.delay = delay


class _HttpReceiver:
    """ThreadingHTTPServer on 127.0.0.1:0 recording every request, with a queue of scripted
    replies consumed one per request (then `default`)."""

    def __init__(self, tls=False):
        """tls=True: HTTPS with a SelfSignedCert (`cert`), which a client must be told to trust."""
        self._cond = threading.Condition()
        self.requests = []
        self._script = collections.deque()
        self._always = None
        self._stopping = threading.Event()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _handle(self):
                body = self._read_body()
                req = ReceivedRequest(self.command, self.path, self.headers, body,
                                      self.client_address)
                receiver._record(req)
                reply = receiver._reply_for(req)
                if reply.delay and receiver._stopping.wait(reply.delay):
                    self.close_connection = True  # shutting down: drop it unanswered
                    return
                try:
                    self.send_response(reply.status)
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(reply.body)
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True
                    return
                with receiver._cond:
                    req.status = reply.status
                    receiver._cond.notify_all()

            def _read_body(self):
                if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                    chunks = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass  # trailers
                            return b"".join(chunks)
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle

            def handle(self):
                try:
                    super().handle()
                except (ConnectionResetError, BrokenPipeError, TimeoutError):
                    pass  # the client went away (e.g. the server under test was killed)

        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.cert = SelfSignedCert() if tls else None
        if self.cert:
            self._httpd.socket = self.cert.server_context().wrap_socket(self._httpd.socket,
                                                                        server_side=True)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def url(self, path="/"):
        scheme = "https" if self.cert else "http"
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    # -- scripting --

    def script(self, *replies):
        """Queue replies for the next requests, in order."""
        with self._cond:
            self._script.extend(replies)

    def fail_next(self, n, status=500, body=b"scripted failure", headers=None):
        self.script(*[Reply(status, body, headers) for _ in range(n)])

    def respond_429(self, retry_after=1, n=1):
        self.script(*[Reply(429, b"slow down", {"Retry-After": str(retry_after)})
                      for _ in range(n)])

    def delay_next(self, seconds, status=200, n=1):
        self.script(*[Reply(status, b"ok", delay=seconds) for _ in range(n)])

    def respond_always(self, status, body=b"", headers=None):
        """Every request from now on (after any queued replies) gets this answer."""
        with self._cond:
            self._always = Reply(status, body, headers)

    def default_reply(self, req):
        return Reply(200, b"ok")

    def _reply_for(self, req):
        with self._cond:
            if self._script:
                return self._script.popleft()
            if self._always is not None:
                return self._always
        return self.default_reply(req)

    # -- what arrived --

    def _record(self, req):
        with self._cond:
            self.requests.append(req)
            self._cond.notify_all()

    def received(self, path=None):
        with self._cond:
            return [r for r in self.requests if path is None or r.path == path]

    def wait_for_requests(self, n, timeout=15.0, path=None):
        """The first n requests (to `path` if given), once at least n arrived."""
        def enough():
            got = [r for r in self.requests if path is None or r.path == path]
            return got[:n] if len(got) >= n else None
        with self._cond:
            return _wait(self._cond, enough, timeout,
                         f"{n} request(s) to {path or 'any path'} on port {self.port} "
                         f"(have {len(self.requests)}: {self.requests!r})")

    def wait_until(self, predicate, timeout=15.0, what="a condition on the received requests"):
        """predicate(list of requests) evaluated whenever a request arrives or is answered."""
        with self._cond:
            return _wait(self._cond, lambda: predicate(list(self.requests)), timeout, what)

    def stop(self):
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=10)
        if self.cert:
            self.cert.cleanup()


def sign(secret, timestamp, body):
    """The v1 signature: hex HMAC-SHA256(secret, "<timestamp>.<body>")."""
    if isinstance(body, str):
        body = body.encode()
    return hmac.new(secret.encode(), str(timestamp).encode() + b"." + body,
                    hashlib.sha256).hexdigest()


def signature_header(secret, body, timestamp=None):
    t = int(time.time()) if timestamp is None else int(timestamp)
    return f"t={t},v1={sign(secret, t, body)}"


class WebhookReceiver(_HttpReceiver):
    """Webhook endpoint: answers 200 "ok" unless scripted otherwise."""

    @staticmethod
    def verify_signature(request, secret, now=None, tolerance=SIGNATURE_TOLERANCE_SECONDS):
        """(ok, reason): whether X-Overdue-Signature is `t=<unix>,v1=<hex HMAC-SHA256(secret,
        "<t>.<raw body>")>`, with t within `tolerance` seconds of now (older ones are replays)."""
        header = request.header("X-Overdue-Signature")
        if not header:
            return False, "no X-Overdue-Signature header"
        fields = {}
        for item in header.split(","):
            k, sep, v = item.strip().partition("=")
            if not sep:
                return False, f"malformed item {item!r}"
            fields.setdefault(k, []).append(v)
        if "t" not in fields or "v1" not in fields:
            return False, f"need t= and v1= in {header!r}"
        try:
            t = int(fields["t"][0])
        except ValueError:
            return False, f"t={fields['t'][0]!r} is not an integer"
        now = time.time() if now is None else now
        if now - t > tolerance:
            return False, f"timestamp {t} is {int(now - t)}s old"
        if t - now > tolerance:
            return False, f"timestamp {t} is {int(t - now)}s in the future"
        expected = sign(secret, t, request.body)
        if not any(hmac.compare_digest(expected, v) for v in fields["v1"]):
            return False, "signature mismatch"
        return True, ""

    def by_idempotency_key(self, path=None):
        """{key: [requests with that key, in arrival order]}, insertion-ordered."""
        out = {}
        for r in self.received(path):
            out.setdefault(r.idempotency_key, []).append(r)
        return out

    def unique(self, path=None):
        """The first request of each Idempotency-Key: what an idempotent receiver acts on."""
        return [rs[0] for rs in self.by_idempotency_key(path).values()]

    def repeated_keys(self, path=None):
        return {k: len(rs) for k, rs in self.by_idempotency_key(path).items() if len(rs) > 1}

    def events(self, path=None):
        return [r.header("X-Overdue-Event") for r in self.received(path)]


# ---- Twilio ---------------------------------------------------------------------------------

TWILIO_API = "2010-04-01"
_E164 = re.compile(r"^\+[1-9][0-9]{1,14}$")


def twilio_error(status, code, message, detail=None):
    body = {"code": code, "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": status}
    if detail:
        body["detail"] = detail
    return Reply(status, body)


def new_account_sid():
    return "AC" + secrets.token_hex(16)


class TwilioReceiver(_HttpReceiver):
    """Twilio's REST API for sending SMS and placing calls, as far as a sender sees it:

    POST /2010-04-01/Accounts/{AccountSid}/Messages.json  To, From, Body      → 201 message
    POST /2010-04-01/Accounts/{AccountSid}/Calls.json     To, From, Twiml|Url → 201 call
    HTTP basic auth AccountSid:AuthToken (401, code 20003 otherwise); parameters
    form-urlencoded; errors are Twilio's JSON {code, message, more_info, status}.
    Accepted messages and calls are in `messages` and `calls` (resource dicts, with the
    ReceivedRequest as ["request"]). Scripted replies (fail_next, respond_429) win over this."""

    def __init__(self, account_sid=None, auth_token=None):
        self.account_sid = account_sid or new_account_sid()
        self.auth_token = auth_token or secrets.token_hex(16)
        self.messages = []
        self.calls = []
        super().__init__()

    @property
    def base_url(self):
        return f"http://127.0.0.1:{self.port}"

    def _authorized(self, req, sid):
        header = req.header("Authorization") or ""
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(value, validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return (hmac.compare_digest(user, self.account_sid) and user == sid and
                hmac.compare_digest(password, self.auth_token))

    def default_reply(self, req):
        m = re.fullmatch(rf"/{TWILIO_API}/Accounts/([^/]+)/(Messages|Calls)\.json", req.path)
        if not m:
            return twilio_error(404, 20404, f"The requested resource {req.path} was not found")
        sid, collection = m.group(1), m.group(2)
        if not self._authorized(req, sid):
            r = twilio_error(401, 20003, "Authenticate",
                             "Your AccountSid or AuthToken was incorrect.")
            r.headers["WWW-Authenticate"] = 'Basic realm="Twilio API"'
            return r
        if req.method != "POST":
            return twilio_error(405, 20004, "Method not allowed")
        ctype = (req.header("Content-Type") or "").split(";")[0].strip().lower()
        if ctype != "application/x-www-form-urlencoded":
            return twilio_error(400, 20001, f"Unsupported Content-Type {ctype!r}: "
                                "parameters must be application/x-www-form-urlencoded")
        try:
            params = req.form()
        except UnicodeDecodeError:
            return twilio_error(400, 20001, "Parameters are not valid UTF-8")
        to, from_ = params.get("To", ""), params.get("From", "")
        now = email.utils.format_datetime(datetime.now(timezone.utc))
        if collection == "Messages":
            if not to:
                return twilio_error(400, 21604, "A 'To' phone number is required.")
            if not _E164.match(to):
                return twilio_error(400, 21211, f"Invalid 'To' Phone Number: {to}")
            if not from_ and not params.get("MessagingServiceSid"):
                return twilio_error(400, 21603, "A 'From' phone number is required.")
            if not params.get("Body") and not params.get("MediaUrl"):
                return twilio_error(400, 21602, "Message body is required.")
            msid = "SM" + secrets.token_hex(16)
            uri = f"/{TWILIO_API}/Accounts/{sid}/Messages/{msid}.json"
            resource = {
                "account_sid": sid, "api_version": TWILIO_API, "body": params.get("Body", ""),
                "date_created": now, "date_sent": None, "date_updated": now,
                "direction": "outbound-api", "error_code": None, "error_message": None,
                "from": from_, "messaging_service_sid": params.get("MessagingServiceSid"),
                "num_media": "0", "num_segments": "1", "price": None, "price_unit": "USD",
                "sid": msid, "status": "queued",
                "subresource_uris": {"media": uri[:-len(".json")] + "/Media.json"},
                "to": to, "uri": uri,
            }
            target = self.messages
        else:
            if not to:
                return twilio_error(400, 21201, "No 'To' number is specified")
            if not _E164.match(to):
                return twilio_error(400, 21211, f"Invalid 'To' Phone Number: {to}")
            if not from_:
                return twilio_error(400, 21213, "No 'From' number is specified")
            if not params.get("Twiml") and not params.get("Url"):
                return twilio_error(400, 21205, "Url parameter is required.")
            csid = "CA" + secrets.token_hex(16)
            uri = f"/{TWILIO_API}/Accounts/{sid}/Calls/{csid}.json"
            resource = {
                "account_sid": sid, "annotation": None, "answered_by": None,
                "api_version": TWILIO_API, "caller_name": None, "date_created": now,
                "date_updated": now, "direction": "outbound-api", "duration": None,
                "end_time": None, "forwarded_from": None, "from": from_,
                "from_formatted": from_, "group_sid": None, "parent_call_sid": None,
                "phone_number_sid": None, "price": None, "price_unit": "USD", "sid": csid,
                "start_time": None, "status": "queued", "subresource_uris": {},
                "to": to, "to_formatted": to, "trunk_sid": None, "uri": uri, "queue_time": "0",
            }
            target = self.calls
        with self._cond:
            target.append(dict(resource, request=req, params=params))
            self._cond.notify_all()
        return Reply(201, resource)

    def wait_for_messages(self, n, timeout=15.0):
        with self._cond:
            return _wait(self._cond, lambda: len(self.messages) >= n and self.messages[:n],
                         timeout, f"{n} SMS message(s) (have {len(self.messages)}; requests: "
                         f"{self.requests!r})")

    def wait_for_calls(self, n, timeout=15.0):
        with self._cond:
            return _wait(self._cond, lambda: len(self.calls) >= n and self.calls[:n],
                         timeout, f"{n} call(s) (have {len(self.calls)}; requests: "
                         f"{self.requests!r})")

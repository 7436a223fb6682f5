"""The receivers used by the notification tests, checked with the standard library's own
clients (smtplib, urllib), so a failing notification test points at the server, not at them."""
import base64
import json
import smtplib
import socket
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request
from email.message import EmailMessage

from receivers import (HAVE_AIOSMTPD, HAVE_OPENSSL, Blackhole, Reply, SmtpReceiver,
                       TwilioReceiver, WebhookReceiver, free_port, signature_header)


def post(url, body=b"", headers=None, method="POST", timeout=10):
    """(status, headers, body) for any status, 4xx and 5xx included."""
    req = urllib.request.Request(url, data=body, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def sample_mail(subject="backup is DOWN"):
    m = EmailMessage()
    m["From"] = "overdue@example.test"
    m["To"] = "ops@example.test"
    m["Subject"] = subject
    m.set_content("Acknowledge: http://127.0.0.1:1/ack/abc\n" + "long line " * 40 + "\n")
    return m


@unittest.skipUnless(HAVE_AIOSMTPD, "python3-aiosmtpd is not installed")
class SmtpReceiverTest(unittest.TestCase):
    def test_receives_a_message_with_envelope_and_parsed_headers(self):
        smtp = SmtpReceiver()
        self.addCleanup(smtp.stop)
        self.assertNotEqual(smtp.port, 0)
        with smtplib.SMTP("127.0.0.1", smtp.port, timeout=10) as c:
            c.send_message(sample_mail(), from_addr="bounce@example.test",
                           to_addrs=["ops@example.test", "dev@example.test"])
        [mail] = smtp.wait_for_messages(1, timeout=10)
        self.assertEqual(mail.envelope_from, "bounce@example.test")
        self.assertEqual(mail.rcpt_tos, ["ops@example.test", "dev@example.test"])
        self.assertEqual(mail.subject, "backup is DOWN")
        self.assertEqual(str(mail.message["To"]), "ops@example.test")
        self.assertIn("http://127.0.0.1:1/ack/abc", mail.text())
        self.assertIn(b"Subject: backup is DOWN", mail.raw)
        self.assertIsNone(mail.login)
        self.assertFalse(mail.tls)

    def test_waiting_for_more_messages_than_arrived_times_out(self):
        smtp = SmtpReceiver()
        self.addCleanup(smtp.stop)
        with self.assertRaises(AssertionError):
            smtp.wait_for_messages(1, timeout=0.3)

    def test_auth_mode_records_the_login_and_refuses_a_wrong_password(self):
        smtp = SmtpReceiver(auth=("mailer", "s3cret"))
        self.addCleanup(smtp.stop)
        with smtplib.SMTP("127.0.0.1", smtp.port, timeout=10) as c:
            c.ehlo()
            self.assertTrue(c.has_extn("auth"))
            with self.assertRaises(smtplib.SMTPAuthenticationError):
                c.login("mailer", "wrong")
        with smtplib.SMTP("127.0.0.1", smtp.port, timeout=10) as c:
            # AUTH is required: no mail without logging in.
            with self.assertRaises(smtplib.SMTPException):
                c.send_message(sample_mail())
        with smtplib.SMTP("127.0.0.1", smtp.port, timeout=10) as c:
            c.login("mailer", "s3cret")
            c.send_message(sample_mail())
        [mail] = smtp.wait_for_messages(1)
        self.assertEqual(mail.login, "mailer")
        # smtplib tries each offered mechanism (PLAIN, LOGIN) before giving up.
        self.assertGreaterEqual(len(smtp.failed_logins), 1)
        self.assertEqual({login for _, login in smtp.failed_logins}, {"mailer"})
        self.assertEqual(len(smtp.received()), 1)

    @unittest.skipUnless(HAVE_OPENSSL, "the openssl command is not installed")
    def test_starttls_with_a_self_signed_certificate(self):
        smtp = SmtpReceiver(tls="starttls", require_tls=True)
        self.addCleanup(smtp.stop)
        with smtplib.SMTP("127.0.0.1", smtp.port, timeout=10) as c:
            with self.assertRaises(smtplib.SMTPException):
                c.send_message(sample_mail())  # STARTTLS required first
        with smtplib.SMTP("127.0.0.1", smtp.port, timeout=10) as c:
            c.starttls(context=smtp.cert.client_context())
            c.send_message(sample_mail())
        [mail] = smtp.wait_for_messages(1)
        self.assertTrue(mail.tls)

    @unittest.skipUnless(HAVE_OPENSSL, "the openssl command is not installed")
    def test_implicit_tls_refuses_an_untrusting_client_and_accepts_a_trusting_one(self):
        smtp = SmtpReceiver(tls="implicit")
        self.addCleanup(smtp.stop)
        self.assertTrue(smtp.url.startswith("smtps://127.0.0.1:"))
        import ssl
        with self.assertRaises(ssl.SSLCertVerificationError):
            smtplib.SMTP_SSL("127.0.0.1", smtp.port, timeout=10,
                             context=ssl.create_default_context())
        with smtplib.SMTP_SSL("127.0.0.1", smtp.port, timeout=10,
                              context=smtp.cert.client_context()) as c:
            c.send_message(sample_mail())
        [mail] = smtp.wait_for_messages(1)
        self.assertTrue(mail.tls)


class WebhookReceiverTest(unittest.TestCase):
    SECRET = "whsec-test-0123456789"

    def setUp(self):
        self.hook = WebhookReceiver()
        self.addCleanup(self.hook.stop)

    def send(self, body, secret=None, timestamp=None, key="k-1", path="/hook"):
        headers = {"Content-Type": "application/json", "Idempotency-Key": key,
                   "X-Overdue-Event": "down"}
        headers["X-Overdue-Signature"] = signature_header(secret or self.SECRET, body, timestamp)
        return post(self.hook.url(path), body, headers)

    def test_records_requests_and_checks_signatures(self):
        body = json.dumps({"event": "down", "watch": {"name": "backup"}}).encode()
        self.assertEqual(self.send(body)[0], 200)
        self.assertEqual(self.send(body, secret="not-the-secret", key="k-2")[0], 200)
        self.assertEqual(self.send(body, timestamp=time.time() - 301, key="k-3")[0], 200)
        good, wrong_secret, stale = self.hook.wait_for_requests(3, path="/hook")
        self.assertEqual(good.method, "POST")
        self.assertEqual(good.json()["watch"]["name"], "backup")
        self.assertEqual(good.header("idempotency-key"), "k-1")  # case-insensitive
        self.assertEqual(self.hook.verify_signature(good, self.SECRET), (True, ""))
        ok, why = self.hook.verify_signature(wrong_secret, self.SECRET)
        self.assertFalse(ok)
        self.assertIn("mismatch", why)
        ok, why = self.hook.verify_signature(stale, self.SECRET)
        self.assertFalse(ok)
        self.assertIn("old", why)
        # A body changed after signing does not verify.
        good.body = good.body.replace(b"backup", b"backuq")
        self.assertFalse(self.hook.verify_signature(good, self.SECRET)[0])

    def test_missing_or_malformed_signature_is_rejected(self):
        post(self.hook.url("/x"), b"{}", {"Content-Type": "application/json"})
        post(self.hook.url("/x"), b"{}", {"X-Overdue-Signature": "v1=abc"})
        post(self.hook.url("/x"), b"{}", {"X-Overdue-Signature": "t=abc,v1=abc"})
        for r in self.hook.wait_for_requests(3, path="/x"):
            self.assertFalse(self.hook.verify_signature(r, self.SECRET)[0], r.headers)

    def test_scripted_failures_then_default(self):
        self.hook.fail_next(2, status=503)
        self.hook.respond_429(retry_after=7)
        statuses = [post(self.hook.url(), b"{}")[0] for _ in range(4)]
        self.assertEqual(statuses, [503, 503, 429, 200])
        self.assertEqual(post(self.hook.url(), b"{}")[0], 200)
        self.hook.respond_429(retry_after=7)
        status, headers, _ = post(self.hook.url(), b"{}")
        self.assertEqual((status, headers.get("Retry-After")), (429, "7"))
        self.hook.respond_always(400, b"bad")
        self.assertEqual(post(self.hook.url(), b"{}")[0], 400)
        self.assertEqual(post(self.hook.url(), b"{}")[0], 400)
        # The receiver records a status just after sending it: the client may be faster.
        self.hook.wait_until(lambda rs: len(rs) == 8 and all(r.status for r in rs),
                             what="every answer recorded")
        self.assertEqual([r.status for r in self.hook.received()],
                         [503, 503, 429, 200, 200, 429, 400, 400])

    def test_a_delayed_reply_is_recorded_before_it_is_answered(self):
        self.hook.script(Reply(201, b"late", delay=1.5))
        result = {}
        t = threading.Thread(target=lambda: result.update(r=post(self.hook.url("/slow"), b"x")))
        t.start()
        [req] = self.hook.wait_for_requests(1, path="/slow")
        self.assertIsNone(req.status)  # received, still being answered
        t.join(timeout=15)
        self.assertEqual(result["r"][0], 201)
        self.hook.wait_until(lambda rs: rs[0].status == 201, what="the answer recorded")

    def test_dedupe_view_by_idempotency_key(self):
        for key in ["a", "b", "a", "c", "a"]:
            post(self.hook.url(), b"{}", {"Idempotency-Key": key})
        self.hook.wait_for_requests(5)
        self.assertEqual([r.idempotency_key for r in self.hook.unique()], ["a", "b", "c"])
        self.assertEqual(self.hook.repeated_keys(), {"a": 3})

    def test_chunked_body_and_path_filter(self):
        import http.client
        c = http.client.HTTPConnection("127.0.0.1", self.hook.port, timeout=10)
        c.request("PUT", "/chunked?x=1", body=iter([b"hello ", b"world"]),
                  encode_chunked=True, headers={"Transfer-Encoding": "chunked"})
        self.assertEqual(c.getresponse().status, 200)
        c.close()
        [r] = self.hook.wait_for_requests(1, path="/chunked")
        self.assertEqual((r.method, r.body, r.query), ("PUT", b"hello world", {"x": ["1"]}))
        self.assertEqual(self.hook.received(path="/other"), [])
        with self.assertRaises(AssertionError):
            self.hook.wait_for_requests(1, timeout=0.2, path="/other")


class TwilioReceiverTest(unittest.TestCase):
    def setUp(self):
        self.twilio = TwilioReceiver()
        self.addCleanup(self.twilio.stop)

    def call(self, collection, params, sid=None, token=None, auth=True):
        sid = sid or self.twilio.account_sid
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if auth:
            cred = f"{sid}:{token or self.twilio.auth_token}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(cred).decode()
        url = f"{self.twilio.base_url}/2010-04-01/Accounts/{sid}/{collection}.json"
        status, _, body = post(url, urllib.parse.urlencode(params).encode(), headers)
        return status, json.loads(body)

    def test_sms_is_created_with_a_twilio_shaped_resource(self):
        status, msg = self.call("Messages", {"To": "+15551234567", "From": "+15005550006",
                                             "Body": "backup is DOWN"})
        self.assertEqual(status, 201, msg)
        self.assertRegex(msg["sid"], r"^SM[0-9a-f]{32}$")
        self.assertEqual(msg["status"], "queued")
        self.assertEqual((msg["to"], msg["from"], msg["body"]),
                         ("+15551234567", "+15005550006", "backup is DOWN"))
        self.assertEqual(msg["account_sid"], self.twilio.account_sid)
        self.assertRegex(msg["date_created"], r"^\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} \+0000$")
        self.assertEqual(msg["uri"], f"/2010-04-01/Accounts/{self.twilio.account_sid}/Messages/"
                                     f"{msg['sid']}.json")
        [stored] = self.twilio.wait_for_messages(1)
        self.assertEqual(stored["sid"], msg["sid"])
        self.assertEqual(stored["params"]["Body"], "backup is DOWN")

    def test_call_needs_twiml_or_url(self):
        status, err = self.call("Calls", {"To": "+15551234567", "From": "+15005550006"})
        self.assertEqual((status, err["code"]), (400, 21205))
        status, call = self.call("Calls", {"To": "+15551234567", "From": "+15005550006",
                                           "Twiml": "<Response><Say>backup</Say></Response>"})
        self.assertEqual(status, 201, call)
        self.assertRegex(call["sid"], r"^CA[0-9a-f]{32}$")
        self.assertEqual(len(self.twilio.calls), 1)
        self.assertEqual(self.twilio.messages, [])

    def test_wrong_token_missing_auth_and_other_account_are_401(self):
        params = {"To": "+15551234567", "From": "+15005550006", "Body": "x"}
        for kwargs in ({"token": "wrong"}, {"auth": False}):
            status, err = self.call("Messages", params, **kwargs)
            self.assertEqual(status, 401, kwargs)
            self.assertEqual(err["code"], 20003)
            self.assertEqual(err["message"], "Authenticate")
            self.assertEqual(err["status"], 401)
            self.assertIn("more_info", err)
        other = "AC" + "0" * 32
        self.assertEqual(self.call("Messages", params, sid=other)[0], 401)
        self.assertEqual(self.twilio.messages, [])

    def test_missing_parameters_are_400_with_twilio_codes(self):
        status, err = self.call("Messages", {"From": "+15005550006", "Body": "x"})
        self.assertEqual((status, err["code"], err["message"]),
                         (400, 21604, "A 'To' phone number is required."))
        self.assertEqual(self.call("Messages", {"To": "+15551234567", "Body": "x"})[1]["code"],
                         21603)
        self.assertEqual(self.call("Messages", {"To": "+15551234567",
                                                "From": "+15005550006"})[1]["code"], 21602)
        self.assertEqual(self.call("Messages", {"To": "555", "From": "+15005550006",
                                                "Body": "x"})[1]["code"], 21211)
        self.assertEqual(self.twilio.messages, [])
        self.assertEqual(len(self.twilio.received()), 4)

    def test_unknown_path_is_404(self):
        status, _, body = post(self.twilio.base_url + "/2010-04-01/Accounts/x/Faxes.json", b"")
        self.assertEqual(status, 404)
        self.assertEqual(json.loads(body)["code"], 20404)


class DeadTargetsTest(unittest.TestCase):
    def test_free_port_refuses_connections(self):
        with self.assertRaises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", free_port()), timeout=5).close()

    def test_blackhole_connects_and_never_answers(self):
        hole = Blackhole()
        self.addCleanup(hole.close)
        with socket.create_connection(("127.0.0.1", hole.port), timeout=5) as s:
            s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
            s.settimeout(0.3)
            with self.assertRaises(socket.timeout):
                s.recv(1)


if __name__ == "__main__":
    unittest.main()

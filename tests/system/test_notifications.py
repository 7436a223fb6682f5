"""Incidents and notifications end to end: the real binary, real receivers (an SMTP server, HTTP
webhook endpoints, a server speaking Twilio's wire format), the /api/v1 incidents, channels,
policies, silences and notifications API, ack links, escalation, retries and kill -9.

Each test has its own server and receivers. Waits are conditions (wait_for, the receivers'
wait_for_*); the only bounded negative waits assert that something does NOT happen (no
escalation after an ack, nothing sent while silenced, no incident before the third failure
of alert_after_failures=3) and say so."""
import email.utils
import json
import os
import re
import subprocess
import threading
import time
import unittest
import urllib.parse
import uuid
from datetime import datetime, timezone

from harness import BIN, Server, wait_for
from receivers import (HAVE_AIOSMTPD, HAVE_OPENSSL, Blackhole, SmtpReceiver, TwilioReceiver,
                       WebhookReceiver, free_port)

ARGS = ["--min-period", "1s", "--allow-private-targets", "true", "--notify-retry-delay", "200ms"]
SECRET = "whsec-0123456789abcdef"
# Generous: a loaded 2-core CI machine runs several of these servers at once.
WAIT = 15.0


def iso(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def for_people(text):
    """An API time as messages and pages show it: "2026-11-25 10:00:00 UTC"."""
    return iso(text).astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def subsequence(wanted, items):
    """Whether `wanted` appears in `items` in order (not necessarily adjacent)."""
    it = iter(items)
    return all(any(w == x for x in it) for w in wanted)


class NotificationTestCase(unittest.TestCase):
    """Starts servers and receivers (torn down after the test) and speaks the /api/v1 API."""

    # ---- set-up -----------------------------------------------------------------------------

    def start_server(self, args=ARGS, extra=()):
        server = Server(args=list(args) + list(extra))
        self.addCleanup(server.cleanup)
        server.start()
        self.server = server
        return server

    def webhook(self):
        hook = WebhookReceiver()
        self.addCleanup(hook.stop)
        return hook

    def smtp(self, **kwargs):
        if not HAVE_AIOSMTPD:
            self.skipTest("python3-aiosmtpd is not installed")
        s = SmtpReceiver(**kwargs)
        self.addCleanup(s.stop)
        return s

    def twilio(self):
        t = TwilioReceiver()
        self.addCleanup(t.stop)
        return t

    # ---- HTTP -------------------------------------------------------------------------------

    def call(self, method, path, body=None, key=None, raw=False):
        """(status, JSON body or None); `key=""` sends no key."""
        key = self.server.keys["api_key"] if key is None else key
        headers = {"X-Api-Key": key} if key else {}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        status, reply, _ = self.server.request(method, path, body=data, headers=headers)
        if raw:
            return status, reply
        try:
            return status, (json.loads(reply) if reply else None)
        except ValueError:
            self.fail(f"{method} {path}: {status} with a body that is not JSON: {reply[:300]!r}")

    def ok(self, method, path, body=None, expect=200):
        status, reply = self.call(method, path, body)
        self.assertEqual(status, expect, f"{method} {path} {body}: {reply}")
        return reply

    # ---- objects ----------------------------------------------------------------------------

    def channel(self, kind, config, name=None):
        body = {"name": name or kind, "kind": kind, "config": config}
        return self.ok("POST", "/api/v1/channels", body, expect=201)["id"]

    def webhook_channel(self, hook, path="/hook", secret=SECRET, **config):
        return self.channel("webhook", dict({"url": hook.url(path), "secret": secret}, **config),
                            name=f"webhook {path}")

    def email_channel(self, smtp, **config):
        # smtp:// requires STARTTLS unless told otherwise, and the plain receivers offer none.
        base = {"smtp_url": smtp.url, "from": "overdue@example.test", "to": "ops@example.test"}
        if smtp.tls is None:
            base["starttls"] = False
        return self.channel("email", dict(base, **config), name="ops mail")

    def policy(self, steps, name="ops", default=True, **fields):
        body = dict({"name": name, "default": default,
                     "steps": [{"channels": list(ch), "wait": wait} for ch, wait in steps]},
                    **fields)
        return self.ok("POST", "/api/v1/policies", body, expect=201)["id"]

    def watch(self, name, timeout=3600, grace=3600, **fields):
        uid = str(uuid.uuid4())
        self.ok("PUT", f"/api/v1/checks/{uid}",
                dict({"name": name, "timeout": timeout, "grace": grace}, **fields), expect=201)
        return uid

    def only_attempt_of_failed(self, watch, what):
        """Fails `watch`, waits until its notification has failed for good after one attempt
        and returns that attempt."""
        self.ping(watch, "/fail")
        inc = self.wait_incident(watch)
        n = self.wait_notification(lambda x: x["status"] == "failed", what, incident=inc["id"])
        [attempt] = self.wait_attempts(inc["id"], n["id"], 1)
        return attempt

    def ping(self, watch, suffix=""):
        status, body, _ = self.server.request("GET", f"/ping/{watch}{suffix}")
        self.assertEqual(status, 200, body)

    # ---- incidents and notifications --------------------------------------------------------

    def incidents(self, **query):
        q = urllib.parse.urlencode(query)
        return self.ok("GET", "/api/v1/incidents" + (f"?{q}" if q else ""))["incidents"]

    def incident(self, incident_id):
        return self.ok("GET", f"/api/v1/incidents/{incident_id}")

    def wait_incident(self, watch, state=None, cause=None):
        """The newest incident of `watch` (in `state` if given) once it exists."""
        def find():
            for i in self.incidents(watch=watch):
                if (state is None or i["state"] == state) and (cause is None or
                                                               i["cause"] == cause):
                    return i
            return None
        return wait_for(find, timeout=WAIT,
                        what=f"an incident of {watch} (state={state}, cause={cause})")

    def wait_state(self, incident_id, state):
        return wait_for(lambda: (lambda i: i if i["state"] == state else None)(
            self.incident(incident_id)), timeout=WAIT, what=f"incident {incident_id} {state}")

    def kinds(self, incident_id):
        return [e["kind"] for e in self.incident(incident_id)["timeline"]]

    def wait_timeline(self, incident_id, predicate, what):
        return wait_for(lambda: (lambda t: t if predicate(t) else None)(
            self.incident(incident_id)["timeline"]), timeout=WAIT, what=what)

    def attempts(self, incident_id, notification_id):
        return [e["data"] for e in self.incident(incident_id)["timeline"]
                if e["kind"] == "attempt" and e["data"].get("notification") == notification_id]

    def wait_attempts(self, incident_id, notification_id, n):
        return wait_for(lambda: (lambda a: a if len(a) >= n else None)(
            self.attempts(incident_id, notification_id)), timeout=WAIT,
            what=f"{n} attempt(s) of notification {notification_id}")

    def notifications(self, **query):
        q = urllib.parse.urlencode(query)
        return self.ok("GET", "/api/v1/notifications" + (f"?{q}" if q else ""))["notifications"]

    def wait_notification(self, predicate, what, **query):
        return wait_for(lambda: next((n for n in self.notifications(**query) if predicate(n)),
                                     None), timeout=WAIT, what=what)

    def wait_settled(self, incident_id, n):
        """The incident's notifications once there are n and none is pending."""
        def settled():
            ns = self.notifications(incident=incident_id)
            return ns if len(ns) == n and all(x["status"] != "pending" for x in ns) else None
        return wait_for(settled, timeout=WAIT,
                        what=f"{n} settled notification(s) of incident {incident_id}")

    def metric(self, name):
        _, body, _ = self.server.request("GET", "/metrics")
        total = None
        for line in body.decode().splitlines():
            m = re.match(rf"^{re.escape(name)}(\{{[^}}]*\}})? ([0-9.eE+-]+)$", line)
            if m:
                total = (total or 0) + float(m.group(2))
        return total

    def assert_stays_false(self, predicate, seconds, what):
        """Bounded negative wait: predicate() stays false for `seconds` (it is polled)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            value = predicate()
            self.assertFalse(value, what)
            time.sleep(0.05)

    def assert_signed(self, request, secret=SECRET):
        ok, why = WebhookReceiver.verify_signature(request, secret)
        self.assertTrue(ok, f"X-Overdue-Signature {request.header('X-Overdue-Signature')!r}: "
                            f"{why}")


def ack_path(text):
    """The path of the first ack link in a message."""
    m = re.search(r"https?://[^\s\"'<>]+?(/ack/[A-Za-z0-9._~%-]+)", text)
    return m.group(1) if m else None


class EndToEndTest(NotificationTestCase):
    # Step 1's wait: long enough that the test acks before step 2 even on a slow machine.
    STEP1_WAIT = 3

    def test_missed_deadline_mails_and_posts_ack_link_stops_escalation_check_in_resolves(self):
        smtp, hook = self.smtp(), self.webhook()
        self.start_server()
        mail = self.email_channel(smtp)
        web = self.webhook_channel(hook)
        self.policy([([mail, web], self.STEP1_WAIT), ([web], 2)])
        watch = self.watch("backup", timeout=2, grace=1)
        self.ping(watch)
        self.assertEqual(self.server.check(watch)["status"], "up")
        self.assertEqual(self.incidents(watch=watch), [])

        # The deadline passes (2 s + 1 s grace): an incident, a mail and a webhook.
        [down_mail] = smtp.wait_for_messages(1, timeout=WAIT)
        [down_hook] = hook.wait_for_requests(1, timeout=WAIT, path="/hook")
        inc = self.wait_incident(watch)
        self.assertEqual((inc["state"], inc["cause"], inc["watch"], inc["watch_name"]),
                         ("open", "timeout", watch, "backup"))
        self.assertEqual(inc["step"], 1)
        self.assertEqual(inc["policy"], "ops")

        # The mail: envelope, headers, subject, links.
        self.assertEqual(down_mail.envelope_from, "overdue@example.test")
        self.assertEqual(down_mail.rcpt_tos, ["ops@example.test"])
        msg = down_mail.message
        self.assertRegex(down_mail.subject, re.compile(r"\bdown\b", re.I))
        self.assertIn("backup", down_mail.subject)
        self.assertIn("overdue@example.test", str(msg["From"]))
        self.assertIn("ops@example.test", str(msg["To"]))
        self.assertTrue(msg["Message-ID"], "Message-ID header")
        self.assertIsNotNone(email.utils.parsedate_to_datetime(str(msg["Date"])), msg["Date"])
        text = down_mail.text()
        self.assertIn(inc["url"], text)
        path = ack_path(text)
        self.assertIsNotNone(path, f"no ack link in the mail:\n{text}")
        # Times for people: whole seconds in UTC, not the API's microseconds.
        since = for_people(inc["opened_at"])
        self.assertIn(f"Down since: {since} (incident #{inc['id']})", text)
        last = for_people(self.server.check(watch)["last_ping"])
        self.assertIn(f"Last check-in: {last} (success", text)
        self.assertEqual(inc["cause_detail"], f"missed its deadline: no check-in since {last}")

        # The webhook: signed, idempotent, the message context as JSON.
        self.assert_signed(down_hook)
        self.assertTrue(down_hook.idempotency_key, "Idempotency-Key header")
        self.assertTrue(down_hook.header("Content-Type", "").startswith("application/json"))
        self.assertEqual(down_hook.header("X-Overdue-Event"), "down")
        body = down_hook.json()
        self.assertEqual(body["event"], "down")
        self.assertEqual(body["watch"]["name"], "backup")
        self.assertEqual(body["watch"]["id"], watch)
        self.assertEqual(body["incident"]["id"], inc["id"])
        self.assertEqual(ack_path(body["incident"]["ack_url"]), path)
        detail = self.incident(inc["id"])
        keys = {n["channel"]: n["idempotency_key"] for n in detail["notifications"]}
        self.assertEqual(keys[web], down_hook.idempotency_key)
        self.assertIn(keys[mail], str(msg["Message-ID"]))

        # GET on the link only shows a confirmation page: link scanners change nothing.
        status, page, headers = self.server.request("GET", path)
        self.assertEqual(status, 200, page)
        self.assertTrue(headers.get("Content-Type", "").startswith("text/html"), headers)
        self.assertRegex(page.decode(), re.compile(r"<form[^>]*method=[\"']?post", re.I))
        self.assertIn("Acknowledge", page.decode())
        self.assertIn(f"<dt>Since</dt><dd>{since}</dd>", page.decode())
        self.assertEqual(self.incident(inc["id"])["state"], "open")

        # POST acknowledges.
        status, page, _ = self.server.request(
            "POST", path, body=b"by=alice",
            headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(status, 200, page)
        self.assertIn("Acknowledged", page.decode())
        acked = self.incident(inc["id"])
        self.assertEqual(acked["state"], "acknowledged")
        self.assertEqual(acked["acked_by"], "alice")
        self.assertEqual(acked["step"], 1, "escalated before the test could acknowledge")
        self.assertIsNone(acked["next_escalation_at"])

        # Escalation stopped: step 2 (due STEP1_WAIT s after the incident opened) never comes.
        # The one bounded negative wait: well past the time step 2 was due.
        self.assert_stays_false(
            lambda: "escalation" in self.kinds(inc["id"]) or len(hook.received()) > 1,
            self.STEP1_WAIT + 1.5, "an escalation after the incident was acknowledged")

        # A successful check-in resolves it; both channels hear of the recovery.
        self.ping(watch)
        resolved = self.wait_state(inc["id"], "resolved")
        self.assertEqual(resolved["resolved_by"], "check-in")
        self.assertIsNotNone(resolved["resolved_at"])
        up_mail = smtp.wait_for_messages(2, timeout=WAIT)[1]
        self.assertIn("backup", up_mail.subject)
        self.assertNotEqual(up_mail.subject, down_mail.subject)
        up_hook = hook.wait_for_requests(2, timeout=WAIT, path="/hook")[1]
        self.assert_signed(up_hook)
        self.assertEqual(up_hook.json()["event"], "recovery")
        self.assertEqual(up_hook.header("X-Overdue-Event"), "recovery")
        self.assertNotEqual(up_hook.idempotency_key, down_hook.idempotency_key)

        timeline = self.wait_timeline(
            inc["id"], lambda t: "resolved" in [e["kind"] for e in t], "the resolved entry")
        kinds = [e["kind"] for e in timeline]
        marks = []
        for e in timeline:
            k = e["kind"]
            if k == "attempt" and e["data"].get("ok"):
                marks.append("attempt ok")
            else:
                marks.append(k)
        self.assertTrue(subsequence(["opened", "notification", "attempt ok", "acknowledged",
                                     "check_in", "resolved"], marks), kinds)
        self.assertNotIn("escalation", kinds)
        ats = [iso(e["at"]) for e in timeline]
        self.assertEqual(ats, sorted(ats), "timeline oldest first")


class RecoveryTest(NotificationTestCase):
    def test_recovery_message_names_the_check_in_that_resolved_the_incident(self):
        hook = self.webhook()
        self.start_server()
        self.webhook_channel(hook)
        watch = self.watch("backup")
        self.ping(watch, "/fail")
        inc = self.wait_incident(watch)
        hook.wait_for_requests(1, timeout=WAIT)
        status, _, _ = self.server.request("POST", f"/ping/{watch}", body=b"restored at last")
        self.assertEqual(status, 200)
        self.wait_state(inc["id"], "resolved")
        up = hook.wait_for_requests(2, timeout=WAIT)[1].json()
        self.assertEqual(up["event"], "recovery")
        self.assertEqual(up["incident"]["resolved_by"], "check-in")
        last = up["last_check_in"]
        self.assertEqual((last["signal"], last["body"]), ("success", "restored at last"), last)
        self.assertGreaterEqual(iso(last["at"]), iso(inc["opened_at"]), last)

    def test_resolved_by_hand_the_recovery_says_the_watch_is_still_down(self):
        smtp, hook = self.smtp(), self.webhook()
        self.start_server()
        self.email_channel(smtp)
        self.webhook_channel(hook)
        watch = self.watch("backup")
        self.ping(watch, "/fail")
        inc = self.wait_incident(watch)
        smtp.wait_for_messages(1, timeout=WAIT)
        hook.wait_for_requests(1, timeout=WAIT)
        self.ok("POST", f"/api/v1/incidents/{inc['id']}/resolve",
                {"reason": "false alarm", "by": "dana"})
        mail = smtp.wait_for_messages(2, timeout=WAIT)[1]
        self.assertIn("still down", mail.subject)
        text = mail.text()
        self.assertIn("resolved by dana (false alarm). The watch is still DOWN.", text)
        self.assertNotIn("back UP", text)
        up = hook.wait_for_requests(2, timeout=WAIT)[1].json()
        self.assertEqual((up["event"], up["watch"]["status"]), ("recovery", "down"))
        self.assertEqual(up["watch"]["last_ping"], up["last_check_in"]["at"])
        self.assertEqual(self.server.check(watch)["status"], "down")


class EscalationTest(NotificationTestCase):
    def test_unacknowledged_incident_escalates_to_step_two_once(self):
        a, b = self.webhook(), self.webhook()
        self.start_server()
        ch_a = self.webhook_channel(a, "/a")
        ch_b = self.webhook_channel(b, "/b")
        self.policy([([ch_a], 1), ([ch_b], 1)])
        watch = self.watch("db", timeout=1, grace=1)
        self.ping(watch)

        [esc] = b.wait_for_requests(1, timeout=WAIT, path="/b")
        self.assertEqual(esc.header("X-Overdue-Event"), "escalation")
        body = esc.json()
        self.assertEqual(body["event"], "escalation")
        self.assertEqual(body["watch"]["name"], "db")
        self.assertEqual(body["incident"]["step"], 2)
        self.assert_signed(esc)
        [down] = a.received(path="/a")
        self.assertEqual(down.json()["event"], "down")
        self.assertLess(down.monotonic, esc.monotonic)

        inc = self.wait_incident(watch)
        self.wait_timeline(inc["id"], lambda t: "escalation" in [e["kind"] for e in t],
                           "an escalation entry")
        self.assertEqual(inc["state"], "open")
        # Exactly one request per notification: the receivers saw each key once.
        settled = self.wait_settled(inc["id"], 2)
        self.assertEqual(sorted(n["event"] for n in settled), ["down", "escalation"])
        for n in settled:
            self.assertEqual((n["status"], n["attempts"]), ("delivered", 1), n)
        by_channel = {n["channel"]: n["idempotency_key"] for n in settled}
        self.assertEqual([r.idempotency_key for r in a.received()], [by_channel[ch_a]])
        self.assertEqual([r.idempotency_key for r in b.received()], [by_channel[ch_b]])
        self.assertEqual(a.repeated_keys(), {})
        self.assertEqual(b.repeated_keys(), {})


class RetryTest(NotificationTestCase):
    def setUp(self):
        self.hook = self.webhook()
        self.start_server()
        self.ch = self.webhook_channel(self.hook)
        self.policy([([self.ch], 600)])
        self.watch_id = self.watch("backup")

    def open_incident(self):
        self.ping(self.watch_id, "/fail")
        inc = self.wait_incident(self.watch_id)
        n = self.wait_notification(lambda n: True, "the down notification", incident=inc["id"])
        self.assertEqual(len(self.notifications(incident=inc["id"])), 1)
        return inc, n

    def test_5xx_is_retried_with_the_same_idempotency_key_until_delivered(self):
        self.hook.fail_next(2, status=500)
        inc, n = self.open_incident()
        reqs = self.hook.wait_for_requests(3, timeout=WAIT)
        self.assertEqual([r.status for r in reqs if r.status is not None][:2], [500, 500])
        self.assertEqual(len({r.idempotency_key for r in reqs}), 1, reqs)
        self.assertEqual(reqs[0].idempotency_key, n["idempotency_key"])
        for r in reqs:
            self.assert_signed(r)
        done = self.wait_notification(lambda x: x["status"] == "delivered", "delivered",
                                      incident=inc["id"])
        self.assertEqual(done["attempts"], 3)
        attempts = self.wait_attempts(inc["id"], n["id"], 3)
        self.assertEqual([a["ok"] for a in attempts], [False, False, True])
        self.assertEqual([a["reason"] for a in attempts], ["5xx", "5xx", ""])
        self.assertEqual([a["code"] for a in attempts], [500, 500, 200])
        self.assertEqual([a["attempt"] for a in attempts], [1, 2, 3])
        self.assertEqual(len(self.hook.received()), 3)

    def test_429_waits_for_retry_after(self):
        self.hook.respond_429(retry_after=1)
        inc, n = self.open_incident()
        first, second = self.hook.wait_for_requests(2, timeout=WAIT)
        self.assertEqual(first.idempotency_key, second.idempotency_key)
        # Retry-After (1 s) wins over the 200 ms retry delay: a lower bound, never flaky.
        self.assertGreaterEqual(second.monotonic - first.monotonic, 0.9)
        attempts = self.wait_attempts(inc["id"], n["id"], 2)
        self.assertEqual([a["reason"] for a in attempts], ["rate_limited", ""])

    def test_4xx_fails_at_once_and_is_shown_and_counted(self):
        self.hook.respond_always(400, b"bad request")
        inc, n = self.open_incident()
        failed = self.wait_notification(lambda x: x["status"] == "failed", "failed",
                                        incident=inc["id"])
        self.assertEqual(failed["attempts"], 1)
        self.assertTrue(failed["last_error"])
        self.assertIsNotNone(failed["finished_at"])
        self.assertEqual(len(self.hook.received()), 1)
        [attempt] = self.wait_attempts(inc["id"], n["id"], 1)
        self.assertEqual((attempt["ok"], attempt["reason"], attempt["code"]), (False, "4xx", 400))
        self.wait_timeline(inc["id"], lambda t: "delivery_failed" in [e["kind"] for e in t],
                           "a delivery_failed entry")
        self.assertGreaterEqual(self.metric("overdue_notifications_failed_total") or 0, 1)
        self.assertEqual(self.notifications(status="failed")[0]["id"], n["id"])


class UnreachableTest(NotificationTestCase):
    def test_a_dead_or_hanging_receiver_does_not_hold_up_others_or_check_ins(self):
        hook = self.webhook()
        hole = Blackhole()
        self.addCleanup(hole.close)
        self.start_server(extra=["--notify-timeout", "3s", "--notify-max-attempts", "1"])
        refused = self.channel("webhook", {"url": f"http://127.0.0.1:{free_port()}/x"}, "refused")
        hanging = self.channel("webhook", {"url": f"http://127.0.0.1:{hole.port}/x"}, "hanging")
        working = self.webhook_channel(hook)
        self.policy([([refused, hanging, working], 600)])
        watch, other = self.watch("backup"), self.watch("other")

        statuses, stop = [], threading.Event()

        def pinger():
            while not stop.is_set():
                statuses.append(self.server.request("GET", f"/ping/{other}")[0])
                time.sleep(0.05)
        t = threading.Thread(target=pinger)
        t.start()
        try:
            self.ping(watch, "/fail")
            [req] = hook.wait_for_requests(1, timeout=WAIT)
            inc = self.wait_incident(watch)
            by_channel = {n["channel"]: n for n in self.notifications(incident=inc["id"])}
            # The working receiver got its message while the hanging one's attempt still ran.
            self.assertEqual(by_channel[hanging]["status"], "pending", by_channel[hanging])
            self.assert_signed(req)
            ns = self.wait_settled(inc["id"], 3)
        finally:
            stop.set()
            t.join()
        by_channel = {n["channel"]: n for n in ns}
        self.assertEqual(by_channel[working]["status"], "delivered")
        self.assertEqual(by_channel[refused]["status"], "failed")
        self.assertEqual(by_channel[hanging]["status"], "failed")
        self.assertEqual(self.attempts(inc["id"], by_channel[refused]["id"])[0]["reason"],
                         "refused")
        self.assertEqual(self.attempts(inc["id"], by_channel[hanging]["id"])[0]["reason"],
                         "timeout")
        self.assertGreater(len(statuses), 0)
        self.assertEqual(set(statuses), {200})

    def test_private_address_is_blocked_unless_allowed(self):
        hook = self.webhook()
        self.start_server(args=["--min-period", "1s", "--notify-retry-delay", "200ms"])
        ch = self.webhook_channel(hook)
        watch = self.watch("backup")  # no policy: the implicit one notifies every channel
        self.ping(watch, "/fail")
        inc = self.wait_incident(watch)
        n = self.wait_notification(lambda x: x["status"] == "failed", "the failed notification",
                                   incident=inc["id"])
        self.assertEqual(n["channel"], ch)
        [attempt] = self.wait_attempts(inc["id"], n["id"], 1)
        self.assertEqual((attempt["ok"], attempt["reason"]), (False, "blocked"))
        self.assertEqual(n["attempts"], 1)
        self.assertEqual(hook.received(), [])
        # Listed with the channel's name and kind while it exists, with nulls once deleted.
        self.assertEqual((n["channel_name"], n["channel_kind"]), ("webhook /hook", "webhook"))
        self.ok("DELETE", f"/api/v1/channels/{ch}")
        [gone] = self.notifications(incident=inc["id"])
        self.assertEqual((gone["channel"], gone["channel_name"], gone["channel_kind"]),
                         (ch, None, None))


class MailTest(NotificationTestCase):
    def test_smtp_auth(self):
        smtp = self.smtp(auth=("mailer", "pa55word"))
        self.start_server()
        self.email_channel(smtp, username="mailer", password="pa55word")
        watch = self.watch("backup")
        self.ping(watch, "/fail")
        [mail] = smtp.wait_for_messages(1, timeout=WAIT)
        self.assertEqual(mail.login, "mailer")
        self.assertIn("backup", mail.subject)

    def test_smtp_auth_with_a_wrong_password_fails_without_retrying(self):
        smtp = self.smtp(auth=("mailer", "pa55word"))
        self.start_server()
        self.email_channel(smtp, username="mailer", password="wrong")
        watch = self.watch("backup")
        attempt = self.only_attempt_of_failed(watch, "the failed mail")
        self.assertEqual((attempt["ok"], attempt["reason"]), (False, "4xx"), attempt)
        self.assertEqual(smtp.received(), [])
        self.assertEqual({login for _, login in smtp.failed_logins}, {"mailer"})

    def test_starttls_is_required_by_default_and_no_password_goes_out_in_clear(self):
        smtp = self.smtp(auth=("mailer", "pa55word"))
        self.start_server(extra=["--notify-max-attempts", "1"])
        ch = self.channel("email", {"smtp_url": smtp.url, "from": "overdue@example.test",
                                    "to": "ops@example.test", "username": "mailer",
                                    "password": "pa55word"})
        self.assertIs(self.ok("GET", f"/api/v1/channels/{ch}")["config"]["starttls"], True)
        watch = self.watch("backup")
        attempt = self.only_attempt_of_failed(watch, "the failed mail")
        self.assertEqual((attempt["ok"], attempt["reason"]), (False, "tls"), attempt)
        self.assertEqual((smtp.received(), smtp.logins, smtp.failed_logins), ([], [], []))

    @unittest.skipUnless(HAVE_OPENSSL, "the openssl command is not installed")
    def test_smtps_with_an_untrusted_certificate_is_a_tls_failure(self):
        smtp = self.smtp(tls="implicit")
        self.start_server(extra=["--notify-max-attempts", "1"])
        self.email_channel(smtp)
        watch = self.watch("backup")
        attempt = self.only_attempt_of_failed(watch, "the failed mail")
        self.assertEqual((attempt["ok"], attempt["reason"]), (False, "tls"), attempt)
        self.assertEqual(smtp.received(), [])


    @unittest.skipUnless(HAVE_OPENSSL, "the openssl command is not installed")
    def test_starttls_with_auth_to_a_server_whose_ca_is_trusted_through_tls_ca_file(self):
        smtp = self.smtp(auth=("mailer", "pa55word"), tls="starttls", require_tls=True)
        self.start_server(extra=["--tls-ca-file", smtp.cert.cert])
        self.email_channel(smtp, username="mailer", password="pa55word")
        watch = self.watch("backup")
        self.ping(watch, "/fail")
        [mail] = smtp.wait_for_messages(1, timeout=WAIT)
        self.assertTrue(mail.tls, "the message arrived before STARTTLS")
        self.assertEqual(mail.login, "mailer")
        self.assertIn("backup", mail.subject)
        self.assertEqual(smtp.failed_logins, [])

    @unittest.skipUnless(HAVE_OPENSSL, "the openssl command is not installed")
    def test_smtps_to_a_server_whose_ca_is_trusted_through_tls_ca_file(self):
        smtp = self.smtp(tls="implicit")
        self.start_server(extra=["--tls-ca-file", smtp.cert.cert])
        self.email_channel(smtp)
        watch = self.watch("backup")
        self.ping(watch, "/fail")
        [mail] = smtp.wait_for_messages(1, timeout=WAIT)
        self.assertTrue(mail.tls)
        self.assertIn("backup", mail.subject)
        inc = self.wait_incident(watch)
        n = self.wait_notification(lambda x: x["status"] == "delivered", "the delivered mail",
                                   incident=inc["id"])
        [attempt] = self.wait_attempts(inc["id"], n["id"], 1)
        self.assertIs(attempt["ok"], True, attempt)


class HttpsWebhookTest(NotificationTestCase):
    def https_webhook(self):
        hook = WebhookReceiver(tls=True)
        self.addCleanup(hook.stop)
        return hook

    @unittest.skipUnless(HAVE_OPENSSL, "the openssl command is not installed")
    def test_a_receiver_whose_ca_is_trusted_through_tls_ca_file_gets_the_signed_webhook(self):
        hook = self.https_webhook()
        self.start_server(extra=["--tls-ca-file", hook.cert.cert])
        self.webhook_channel(hook)
        watch = self.watch("backup")
        self.ping(watch, "/fail")
        [request] = hook.wait_for_requests(1, timeout=WAIT)
        self.assertTrue(hook.url().startswith("https://"))
        ok, why = WebhookReceiver.verify_signature(request, SECRET)
        self.assertTrue(ok, why)
        self.assertEqual(request.json()["watch"]["name"], "backup")

    @unittest.skipUnless(HAVE_OPENSSL, "the openssl command is not installed")
    def test_a_receiver_with_an_untrusted_certificate_is_a_tls_failure(self):
        hook = self.https_webhook()
        self.start_server(extra=["--notify-max-attempts", "1"])
        self.webhook_channel(hook)
        watch = self.watch("backup")
        attempt = self.only_attempt_of_failed(watch, "the failed webhook")
        self.assertEqual((attempt["ok"], attempt["reason"]), (False, "tls"), attempt)
        self.assertEqual(hook.received(), [])


class SmsTest(NotificationTestCase):
    def sms_channel(self, twilio, kind="sms", token=None):
        return self.channel(kind, {"base_url": twilio.base_url,
                                   "account_sid": twilio.account_sid,
                                   "auth_token": token or twilio.auth_token,
                                   "from": "+15005550006", "to": "+15551234567"})

    def test_sms_through_twilio(self):
        twilio = self.twilio()
        self.start_server()
        self.sms_channel(twilio)
        watch = self.watch("backup")
        self.ping(watch, "/fail")
        [msg] = twilio.wait_for_messages(1, timeout=WAIT)
        self.assertIn("backup", msg["params"]["Body"])
        self.assertEqual((msg["params"]["To"], msg["params"]["From"]),
                         ("+15551234567", "+15005550006"))
        inc = self.wait_incident(watch)
        n = self.wait_notification(lambda x: x["status"] == "delivered", "delivered",
                                   incident=inc["id"])
        self.assertEqual(n["attempts"], 1)

    def test_voice_call_through_twilio(self):
        twilio = self.twilio()
        self.start_server()
        self.sms_channel(twilio, kind="voice")
        watch = self.watch("backup")
        self.ping(watch, "/fail")
        [call] = twilio.wait_for_calls(1, timeout=WAIT)
        self.assertIn("backup", call["params"]["Twiml"])
        self.assertIn("<Response>", call["params"]["Twiml"])
        self.assertEqual(twilio.messages, [])

    def test_wrong_auth_token_is_a_4xx_failure(self):
        twilio = self.twilio()
        self.start_server()
        self.sms_channel(twilio, token="0" * 32)
        watch = self.watch("backup")
        attempt = self.only_attempt_of_failed(watch, "failed")
        self.assertEqual((attempt["reason"], attempt["code"]), ("4xx", 401), attempt)
        self.assertEqual(twilio.messages, [])
        self.assertEqual([r.status for r in twilio.received()], [401])


class IncidentApiTest(NotificationTestCase):
    def setUp(self):
        self.start_server()
        self.watch_id = self.watch("backup")
        self.ping(self.watch_id, "/fail")
        self.inc = self.wait_incident(self.watch_id)
        self.path = f"/api/v1/incidents/{self.inc['id']}"

    def test_ack_unack_note_and_manual_resolve(self):
        inc = self.ok("POST", self.path + "/ack", {"by": "alice"})
        self.assertEqual((inc["state"], inc["acked_by"]), ("acknowledged", "alice"))
        self.assertIsNotNone(inc["acked_at"])
        again = self.ok("POST", self.path + "/ack", {"by": "bob"})  # unchanged
        self.assertEqual((again["acked_by"], again["acked_at"]), ("alice", inc["acked_at"]))
        self.assertEqual(self.ok("POST", self.path + "/unack", {"by": "alice"})["state"], "open")
        status, err = self.call("POST", self.path + "/unack", {})
        self.assertEqual(status, 409, err)
        self.assertIn("error", err)

        entry = self.ok("POST", self.path + "/notes", {"text": "looking into it", "by": "carol"},
                        expect=201)
        self.assertEqual((entry["kind"], entry["actor"]), ("note", "carol"))
        self.assertIn("looking into it", entry["message"] + json.dumps(entry["data"]))
        for bad in ({"text": ""}, {"text": "x" * 10001}, {}):
            status, err = self.call("POST", self.path + "/notes", bad)
            self.assertEqual(status, 400, bad)
            self.assertIn("text", err["error"])

        status, err = self.call("POST", self.path + "/resolve", {"by": "alice"})
        self.assertEqual(status, 400)
        self.assertIn("reason", err["error"])
        status, err = self.call("POST", self.path + "/resolve", {"reason": ""})
        self.assertEqual(status, 400)
        self.assertIn("reason", err["error"])
        done = self.ok("POST", self.path + "/resolve", {"reason": "restored from backup",
                                                        "by": "alice"})
        self.assertEqual((done["state"], done["resolve_reason"]),
                         ("resolved", "restored from backup"))
        self.assertEqual(done["resolved_by"], "alice")
        self.assertIsNotNone(done["resolved_at"])
        for action, body in (("resolve", {"reason": "again"}), ("ack", {})):
            status, err = self.call("POST", self.path + "/" + action, body)
            self.assertEqual(status, 409, (action, err))

        timeline = self.incident(self.inc["id"])["timeline"]
        kinds = [e["kind"] for e in timeline]
        self.assertTrue(subsequence(["opened", "acknowledged", "unacknowledged", "note",
                                     "resolved"], kinds), kinds)
        ats = [iso(e["at"]) for e in timeline]
        self.assertEqual(ats, sorted(ats), f"timeline oldest first: {list(zip(kinds, ats))}")
        self.assertEqual([i["id"] for i in self.incidents(state="resolved")], [self.inc["id"]])
        self.assertEqual(self.incidents(state="active"), [])
        # The watch is still down: the incident was closed by hand, not by a check-in.
        self.assertEqual(self.server.check(self.watch_id)["status"], "down")

    def test_unknown_incident_and_bad_requests(self):
        for method, path, body in (("GET", "/api/v1/incidents/999999", None),
                                   ("POST", "/api/v1/incidents/999999/ack", {}),
                                   ("POST", "/api/v1/incidents/999999/resolve", {"reason": "x"}),
                                   ("POST", "/api/v1/incidents/999999/notes", {"text": "x"}),
                                   ("GET", "/api/v1/incidents/abc", None)):
            status, err = self.call(method, path, body)
            self.assertEqual((status, err), (404, {"error": "not found"}), (method, path))
        status, err = self.call("POST", self.path + "/ack", {"by": "x", "extra": 1})
        self.assertEqual(status, 400)
        self.assertIn("unknown field 'extra'", err["error"])
        status, err = self.call("GET", "/api/v1/incidents?state=bogus")
        self.assertEqual(status, 400)
        self.assertIn("state", err["error"])
        self.assertEqual(self.call("DELETE", self.path)[0], 405)
        self.assertEqual(self.incident(self.inc["id"])["state"], "open")

    def test_keys(self):
        self.assertEqual(self.call("GET", "/api/v1/incidents", key="")[0], 401)
        self.assertEqual(self.call("GET", "/api/v1/incidents", key="hcw_wrong")[0], 401)
        ro = self.server.keys["api_key_readonly"]
        status, body = self.call("GET", "/api/v1/incidents", key=ro)
        self.assertEqual(status, 200)
        self.assertEqual([i["id"] for i in body["incidents"]], [self.inc["id"]])
        status, _ = self.call("POST", self.path + "/ack", {}, key=ro)
        self.assertEqual(status, 403)
        status, _ = self.call("POST", "/api/v1/channels",
                              {"kind": "webhook", "config": {"url": "http://127.0.0.1:1/"}},
                              key=ro)
        self.assertEqual(status, 403)
        self.assertEqual(self.incident(self.inc["id"])["state"], "open")
        self.assertEqual(self.ok("GET", "/api/v1/channels")["channels"], [])

    def test_list_filters(self):
        other = self.watch("other")
        self.ping(other, "/2")
        exit_inc = self.wait_incident(other)
        self.assertEqual(exit_inc["cause"], "exit")
        ids = [i["id"] for i in self.incidents()]
        self.assertEqual(ids, sorted(ids, reverse=True), "newest first")
        self.assertEqual(set(ids), {self.inc["id"], exit_inc["id"]})
        self.assertEqual([i["id"] for i in self.incidents(watch=other)], [exit_inc["id"]])
        self.assertEqual([i["id"] for i in self.incidents(cause="fail")], [self.inc["id"]])
        self.assertEqual([i["id"] for i in self.incidents(limit=1)], [max(ids)])
        self.assertEqual([i["id"] for i in self.incidents(before=max(ids))], [min(ids)])


class BadInputTest(NotificationTestCase):
    def setUp(self):
        self.start_server()

    def assert_refused(self, path, body, field):
        before = self.ok("GET", path)
        status, err = self.call("POST", path, body)
        self.assertEqual(status, 400, (body, err))
        self.assertIn(field, err["error"], body)
        self.assertEqual(self.ok("GET", path), before, "a refused request created something")

    def test_channels(self):
        hook = "http://127.0.0.1:9/hook"
        cases = [
            ({"kind": "pager", "config": {}}, "kind"),
            ({"config": {"url": hook}}, "kind"),
            ({"kind": "webhook", "config": {"url": "not a url"}}, "url"),
            ({"kind": "webhook", "config": {"url": "ftp://example.test/"}}, "url"),
            ({"kind": "webhook", "config": {}}, "url"),
            ({"kind": "webhook", "config": {"url": hook, "method": "BREW"}}, "method"),
            ({"kind": "webhook", "config": {"url": hook, "body": "{{#watch}}"}}, "body"),
            ({"kind": "webhook", "config": {"url": hook,
                                            "template": {"body": "{{#watch}} open"}}},
             "template"),
            ({"kind": "email", "config": {"smtp_url": "smtp://127.0.0.1:25",
                                          "from": "a@example.test"}}, "config.to"),
            ({"kind": "email", "config": {"smtp_url": "http://127.0.0.1:25",
                                          "from": "a@example.test", "to": "b@example.test"}},
             "smtp_url"),
            ({"kind": "sms", "config": {"account_sid": "AC1", "auth_token": "t",
                                        "from": "+15005550006"}}, "config.to"),
            ({"kind": "webhook", "config": {"url": hook}, "colour": "red"}, "colour"),
        ]
        for body, field in cases:
            with self.subTest(body=body):
                self.assert_refused("/api/v1/channels", body, field)
        self.assertEqual(self.ok("GET", "/api/v1/channels")["channels"], [])

    def test_policies_and_silences(self):
        hook = self.channel("webhook", {"url": "http://127.0.0.1:9/hook"})
        unknown = str(uuid.uuid4())
        cases = [
            ({"name": "p", "steps": [{"channels": [unknown], "wait": 60}]}, "channels"),
            ({"name": "p", "steps": []}, "steps"),
            ({"name": "p"}, "steps"),
            ({"name": "p", "steps": [{"channels": [hook], "wait": 0}]}, "wait"),
            ({"name": "p", "steps": [{"channels": [hook]}], "repeat": 0}, "repeat"),
            ({"name": "p", "steps": [{"channels": [hook]}], "late_channels": [unknown]},
             "late_channels"),
            ({"name": "p", "steps": [{"channels": [hook]}], "alert_after_failures": 0},
             "alert_after_failures"),
        ]
        for body, field in cases:
            with self.subTest(body=body):
                self.assert_refused("/api/v1/policies", body, field)
        self.assertEqual(self.ok("GET", "/api/v1/policies")["policies"], [])

        for body, field in (({"reason": "deploy"}, "ends"),
                            ({"ends": "tomorrow"}, "ends"),
                            ({"ends": "2000-01-01T00:00:00Z"}, "ends"),
                            ({"watch": "nope", "duration": 60}, "watch")):
            with self.subTest(body=body):
                self.assert_refused("/api/v1/silences", body, field)
        self.assertEqual(self.ok("GET", "/api/v1/silences")["silences"], [])

    def test_channel_in_use_cannot_be_deleted(self):
        hook = self.channel("webhook", {"url": "http://127.0.0.1:9/hook"})
        created = self.ok("GET", f"/api/v1/channels/{hook}")
        self.assertTrue(created["config"]["secret"], "a generated secret")
        self.assertEqual(created["config"]["method"], "POST")
        pol = self.policy([([hook], 60)])
        status, err = self.call("DELETE", f"/api/v1/channels/{hook}")
        self.assertEqual(status, 409, err)
        self.ok("DELETE", f"/api/v1/policies/{pol}")
        self.ok("DELETE", f"/api/v1/channels/{hook}")
        self.assertEqual(self.call("GET", f"/api/v1/channels/{hook}")[0], 404)


class SignalTest(NotificationTestCase):
    def test_fail_and_exit_status_open_incidents_with_their_cause(self):
        hook = self.webhook()
        self.start_server()
        self.webhook_channel(hook)
        watch = self.watch("backup")
        self.ping(watch, "/fail")
        fail = self.wait_incident(watch, cause="fail")
        self.assertEqual(fail["state"], "open")
        self.assertEqual(hook.wait_for_requests(1, timeout=WAIT)[0].json()["incident"]["cause"],
                         "fail")
        self.ping(watch)
        self.assertEqual(self.wait_state(fail["id"], "resolved")["resolved_by"], "check-in")
        self.ping(watch, "/3")
        ex = self.wait_incident(watch, state="open")
        self.assertEqual(ex["cause"], "exit")
        self.assertIn("3", ex["cause_detail"])
        self.assertNotEqual(ex["id"], fail["id"])

    def test_a_body_that_is_not_utf8_is_shown_and_crashes_nothing(self):
        # A check-in's body is bytes from anywhere. Once it went into the message as is, and
        # the desk's JSON encoder threw on the first invalid byte and killed the server.
        hook = self.webhook()
        self.start_server()
        self.webhook_channel(hook)
        watch = self.watch("backup")
        # 998 bytes of text, then a 3-byte character across the 1,000-byte cut for messages.
        body = b"disk \xff\xfe full " + b"x" * 985 + "\u20ac".encode() + b" tail"
        status, reply, _ = self.server.request("POST", f"/ping/{watch}/fail", body=body)
        self.assertEqual(status, 200, reply)
        inc = self.wait_incident(watch, cause="fail")
        sent = hook.wait_for_requests(1, timeout=WAIT)[0].json()
        shown = sent["last_check_in"]["body"]
        self.assertTrue(shown.startswith("disk \ufffd\ufffd full x"), shown[:40])
        # Cut before the character, not inside it.
        self.assertTrue(shown.endswith("x"), (len(shown), shown[-10:]))
        self.assertEqual(len(shown.encode()), 998 + 4)  # each bad byte became 3 bytes of U+FFFD
        # The server still answers, and the incident reads back as JSON.
        self.assertEqual(self.ok("GET", f"/api/v1/incidents/{inc['id']}")["id"], inc["id"])
        self.ping(watch)
        self.wait_state(inc["id"], "resolved")

    def test_alert_after_failures(self):
        hook = self.webhook()
        self.start_server()
        ch = self.webhook_channel(hook)
        watch = self.watch("flaky")
        self.policy([([ch], 600)], name="tolerant", default=False, watches=[watch],
                    alert_after_failures=3)
        self.ping(watch, "/fail")
        self.ping(watch, "/fail")
        # Bounded negative wait: two failures in a row open nothing.
        self.assert_stays_false(lambda: self.incidents(watch=watch), 1.5,
                                "an incident after two failures (alert_after_failures=3)")
        second_fail = iso(self.server.pings(watch)[0]["date"])
        self.ping(watch, "/fail")
        inc = self.wait_incident(watch)
        self.assertEqual(inc["cause"], "fail")
        self.assertGreater(iso(inc["opened_at"]), second_fail)
        self.assertEqual(inc["policy"], "tolerant")
        self.assertEqual(len(self.incidents(watch=watch)), 1)
        self.assertEqual(hook.wait_for_requests(1, timeout=WAIT)[0].json()["event"], "down")


class SilenceTest(NotificationTestCase):
    def test_silenced_watch_records_the_incident_and_holds_notifications(self):
        hook = self.webhook()
        self.start_server()
        self.webhook_channel(hook)
        watch = self.watch("backup", tags="nightly db")
        loud = self.watch("loud")
        silence = self.ok("POST", "/api/v1/silences",
                          {"tag": "nightly", "duration": 600, "reason": "migration"},
                          expect=201)
        self.assertEqual((silence["tag"], silence["watch"]), ("nightly", None))
        self.assertEqual([s["id"] for s in self.ok("GET", "/api/v1/silences")["silences"]],
                         [silence["id"]])
        self.ping(watch, "/fail")
        inc = self.wait_incident(watch)
        held = self.wait_notification(lambda n: n["incident"] == inc["id"], "a held notification",
                                      status="held")
        self.assertEqual(held["status"], "held")
        self.assertEqual(held["attempts"], 0)
        self.assertEqual(self.incident(inc["id"])["state"], "open")
        # A watch the silence does not match still notifies: the server is not just quiet.
        self.ping(loud, "/fail")
        [req] = hook.wait_for_requests(1, timeout=WAIT)
        self.assertEqual(req.json()["watch"]["name"], "loud")
        # Bounded negative wait: the held notification is not sent meanwhile.
        self.assert_stays_false(
            lambda: any(r.json()["watch"]["name"] == "backup" for r in hook.received()), 1.0,
            "a request for the silenced watch")
        self.assertEqual(self.notifications(incident=inc["id"])[0]["status"], "held")
        self.ok("DELETE", f"/api/v1/silences/{silence['id']}")
        self.assertEqual(self.ok("GET", "/api/v1/silences")["silences"], [])


class CrashTest(NotificationTestCase):
    def test_kill_9_during_delivery_delivers_again_with_the_same_key(self):
        hook = self.webhook()
        hook.delay_next(3)  # the first request hangs: the delivery is in flight
        server = self.start_server()
        self.webhook_channel(hook)
        watch = self.watch("backup")
        self.ping(watch, "/fail")
        [first] = hook.wait_for_requests(1, timeout=WAIT)
        server.kill()
        server.start()
        second = hook.wait_for_requests(2, timeout=30)[1]
        self.assertEqual(second.idempotency_key, first.idempotency_key)
        self.assertEqual(second.json()["incident"]["id"], first.json()["incident"]["id"])
        self.assert_signed(second)
        inc = self.wait_incident(watch)
        n = self.wait_notification(lambda x: x["status"] == "delivered", "delivered",
                                   incident=inc["id"])
        self.assertEqual(n["idempotency_key"], first.idempotency_key)
        self.assertEqual(len(self.notifications(incident=inc["id"])), 1)
        self.assertEqual(len(hook.unique()), 1)


class LateTest(NotificationTestCase):
    def test_late_warning_before_down(self):
        hook = self.webhook()
        self.start_server()
        ch = self.webhook_channel(hook)
        self.policy([([ch], 600)], late_channels=[ch])
        watch = self.watch("backup", timeout=1, grace=2)
        self.ping(watch)
        late, down = hook.wait_for_requests(2, timeout=WAIT)
        self.assertEqual([late.json()["event"], down.json()["event"]], ["late", "down"])
        self.assertEqual(late.header("X-Overdue-Event"), "late")
        self.assertEqual(late.json()["watch"]["name"], "backup")
        self.assert_signed(late)
        self.assertNotEqual(late.idempotency_key, down.idempotency_key)
        # The incident the lapse opened takes its late warning: its timeline begins with it.
        inc = self.wait_incident(watch)
        self.assertEqual(down.json()["incident"]["id"], inc["id"])
        # The warning said when the watch would go down: when it did, the incident's start.
        self.assertEqual(iso(late.json()["watch"]["grace_ends_at"]), iso(inc["opened_at"]))
        self.assertEqual(down.json()["watch"]["grace_ends_at"], "")
        late_n = self.wait_notification(
            lambda n: n["event"] == "late" and n["status"] == "delivered",
            "the late notification delivered")
        self.assertEqual(late_n["incident"], inc["id"])
        self.assertEqual(late_n["idempotency_key"], late.idempotency_key)
        timeline = [(e["kind"], e["data"].get("event"))
                    for e in self.incident(inc["id"])["timeline"]]
        self.assertEqual(timeline[:3], [("notification", "late"), ("attempt", "late"),
                                        ("opened", None)], timeline)
        self.assertEqual(sorted(n["event"] for n in self.notifications(incident=inc["id"])),
                         ["down", "late"])


class ChannelTestMessageTest(NotificationTestCase):
    def test_channel_test_sends_a_test_message(self):
        hook = self.webhook()
        self.start_server()
        ch = self.webhook_channel(hook)
        reply = self.ok("POST", f"/api/v1/channels/{ch}/test", {}, expect=202)
        [req] = hook.wait_for_requests(1, timeout=WAIT)
        self.assertEqual(req.json()["event"], "test")
        self.assert_signed(req)
        n = self.wait_notification(lambda x: x["id"] == reply["notification"] and
                                   x["status"] == "delivered", "the test notification delivered")
        self.assertEqual((n["event"], n["incident"]), ("test", None))
        self.assertEqual(self.call("POST", f"/api/v1/channels/{uuid.uuid4()}/test", {})[0], 404)


class CliTest(NotificationTestCase):
    def cli(self, *args, expect=0):
        env = {k: v for k, v in os.environ.items() if not k.startswith("OVERDUE_")}
        env.update(OVERDUE_URL=f"http://127.0.0.1:{self.server.port}",
                   OVERDUE_API_KEY=self.server.keys["api_key"], HOME=self.server.data_dir)
        r = subprocess.run([BIN, *args], capture_output=True, text=True, timeout=60, env=env)
        if expect is not None:
            self.assertEqual(r.returncode, expect, f"{args}: {r.stdout} {r.stderr}")
        return r

    def test_incidents_list_and_ack(self):
        probe = subprocess.run([BIN, "incidents", "--help"], capture_output=True, text=True,
                               timeout=30)
        # Without the subcommand, CLI11 answers --help with the top-level help and status 0.
        if probe.returncode != 0 or "overdue incidents" not in probe.stdout:
            self.skipTest("`overdue incidents` is not in this build (`overdue incidents --help` "
                          "shows no incidents usage)")
        self.start_server()
        watch = self.watch("backup")
        self.ping(watch, "/fail")
        inc = self.wait_incident(watch)
        listed = json.loads(self.cli("incidents", "list", "--json").stdout)
        if isinstance(listed, dict):
            listed = listed["incidents"]
        self.assertEqual([i["id"] for i in listed], [inc["id"]])
        self.assertEqual(listed[0]["watch_name"], "backup")
        self.cli("incidents", "ack", str(inc["id"]))
        self.assertEqual(self.incident(inc["id"])["state"], "acknowledged")
        r = self.cli("incidents", "ack", "999999", expect=None)
        self.assertNotEqual(r.returncode, 0, "acknowledging an unknown incident")
        self.assertTrue(r.stderr)


if __name__ == "__main__":
    unittest.main()


class ChannelAssignmentTest(NotificationTestCase):
    """healthchecks' `channels` field of a check: its incidents go to those channels only."""

    def test_check_channels_by_name_or_id_choose_who_hears_without_a_policy(self):
        a, b = self.webhook(), self.webhook()
        self.start_server()
        ca = self.webhook_channel(a, path="/a")
        self.webhook_channel(b, path="/b")
        listed = self.ok("GET", "/api/v3/channels/")["channels"]
        own = self.ok("GET", "/api/v1/channels")["channels"]
        self.assertEqual(sorted(c["id"] for c in listed), sorted(c["id"] for c in own))
        self.assertIn(ca, [c["id"] for c in listed])
        self.assertTrue(all(c["kind"] == "webhook" for c in listed))
        created = self.ok("POST", "/api/v3/checks/", {"name": "nas", "channels": "webhook /a"},
                          expect=201)
        uid = created["ping_url"].rsplit("/", 1)[1]
        status, body = self.call("POST", "/api/v3/checks/", {"name": "x", "channels": "nope"})
        self.assertEqual((status, body), (400, {"error": "invalid channel identifier: nope"}))
        self.ping(uid, "/fail")
        self.assertEqual(a.wait_for_requests(1, timeout=WAIT)[0].json()["watch"]["name"], "nas")
        incident = self.wait_incident(uid, cause="fail")
        self.wait_timeline(incident["id"], lambda t: any(e["kind"] == "attempt" for e in t),
                           "the delivery to /a")
        # Only /a was assigned: /b hears nothing about this check.
        self.assertEqual(b.requests, [])


class HeartbeatTest(NotificationTestCase):
    def test_heartbeat_goes_out_while_healthy_and_readyz_agrees(self):
        beat = self.webhook()
        self.start_server(extra=["--heartbeat-url", beat.url("/ping/heartbeat"),
                                 "--heartbeat-interval", "1s"])
        got = beat.wait_for_requests(2, timeout=WAIT, path="/ping/heartbeat")
        self.assertEqual(got[0].method, "GET")
        status, body, _ = self.server.request("GET", "/readyz")
        self.assertEqual((status, body), (200, b"ready"))
        self.assertGreaterEqual(self.metric("overdue_heartbeats_total{outcome=\"ok\"}"), 1)
        self.assertEqual(self.metric("overdue_auditor_healthy"), 1)


class BackupTest(NotificationTestCase):
    def test_export_carries_channels_and_policies_into_a_new_server(self):
        hook = self.webhook()
        self.start_server()
        cid = self.webhook_channel(hook)
        pid = self.policy([([cid], 30)], name="night", repeat=2, alert_after_failures=2)
        status, doc = self.call("GET", "/api/v1/export")
        self.assertEqual(status, 200)
        self.assertEqual([c["id"] for c in doc["channels"]], [cid])
        self.assertEqual(doc["channels"][0]["config"]["secret"], SECRET)  # a backup keeps it
        self.assertEqual([p["id"] for p in doc["policies"]], [pid])

        self.start_server()  # another, empty server
        bad = json.loads(json.dumps(doc))
        bad["policies"][0]["steps"][0]["channels"] = [str(uuid.uuid4())]
        status, body = self.call("POST", "/api/v1/import", bad)
        self.assertEqual(status, 400, body)
        self.assertIn("policies[0].steps[0].channels[0]", body["error"])
        self.assertEqual(self.ok("GET", "/api/v1/channels")["channels"], [])  # nothing written
        result = self.ok("POST", "/api/v1/import", doc)
        self.assertEqual((result["channels_imported"], result["policies_imported"]), (1, 1))
        restored = self.ok("GET", f"/api/v1/policies/{pid}")
        self.assertEqual((restored["name"], restored["repeat"], restored["alert_after_failures"]),
                         ("night", 2, 2))
        self.assertEqual(self.ok("GET", f"/api/v1/channels/{cid}")["config"]["secret"], SECRET)
        # The restored channel works: a failing watch's incident reaches the receiver.
        watch = self.watch("restored")
        self.ping(watch, "/fail")
        self.ping(watch, "/fail")
        got = hook.wait_for_requests(1, timeout=WAIT)[0]
        self.assert_signed(got)
        self.assertEqual(got.json()["watch"]["name"], "restored")

"""healthchecks.io Management API v3 conformance: sends the requests healthchecks documents
(templates/docs/api.md) and checks the responses its code gives (hc/api/views.py), against the
real server. Also overdue's own /api/v1 additions (PUT by UUID, export, import) and badges."""
import json
import os
import re
import sys
import unittest
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "system"))
from harness import Server, wait_for  # noqa: E402

ISO_SECONDS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$")
CHECK_FIELDS = {
    "name", "slug", "tags", "desc", "grace", "n_pings", "status", "started", "last_ping",
    "next_ping", "manual_resume", "methods", "subject", "subject_fail", "start_kw",
    "success_kw", "failure_kw", "filter_subject", "filter_body", "filter_http_body",
    "filter_default_fail", "badge_url",
}
RW_ONLY = {"uuid", "ping_url", "update_url", "pause_url", "resume_url", "channels"}


class ApiTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server(args=["--min-period", "1s", "--check-limit", "20"]).start()
        cls.rw = cls.server.keys["api_key"]
        cls.ro = cls.server.keys["api_key_readonly"]

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        cls.server.cleanup()

    def call(self, method, path, body=None, key="rw", raw=None, headers=None):
        h = dict(headers or {})
        if key == "rw":
            h["X-Api-Key"] = self.rw
        elif key == "ro":
            h["X-Api-Key"] = self.ro
        elif key is not None:
            h["X-Api-Key"] = key
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        status, payload, hdrs = self.server.request(method, path, body=data, headers=h)
        ctype = hdrs.get("Content-Type", "")
        parsed = json.loads(payload) if ctype.startswith("application/json") else payload
        return status, parsed, hdrs

    def create(self, **fields):
        status, body, _ = self.call("POST", "/api/v3/checks/", fields)
        self.assertEqual(status, 201, body)
        return body

    def tearDown(self):
        # Each test starts from an empty project.
        _, body, _ = self.call("GET", "/api/v3/checks/")
        for c in body["checks"]:
            self.call("DELETE", f"/api/v3/checks/{c['uuid']}")

    # ---- authentication --------------------------------------------------------------------

    def test_missing_wrong_and_read_only_keys(self):
        self.assertEqual(self.call("GET", "/api/v3/checks/", key=None)[:2],
                         (401, {"error": "missing api key"}))
        self.assertEqual(self.call("GET", "/api/v3/checks/", key="x" * 31)[:2],
                         (401, {"error": "missing api key"}))
        self.assertEqual(self.call("GET", "/api/v3/checks/", key="hcw_" + "a" * 28)[:2],
                         (401, {"error": "wrong api key"}))
        # A read-only key cannot write: healthchecks answers "wrong api key".
        self.assertEqual(self.call("POST", "/api/v3/checks/", {"name": "x"}, key="ro")[:2],
                         (401, {"error": "wrong api key"}))
        # Keys have healthchecks' shape.
        self.assertRegex(self.rw, r"^hcw_[A-Za-z0-9]{28}$")
        self.assertRegex(self.ro, r"^hcr_[A-Za-z0-9]{28}$")

    def test_api_key_in_the_json_body(self):
        status, body, _ = self.call("POST", "/api/v3/checks/",
                                    {"api_key": self.rw, "name": "body-key"}, key=None)
        self.assertEqual(status, 201, body)
        self.assertEqual(body["name"], "body-key")
        # GET never reads the body for a key.
        self.assertEqual(self.call("GET", "/api/v3/checks/", key=None)[0], 401)

    # ---- create ----------------------------------------------------------------------------

    def test_create_defaults_and_check_object(self):
        c = self.create(name="backup")
        self.assertTrue(CHECK_FIELDS | RW_ONLY | {"timeout"} <= set(c), set(c))
        self.assertEqual(c["timeout"], 86400)  # healthchecks' defaults: 1 day, 1 hour
        self.assertEqual(c["grace"], 3600)
        self.assertEqual(c["status"], "new")
        self.assertIsNone(c["last_ping"])
        self.assertIsNone(c["next_ping"])
        self.assertEqual(c["slug"], "")  # v3 never derives the slug from the name
        self.assertEqual(c["methods"], "")
        base = f"http://127.0.0.1:{self.server.port}"
        self.assertEqual(c["ping_url"], f"{base}/ping/{c['uuid']}")
        self.assertEqual(c["update_url"], f"{base}/api/v3/checks/{c['uuid']}")
        self.assertEqual(c["pause_url"], c["update_url"] + "/pause")
        self.assertEqual(c["resume_url"], c["update_url"] + "/resume")
        self.assertRegex(c["badge_url"], rf"^{base}/b/2/[0-9a-f-]{{36}}\.svg$")
        self.assertNotIn("schedule", c)

    def test_create_cron_with_time_zone(self):
        c = self.create(name="nightly", schedule="15 2 * * *", tz="Europe/Riga", grace=600)
        self.assertEqual((c["schedule"], c["tz"], c["grace"]), ("15 2 * * *", "Europe/Riga", 600))
        self.assertNotIn("timeout", c)

    def test_unique_upsert_updates_the_match_200_else_creates_201(self):
        first = self.create(name="db", slug="db", timeout=60, unique=["name"])
        status, again, _ = self.call("POST", "/api/v3/checks/",
                                     {"name": "db", "timeout": 120, "unique": ["name"]})
        self.assertEqual(status, 200, again)
        self.assertEqual(again["uuid"], first["uuid"])
        self.assertEqual(again["timeout"], 120)  # the match is updated
        status, other, _ = self.call("POST", "/api/v3/checks/",
                                     {"name": "db2", "unique": ["name"]})
        self.assertEqual(status, 201)
        self.assertNotEqual(other["uuid"], first["uuid"])
        # A unique field absent from the request never matches: a new check.
        status, _, _ = self.call("POST", "/api/v3/checks/", {"slug": "x", "unique": ["name"]})
        self.assertEqual(status, 201)
        _, listing, _ = self.call("GET", "/api/v3/checks/")
        self.assertEqual(len(listing["checks"]), 3)

    def test_validation_errors_are_healthchecks_first_error_and_change_nothing(self):
        cases = [
            ({"name": None}, "json validation error: name is not a string"),
            ({"name": 5}, "json validation error: name is not a string"),
            ({"timeout": "60"}, "json validation error: timeout is not a number"),
            ({"timeout": 0}, "json validation error: timeout is too small"),
            ({"grace": 31536001}, "json validation error: grace is too large"),
            ({"manual_resume": "yes"}, "json validation error: manual_resume is not a boolean"),
            ({"methods": "GET"}, "json validation error: methods has unexpected value"),
            ({"slug": "Bad Slug"}, "json validation error: slug does not match pattern"),
            ({"name": "n" * 101}, "json validation error: name is too long"),
            ({"schedule": "* * * *"},
             "json validation error: schedule is not a valid cron or OnCalendar expression"),
            ({"tz": "Mars/Olympus"}, "json validation error: tz is not a valid timezone"),
            ({"unique": "name"}, "json validation error: unique is not an array"),
            ({"unique": ["bogus"]},
             "json validation error: an item in 'unique' has unexpected value"),
            ({"channels": "nope"}, "invalid channel identifier: nope"),
            ({"channels": ",x"}, "empty channel identifier"),
            ({"timout": 60}, "json validation error: unknown field 'timout'"),
        ]
        for body, message in cases:
            with self.subTest(body=body):
                status, got, _ = self.call("POST", "/api/v3/checks/", body)
                self.assertEqual((status, got), (400, {"error": message}))
        status, got, _ = self.call("POST", "/api/v3/checks/", raw="{not json")
        self.assertEqual((status, got), (400, {"error": "could not parse request body"}))
        status, got, _ = self.call("POST", "/api/v3/checks/", raw="[1, 2]")
        self.assertEqual((status, got),
                         (400, {"error": "json validation error: value is not an object"}))
        _, listing, _ = self.call("GET", "/api/v3/checks/")
        self.assertEqual(listing["checks"], [])

    def test_check_limit_answers_403(self):
        for i in range(20):
            self.create(name=f"c{i}")
        status, body, _ = self.call("POST", "/api/v3/checks/", {"name": "one too many"})
        self.assertEqual((status, body), (403, b""))
        # unique still updates an existing check at the limit
        status, _, _ = self.call("POST", "/api/v3/checks/",
                                 {"name": "c3", "desc": "d", "unique": ["name"]})
        self.assertEqual(status, 200)

    # ---- list, get, update, delete ------------------------------------------------------------

    def test_list_filters_by_tag_and_slug(self):
        self.create(name="a", tags="prod db", slug="a")
        self.create(name="b", tags="prod", slug="b")
        self.create(name="c", tags="production", slug="c")
        names = lambda q: sorted(c["name"] for c in self.call("GET", "/api/v3/checks/" + q)[1]["checks"])  # noqa: E731
        self.assertEqual(names("?tag=prod"), ["a", "b"])  # whole tags only
        self.assertEqual(names("?tag=prod&tag=db"), ["a"])  # every tag must match
        self.assertEqual(names("?slug=c"), ["c"])
        self.assertEqual(names(""), ["a", "b", "c"])

    def test_read_only_key_sees_unique_key_instead_of_uuid(self):
        c = self.create(name="secret")
        status, listing, _ = self.call("GET", "/api/v3/checks/", key="ro")
        self.assertEqual(status, 200)
        ro = listing["checks"][0]
        self.assertFalse(RW_ONLY & set(ro), ro)
        self.assertRegex(ro["unique_key"], r"^[0-9a-f]{40}$")
        status, one, _ = self.call("GET", f"/api/v3/checks/{ro['unique_key']}", key="ro")
        self.assertEqual((status, one["name"]), (200, "secret"))
        status, flips, _ = self.call("GET", f"/api/v3/checks/{ro['unique_key']}/flips/", key="ro")
        self.assertEqual((status, flips), (200, {"flips": []}))
        status, one, _ = self.call("GET", f"/api/v3/checks/{c['uuid']}", key="ro")
        self.assertEqual(status, 200)
        self.assertNotIn("uuid", one)
        # pings need a read-write key
        self.assertEqual(self.call("GET", f"/api/v3/checks/{c['uuid']}/pings/", key="ro")[0], 401)

    def test_update_changes_only_given_fields(self):
        c = self.create(name="x", tags="t1", timeout=3600)
        status, u, _ = self.call("POST", f"/api/v3/checks/{c['uuid']}", {"desc": "hello"})
        self.assertEqual(status, 200, u)
        self.assertEqual((u["name"], u["tags"], u["timeout"], u["desc"]), ("x", "t1", 3600, "hello"))
        status, u, _ = self.call("POST", f"/api/v3/checks/{c['uuid']}", {"schedule": "0 * * * *"})
        self.assertEqual((status, u["schedule"], u["tz"]), (200, "0 * * * *", "UTC"))
        status, got, _ = self.call("POST", f"/api/v3/checks/{c['uuid']}", {"grace": "1h"})
        self.assertEqual((status, got), (400, {"error": "json validation error: grace is not a number"}))
        self.assertEqual(self.call("GET", f"/api/v3/checks/{c['uuid']}")[1]["grace"], 3600)

    def test_unknown_and_foreign_checks(self):
        missing = str(uuid.uuid4())
        self.assertEqual(self.call("GET", f"/api/v3/checks/{missing}")[0], 404)
        self.assertEqual(self.call("POST", f"/api/v3/checks/{missing}", {"name": "x"})[0], 404)
        self.assertEqual(self.call("DELETE", f"/api/v3/checks/{missing}")[0], 404)
        # Upper-case UUIDs do not match the route (Django's <uuid:> converter).
        c = self.create(name="x")
        self.assertEqual(self.call("GET", f"/api/v3/checks/{c['uuid'].upper()}")[0], 404)

    def test_trailing_slashes_are_exact(self):
        c = self.create(name="x")
        self.assertEqual(self.call("GET", "/api/v3/checks")[0], 404)
        self.assertEqual(self.call("GET", f"/api/v3/checks/{c['uuid']}/")[0], 404)
        self.assertEqual(self.call("GET", f"/api/v3/checks/{c['uuid']}/pings")[0], 404)
        self.assertEqual(self.call("GET", f"/api/v3/checks/{c['uuid']}/flips")[0], 404)

    def test_delete_returns_the_check_and_removes_it(self):
        c = self.create(name="gone")
        status, body, _ = self.call("DELETE", f"/api/v3/checks/{c['uuid']}")
        self.assertEqual((status, body["uuid"], body["name"]), (200, c["uuid"], "gone"))
        self.assertEqual(self.call("GET", f"/api/v3/checks/{c['uuid']}")[0], 404)
        status, _, _ = self.server.request("GET", f"/ping/{c['uuid']}")
        self.assertEqual(status, 404)

    # ---- pause, resume, pings, flips ---------------------------------------------------------

    def test_pause_resume_and_flips(self):
        c = self.create(name="p", timeout=60)
        self.assertEqual(self.server.request("GET", f"/ping/{c['uuid']}")[0], 200)
        status, body, _ = self.call("POST", f"/api/v3/checks/{c['uuid']}/pause")
        self.assertEqual((status, body["status"]), (200, "paused"))
        # pausing again changes nothing (no second flip)
        self.assertEqual(self.call("POST", f"/api/v3/checks/{c['uuid']}/pause")[0], 200)
        status, body, _ = self.call("POST", f"/api/v3/checks/{c['uuid']}/resume")
        self.assertEqual((status, body["status"], body["last_ping"]), (200, "new", None))
        status, body, hdrs = self.call("POST", f"/api/v3/checks/{c['uuid']}/resume")
        self.assertEqual((status, body), (409, b"check is not paused"))
        status, flips, _ = self.call("GET", f"/api/v3/checks/{c['uuid']}/flips/")
        self.assertEqual(status, 200)
        self.assertEqual([f["up"] for f in flips["flips"]], [0, 0, 1])  # newest first
        for f in flips["flips"]:
            self.assertRegex(f["timestamp"], ISO_SECONDS)
        self.assertEqual(self.call("GET", f"/api/v3/checks/{c['uuid']}/flips/?seconds=3600")[1],
                         flips)
        self.assertEqual(self.call("GET", f"/api/v3/checks/{c['uuid']}/flips/?end=1")[1],
                         {"flips": []})
        for bad in ("seconds=-1", "seconds=x", "start=abc", "end=99999999999", "seconds=31536001"):
            with self.subTest(bad=bad):
                status, body, _ = self.call("GET", f"/api/v3/checks/{c['uuid']}/flips/?{bad}")
                self.assertEqual((status, body), (400, b""))

    def test_pings_and_bodies(self):
        c = self.create(name="p", timeout=60)
        rid = str(uuid.uuid4())
        self.server.request("POST", f"/ping/{c['uuid']}/start?rid={rid}", body="starting")
        self.server.request("POST", f"/ping/{c['uuid']}?rid={rid}", body="done",
                            headers={"User-Agent": "conformance"})
        status, body, _ = self.call("GET", f"/api/v3/checks/{c['uuid']}/pings/")
        self.assertEqual(status, 200)
        pings = body["pings"]
        self.assertEqual([p["type"] for p in pings], ["success", "start"])
        self.assertEqual([p["n"] for p in pings], [2, 1])
        self.assertEqual(pings[0]["rid"], rid)
        self.assertEqual(pings[0]["ua"], "conformance")
        self.assertIn("duration", pings[0])
        self.assertTrue(pings[0]["body_url"].endswith(f"/api/v3/checks/{c['uuid']}/pings/2/body"))
        status, text, hdrs = self.call("GET", f"/api/v3/checks/{c['uuid']}/pings/2/body")
        self.assertEqual((status, text), (200, b"done"))
        self.assertEqual(hdrs["Content-Type"], "text/plain")
        self.assertEqual(self.call("GET", f"/api/v3/checks/{c['uuid']}/pings/9/body")[0], 404)
        check = self.call("GET", f"/api/v3/checks/{c['uuid']}")[1]
        self.assertEqual((check["status"], check["n_pings"]), ("up", 2))
        self.assertRegex(check["last_ping"], ISO_SECONDS)
        self.assertRegex(check["next_ping"], ISO_SECONDS)

    # ---- channels, badges, status, CORS --------------------------------------------------------

    def test_channels_status_and_cors(self):
        self.assertEqual(self.call("GET", "/api/v3/channels/")[:2], (200, {"channels": []}))
        self.assertEqual(self.call("GET", "/api/v3/channels/", key="ro")[0], 401)
        self.assertEqual(self.call("GET", "/api/v3/status/", key=None)[:2], (200, b"OK"))
        status, _, hdrs = self.call("OPTIONS", "/api/v3/checks/", key=None)
        self.assertEqual(status, 204)
        self.assertEqual(hdrs["Access-Control-Allow-Origin"], "*")
        self.assertEqual(hdrs["Access-Control-Allow-Headers"], "X-Api-Key")
        self.assertEqual(self.call("PUT", "/api/v3/checks/")[0], 405)
        self.assertEqual(self.call("PATCH", f"/api/v3/checks/{uuid.uuid4()}")[0], 405)

    def test_badges(self):
        up = self.create(name="up-one", tags="web", timeout=60)
        self.create(name="new-one", tags="web db", timeout=60)
        self.server.request("GET", f"/ping/{up['uuid']}")
        status, body, _ = self.call("GET", "/api/v3/badges/", key="ro")
        self.assertEqual(status, 200)
        self.assertEqual(set(body["badges"]), {"*", "web", "db"})
        web = body["badges"]["web"]
        self.assertEqual(set(web), {"svg", "svg3", "json", "json3", "shields", "shields3"})
        self.assertTrue(web["svg"].endswith("-2/web.svg"))
        path = lambda url: url.split(str(self.server.port), 1)[1]  # noqa: E731
        status, j, _ = self.call("GET", path(web["json"]), key=None)
        self.assertEqual((status, j), (200, {"status": "up", "total": 2, "grace": 0, "down": 0}))
        status, sh, _ = self.call("GET", path(web["shields3"]), key=None)
        self.assertEqual(sh, {"schemaVersion": 1, "label": "web", "message": "up",
                              "color": "success"})
        status, svg, hdrs = self.call("GET", path(body["badges"]["*"]["svg"]), key=None)
        self.assertEqual((status, hdrs["Content-Type"]), (200, "image/svg+xml"))
        self.assertIn(b"<svg", svg)
        self.assertIn(b"#4c1", svg)
        # A forged signature or an unknown format is 404.
        forged = re.sub(r"/[A-Za-z0-9_-]{8}-2/", "/AAAAAAAA-2/", path(web["json"]))
        self.assertEqual(self.call("GET", forged, key=None)[0], 404)
        self.assertEqual(self.call("GET", path(web["svg"])[:-3] + "png", key=None)[0], 404)
        # Tags with URL-special characters are encoded twice in badge URLs, as healthchecks does.
        self.create(name="odd", tags="db@dc1", timeout=60)
        odd = self.call("GET", "/api/v3/badges/", key="ro")[1]["badges"]["db@dc1"]["json"]
        self.assertIn("/db%2540dc1.json", odd)
        status, j, _ = self.call("GET", path(odd), key=None)
        self.assertEqual((status, j["total"], j["status"]), (200, 1, "up"))
        # The per-check badge from badge_url.
        status, j, _ = self.call("GET", path(up["badge_url"])[:-3] + "json", key=None)
        self.assertEqual((status, j["status"], j["total"]), (200, "up", 1))

    # ---- overdue's /api/v1 ------------------------------------------------------------------

    def test_put_by_uuid_creates_then_updates(self):
        cid = str(uuid.uuid4())
        status, body, _ = self.call("PUT", f"/api/v1/checks/{cid}", {"name": "kept", "timeout": 60})
        self.assertEqual((status, body["uuid"]), (201, cid))
        status, body, _ = self.call("PUT", f"/api/v1/checks/{cid}", {"name": "kept", "timeout": 90})
        self.assertEqual((status, body["timeout"]), (200, 90))
        self.assertEqual(self.server.request("GET", f"/ping/{cid}")[0], 200)
        status, body, _ = self.call("PUT", f"/api/v1/checks/{cid}", {"unique": ["name"]})
        self.assertEqual((status, body), (400, {"error": "json validation error: unknown field 'unique'"}))
        self.assertEqual(self.call("PUT", f"/api/v1/checks/{cid}", {"name": "x"}, key="ro")[0], 401)

    def test_export_import_round_trip_and_refusals(self):
        a = self.create(name="a", tags="x", schedule="*/5 * * * *", tz="Asia/Tokyo", grace=120)
        self.server.request("POST", f"/ping/{a['uuid']}", body="hello")
        status, doc, _ = self.call("GET", "/api/v1/export?history=1")
        self.assertEqual(status, 200)
        self.assertEqual((doc["format"], doc["version"]), ("overdue-export", 1))
        self.assertEqual(len(doc["checks"]), 1)
        self.assertEqual(len(doc["history"][a["uuid"]]["check_ins"]), 1)
        self.assertTrue(all(len(k["hash"]) == 64 for k in doc["api_keys"]))
        self.assertFalse(any(self.rw in json.dumps(k) for k in doc["api_keys"]))
        self.call("DELETE", f"/api/v3/checks/{a['uuid']}")
        status, summary, _ = self.call("POST", "/api/v1/import", doc)
        self.assertEqual(status, 200, summary)
        self.assertEqual((summary["checks_created"], summary["check_ins_imported"]), (1, 1))
        back = self.call("GET", f"/api/v3/checks/{a['uuid']}")[1]
        for k in ("name", "tags", "schedule", "tz", "grace", "n_pings", "status"):
            self.assertEqual(back[k], a[k] if k not in ("n_pings", "status") else back[k])
        self.assertEqual((back["n_pings"], back["status"]), (1, "up"))
        self.assertEqual(self.call("GET", f"/api/v3/checks/{a['uuid']}/pings/1/body")[1], b"hello")
        # idempotent: a second import updates, creates nothing, adds no history
        status, summary, _ = self.call("POST", "/api/v1/import", doc)
        self.assertEqual((summary["checks_created"], summary["checks_updated"],
                          summary["check_ins_imported"]), (0, 1, 0))
        # Into a fresh server: the project's ping key comes along, so slug URLs keep working.
        self.call("POST", f"/api/v3/checks/{a['uuid']}", {"slug": "restored"})
        _, doc2, _ = self.call("GET", "/api/v1/export")
        other = Server().start()
        self.addCleanup(other.cleanup)
        self.addCleanup(other.stop)
        status, body, _ = other.request(
            "POST", "/api/v1/import", body=json.dumps(doc2),
            headers={"X-Api-Key": other.keys["api_key"]})
        self.assertEqual(status, 200, body)
        self.assertTrue(json.loads(body)["ping_key_restored"])
        slug_url = f"/ping/{self.server.keys['ping_key']}/restored"
        wait_for(lambda: other.request("GET", slug_url)[0] == 200, timeout=10,
                 what="the restored ping key to be accepted")
        newer = dict(doc, version=2)
        status, body, _ = self.call("POST", "/api/v1/import", newer)
        self.assertEqual(status, 400)
        self.assertIn("newer than this server reads", body["error"])
        broken = json.loads(json.dumps(doc))
        broken["checks"][0]["schedule"]["cron"] = "99 * * * *"
        broken["checks"][0]["uuid"] = str(uuid.uuid4())
        status, body, _ = self.call("POST", "/api/v1/import", broken)
        self.assertEqual(status, 400)
        self.assertIn("checks[0].schedule", body["error"])
        # Seconds too large for microseconds are refused, not overflowed.
        for field, value in (("period_s", 36555555555555555), ("grace_s", -36555555555555555)):
            huge = json.loads(json.dumps(doc))
            huge["checks"][0]["uuid"] = str(uuid.uuid4())
            huge["checks"][0]["schedule"][field] = value
            status, body, _ = self.call("POST", "/api/v1/import", huge)
            self.assertEqual(status, 400, body)
            self.assertIn(f"checks[0].schedule.{field}: must be between 0 and 31536000",
                          body["error"])
        self.assertEqual(len(self.call("GET", "/api/v3/checks/")[1]["checks"]), 1)


if __name__ == "__main__":
    unittest.main()

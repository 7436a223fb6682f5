"""docs/openapi.yaml against the real server, both ways.

- The spec is well formed: unique operationIds, every $ref resolves, every schema is a valid
  JSON Schema once converted, every path parameter is declared.
- Route coverage: `overdue routes` prints exactly the spec's operations (ANY for the
  x-any-method ping paths; OPTIONS preflights are not routes of their own).
- Every operation is called on a running server, on its happy paths and on the errors the
  spec documents (missing, wrong and read-only keys, bad JSON, wrong types, unknown and
  foreign checks, limits); every response is validated against the spec (status, required
  headers, content type, body schema), and every documented status of every operation must
  have been seen, except 503 (a failing store, which the durability tests inject).
- Request bodies the server accepts must validate against the spec's request schemas, and
  bad bodies the spec can express as invalid must be invalid per the spec too.
- The incidents API (channels, policies, silences, incidents, notifications) and the /ack
  pages are exercised the same way: a check's failure signal opens a real incident, which is
  acknowledged (by link and by API), un-acknowledged, annotated and resolved; the /ack
  tokens are signed with the test server's own secret (<data dir>/secret.key).

The test collects every mismatch and fails once, listing them all.
"""
import hashlib
import hmac
import json
import os
import re
import subprocess
import sys
import time
import unittest
import uuid

import jsonschema

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "system"))
sys.path.insert(0, HERE)
from harness import BIN, Server, wait_for  # noqa: E402
from openapi_check import Spec  # noqa: E402

# Statuses that need a failing store to appear (durability tests inject those faults).
UNTESTABLE_STATUSES = {"503"}


class SpecTest(unittest.TestCase):
    spec = Spec()

    def test_spec_is_well_formed(self):
        doc = self.spec.doc
        self.assertEqual(doc["openapi"], "3.0.3")
        problems = []
        ids = [op.get("operationId") for _, _, op in self.spec.operations()]
        for m, t, op in self.spec.operations():
            if not op.get("operationId"):
                problems.append(f"{m} {t}: no operationId")
            if not op.get("responses"):
                problems.append(f"{m} {t}: no responses")
        dupes = {i for i in ids if i and ids.count(i) > 1}
        if dupes:
            problems.append(f"duplicate operationIds: {sorted(dupes)}")

        def walk(node, where):
            if isinstance(node, dict):
                if "$ref" in node:
                    try:
                        self.spec.resolve(node)
                    except (KeyError, ValueError) as e:
                        problems.append(f"{where}: bad $ref {node['$ref']}: {e}")
                for k, v in node.items():
                    walk(v, f"{where}/{k}")
            elif isinstance(node, list):
                for i, v in enumerate(node):
                    walk(v, f"{where}/{i}")
        walk(doc, "#")

        for name, schema in doc["components"]["schemas"].items():
            try:
                jsonschema.Draft4Validator.check_schema(self.spec.json_schema(schema))
            except jsonschema.SchemaError as e:
                problems.append(f"schema {name}: {e.message}")
        for template, item in doc["paths"].items():
            declared = set(self.spec._path_params(item))
            used = {p[1:-1] for p in re.findall(r"\{[^}]+\}", template)}
            if declared != used:
                problems.append(f"{template}: path parameters {sorted(used)} declared "
                                f"{sorted(declared)}")
        self.assertEqual(problems, [], "\n".join(problems))

    def test_routes_of_the_binary_are_the_spec(self):
        out = subprocess.run([BIN, "routes"], capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        printed = {line.strip() for line in out.stdout.splitlines() if line.strip()}
        documented = self.spec.route_lines()
        missing = sorted(printed - documented)
        extra = sorted(documented - printed)
        self.assertEqual(
            (missing, extra), ([], []),
            "\nroutes the server prints but the spec lacks:\n  " + "\n  ".join(missing) +
            "\nspec operations the server does not print:\n  " + "\n  ".join(extra))


class ServerConformsToSpecTest(unittest.TestCase):
    spec = Spec()

    @classmethod
    def setUpClass(cls):
        cls.server = Server(args=["--check-limit", "10"]).start()
        # A second project (checks of another project are 403, not 404), created while the
        # server is stopped so that the restarted server loads its keys.
        cls.server.stop()
        out = subprocess.run([BIN, "projects", "create", "other", "--data-dir",
                              cls.server.data_dir, "--json"],
                             capture_output=True, text=True, timeout=30)
        cls.other = json.loads(out.stdout) if out.returncode == 0 else None
        cls.other_error = out.stderr
        cls.server.start()
        cls.rw = cls.server.keys["api_key"]
        cls.ro = cls.server.keys["api_key_readonly"]
        cls.ping_key = cls.server.keys["ping_key"]

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        cls.server.cleanup()

    def setUp(self):
        self.mismatches = []
        self.seen = {}  # coverage key -> set of statuses

    # ---- plumbing ------------------------------------------------------------------------

    def note(self, text, example=None):
        """Records a mismatch; the same `text` seen for several requests is reported once,
        with a count and the first `example` request."""
        for entry in self.mismatches:
            if entry[0] == text:
                entry[1] += 1
                return
        self.mismatches.append([text, 1, example])

    def report(self):
        lines = ["(* = any method)"] if any(t.startswith("* ") for t, _, _ in
                                            self.mismatches) else []
        for text, count, example in self.mismatches:
            more = f"  [{count} requests, e.g. {example}]" if count > 1 else (
                f"  [{example}]" if example else "")
            lines.append(text + more)
        return lines

    def coverage_key(self, method, path):
        m = self.spec.match(method, path)
        if m is None or m.operation is None:
            return None
        if m.path_item.get("x-any-method") and method.upper() != "OPTIONS":
            return f"ANY {m.template}"
        return m.name

    def call(self, method, path, body=None, key="rw", raw=None, headers=None, expect=None,
             body_is_valid=None):
        """Sends a request, validates the response against the spec and records coverage.
        `expect`: the status the contract requires (a mismatch is recorded, not raised).
        `body_is_valid`: whether the spec's request schema must accept (True) or reject
        (False) the JSON body; None: not checked. Returns (status, parsed body, headers)."""
        h = dict(headers or {})
        if key == "rw":
            h["X-Api-Key"] = self.rw
        elif key == "ro":
            h["X-Api-Key"] = self.ro
        elif key is not None:
            h["X-Api-Key"] = key
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        status, payload, hdrs = self.server.request(method, path, body=data, headers=h)
        label = f"{method} {path}" + (f" {_short(data)}" if data else "")
        for err in self.spec.check_response(method, path, status, hdrs, payload):
            # "GET /ping/{uuid} -> 200: ..." and "POST /ping/{uuid} -> 200: ..." are one finding.
            self.note("* " + err.split(" ", 1)[1] if err.startswith(method + " ") else err,
                      example=label)
        if expect is not None and status != expect:
            self.note(f"{label}: expected {expect}, got {status} {_short(payload)}")
        k = self.coverage_key(method, path)
        if k:
            self.seen.setdefault(k, set()).add(str(status))
        if body_is_valid is not None and raw is None:
            errs = self.spec.check_request_body(method, path, body)
            if body_is_valid and errs:
                self.note(f"{label}: the server accepts this body, the spec rejects it: {errs}")
            if not body_is_valid and not errs:
                self.note(f"{label}: the server rejects this body, the spec accepts it")
        ctype = hdrs.get("Content-Type", "")
        parsed = payload
        if ctype.startswith("application/json") and payload:
            try:
                parsed = json.loads(payload)
            except ValueError:
                pass
        return status, parsed, hdrs

    def create(self, key="rw", **fields):
        status, body, _ = self.call("POST", "/api/v3/checks/", fields, key=key, expect=201,
                                    body_is_valid=True)
        if status != 201:
            raise AssertionError(f"cannot create a check: {status} {body}")
        return body

    def path_of(self, url):
        return url.split(f":{self.server.port}", 1)[1]

    def validate_as(self, instance, schema_name, label):
        schema = self.spec.doc["components"]["schemas"][schema_name]
        for e in self.spec.validate(instance, schema):
            self.note(f"{label}: not a {schema_name}: {e}")

    # ---- the scenario ----------------------------------------------------------------------

    def test_every_operation(self):
        steps = [self.step_ping_urls, self.step_list_and_create, self.step_single_check,
                 self.step_unique_key, self.step_pause_resume, self.step_pings, self.step_flips,
                 self.step_channels_badges_status, self.step_badges, self.step_v1,
                 self.step_v1_channels, self.step_v1_policies, self.step_v1_silences,
                 self.step_v1_incidents, self.step_v1_methods, self.step_operations,
                 self.step_cors, self.step_check_limit]
        for step in steps:
            try:
                step()
            except Exception as e:  # keep going: report every mismatch at once
                self.note(f"{step.__name__} stopped: {type(e).__name__}: {e}")
        self.check_coverage()
        if self.mismatches:
            self.fail(f"{len(self.mismatches)} mismatches with docs/openapi.yaml:\n" +
                      "\n".join(self.report()))

    def check_coverage(self):
        for method, template, op in self.spec.operations():
            item = self.spec.doc["paths"][template]
            key = (f"ANY {template}" if item.get("x-any-method") and method != "OPTIONS"
                   else f"{method} {template}")
            if key.startswith("ANY") and method != "GET":
                continue  # statuses of an any-method path are counted once
            seen = self.seen.get(key, set())
            wanted = {s for s in op["responses"] if s not in UNTESTABLE_STATUSES}
            missing = sorted(wanted - seen)
            if missing:
                self.note(f"coverage: {key}: documented statuses never seen: {missing} "
                          f"(seen {sorted(seen)})")
        if self.other is None:
            self.note(f"coverage: `overdue projects create` failed, no foreign-project cases: "
                      f"{self.other_error.strip()}")

    def step_ping_urls(self):
        a = self.create(name="alpha", slug="alpha", tags="web db", timeout=60, grace=60)
        self.alpha = a
        u = a["uuid"]
        missing = str(uuid.uuid4())
        rid = str(uuid.uuid4())
        for suffix in ("", "/start", "/fail", "/log", "/0", "/1"):
            for method in ("GET", "POST", "HEAD"):
                body = "some output" if method == "POST" else None
                self.call(method, f"/ping/{u}{suffix}?rid={rid}", raw=body, key=None,
                          expect=200)
            self.call("GET", f"/ping/{u}{suffix}?rid=12345", key=None, expect=400)
            self.call("GET", f"/ping/{missing}{suffix}", key=None, expect=404)
        self.call("GET", f"/ping/{u}/256", key=None, expect=400)
        for method in ("PUT", "DELETE", "PATCH", "OPTIONS"):  # any method is a check-in
            self.call(method, f"/ping/{u}/log", key=None, expect=200)
            self.call(method, f"/ping/{self.ping_key}/alpha/log", key=None, expect=200)
        # A plain success last, so the check is up.
        self.call("POST", f"/ping/{u}", raw="done", key=None, expect=200,
                  headers={"User-Agent": "openapi-test"})

        # Slug form; "twin" is an ambiguous slug (two checks).
        self.twins = [self.create(name=f"twin{i}", slug="twin", timeout=60)["uuid"]
                      for i in range(2)]
        k = self.ping_key
        created = []
        for i, suffix in enumerate(("", "/start", "/fail", "/log", "/0")):
            for method in ("GET", "POST", "HEAD"):
                self.call(method, f"/ping/{k}/alpha{suffix}", key=None, expect=200,
                          raw="slug body" if method == "POST" else None)
            self.call("GET", f"/ping/{k}/ALPHA{suffix}", key=None, expect=400)
            self.call("GET", f"/ping/{k}/nope{suffix}", key=None, expect=404)
            self.call("GET", f"/ping/{k}/twin{suffix}", key=None, expect=409)
            self.call("GET", f"/ping/{k}/made-{i}{suffix}?create=1", key=None, expect=201)
            created.append(f"made-{i}")
        self.call("GET", f"/ping/{k}/alpha/256", key=None, expect=400)
        self.call("GET", f"/ping/{k}/alpha?rid=nope", key=None, expect=400)
        self.call("GET", f"/ping/wrongkeywrongkeywrong/alpha", key=None, expect=404)
        # Clean up the created checks (the project's check limit is small).
        _, listing, _ = self.call("GET", "/api/v3/checks/", expect=200)
        for c in listing["checks"]:
            if c["slug"] in created:
                self.call("DELETE", f"/api/v3/checks/{c['uuid']}", expect=200)

    def step_list_and_create(self):
        s, listing, _ = self.call("GET", "/api/v3/checks/", expect=200)
        for c in listing["checks"]:
            self.validate_as(c, "Check", "GET /api/v3/checks/ (read-write key)")
        s, listing, _ = self.call("GET", "/api/v3/checks/", key="ro", expect=200)
        for c in listing["checks"]:
            self.validate_as(c, "CheckReadOnly", "GET /api/v3/checks/ (read-only key)")
        self.call("GET", "/api/v3/checks/?tag=web&tag=db", expect=200)
        self.call("GET", "/api/v3/checks/?slug=alpha", expect=200)
        self.call("GET", "/api/v3/checks/", key=None, expect=401)
        self.call("GET", "/api/v3/checks/", key="hcw_" + "a" * 28, expect=401)

        # Create: every field the spec documents, a cron check, body key, unique.
        full = dict(name="full", slug="full", tags="prod", desc="every field", timeout=3600,
                    grace=300, manual_resume=True, methods="POST", channels="",
                    start_kw="begin", success_kw="ok", failure_kw="bad", filter_subject=False,
                    filter_body=True, filter_http_body=True, filter_default_fail=False)
        c = self.create(**full)
        self.validate_as(c, "Check", "created check")
        cron = self.create(name="cron", schedule="15 2 * * *", tz="Europe/Riga")
        self.cron = cron
        s, body, _ = self.call("POST", "/api/v3/checks/",
                               {"name": "full", "desc": "again", "unique": ["name"]},
                               expect=200, body_is_valid=True)
        s, body, _ = self.call("POST", "/api/v3/checks/",
                               {"api_key": self.rw, "name": "body-key", "subject": "s"},
                               key=None, expect=201, body_is_valid=True)
        if s == 201:
            self.call("DELETE", f"/api/v3/checks/{body['uuid']}", expect=200)
        self.call("DELETE", f"/api/v3/checks/{c['uuid']}", expect=200)

        bad = [  # (body, the spec's request schema can express the rule)
            ({"name": None}, True),
            ({"name": 5}, True),
            ({"timeout": "60"}, True),
            ({"timeout": 0}, True),
            ({"grace": 31536001}, True),
            ({"manual_resume": "yes"}, True),
            ({"methods": "GET"}, True),
            ({"slug": "Bad Slug"}, True),
            ({"name": "n" * 101}, True),
            ({"unique": "name"}, True),
            ({"unique": ["bogus"]}, True),
            ({"timout": 60}, True),
            ({"schedule": "* * * *"}, None),  # cron syntax: beyond a JSON schema
            ({"tz": "Mars/Olympus"}, None),
            ({"channels": "nope"}, None),
        ]
        for body, expressible in bad:
            self.call("POST", "/api/v3/checks/", body, expect=400,
                      body_is_valid=False if expressible else None)
        self.call("POST", "/api/v3/checks/", raw="{not json", expect=400)
        self.call("POST", "/api/v3/checks/", raw="[1, 2]", expect=400)
        self.call("POST", "/api/v3/checks/", {"name": "x"}, key=None, expect=401)
        self.call("POST", "/api/v3/checks/", {"name": "x"}, key="ro", expect=401)
        self.call("POST", "/api/v3/checks/", {"name": "x"}, key="hcw_" + "b" * 28, expect=401)

    def step_single_check(self):
        u = self.alpha["uuid"]
        missing = str(uuid.uuid4())
        s, c, _ = self.call("GET", f"/api/v3/checks/{u}", expect=200)
        self.validate_as(c, "Check", "GET check (read-write key)")
        s, c, _ = self.call("GET", f"/api/v3/checks/{u}", key="ro", expect=200)
        self.validate_as(c, "CheckReadOnly", "GET check (read-only key)")
        s, c, _ = self.call("GET", f"/api/v3/checks/{self.cron['uuid']}", expect=200)
        self.call("GET", f"/api/v3/checks/{missing}", expect=404)
        self.call("GET", f"/api/v3/checks/{u}", key=None, expect=401)

        self.call("POST", f"/api/v3/checks/{u}", {"desc": "updated"}, expect=200,
                  body_is_valid=True)
        self.call("POST", f"/api/v3/checks/{u}", {"grace": "1h"}, expect=400,
                  body_is_valid=False)
        self.call("POST", f"/api/v3/checks/{u}", raw="{", expect=400)
        self.call("POST", f"/api/v3/checks/{missing}", {"desc": "x"}, expect=404)
        self.call("POST", f"/api/v3/checks/{u}", {"desc": "x"}, key="ro", expect=401)
        self.call("POST", f"/api/v3/checks/{u}", {"desc": "x"}, key=None, expect=401)

        gone = self.create(name="gone")
        self.call("DELETE", f"/api/v3/checks/{gone['uuid']}", expect=200)
        self.call("DELETE", f"/api/v3/checks/{gone['uuid']}", expect=404)
        self.call("DELETE", f"/api/v3/checks/{u}", key="ro", expect=401)
        self.call("DELETE", f"/api/v3/checks/{u}", key=None, expect=401)

        if self.other:
            foreign = self.create(key=self.other["api_key"], name="foreign")
            self.foreign = foreign["uuid"]
            f = self.foreign
            self.call("GET", f"/api/v3/checks/{f}", expect=403)
            self.call("POST", f"/api/v3/checks/{f}", {"desc": "x"}, expect=403)
            self.call("DELETE", f"/api/v3/checks/{f}", expect=403)
            self.call("POST", f"/api/v3/checks/{f}/pause", expect=403)
            self.call("POST", f"/api/v3/checks/{f}/resume", expect=403)
            self.call("GET", f"/api/v3/checks/{f}/pings/", expect=403)
            self.call("GET", f"/api/v3/checks/{f}/pings/1/body", expect=403)
            self.call("GET", f"/api/v3/checks/{f}/flips/", expect=403)
            self.call("PUT", f"/api/v1/checks/{f}", {"name": "mine"}, expect=403)

    def step_unique_key(self):
        s, listing, _ = self.call("GET", "/api/v3/checks/?slug=alpha", key="ro", expect=200)
        key = listing["checks"][0]["unique_key"]
        self.call("GET", f"/api/v3/checks/{key}", key="ro", expect=200)
        s, c, _ = self.call("GET", f"/api/v3/checks/{key}", expect=200)
        self.call("GET", f"/api/v3/checks/{'0' * 40}", key="ro", expect=404)
        self.call("GET", f"/api/v3/checks/{key}", key=None, expect=401)
        self.call("GET", f"/api/v3/checks/{key}/flips/", key="ro", expect=200)
        self.call("GET", f"/api/v3/checks/{key}/flips/?seconds=3600&start=0&end=9999999999",
                  key="ro", expect=200)
        self.call("GET", f"/api/v3/checks/{key}/flips/?seconds=-1", key="ro", expect=400)
        self.call("GET", f"/api/v3/checks/{'0' * 40}/flips/", key="ro", expect=404)
        self.call("GET", f"/api/v3/checks/{key}/flips/", key=None, expect=401)

    def step_pause_resume(self):
        u = self.alpha["uuid"]
        missing = str(uuid.uuid4())
        self.call("POST", f"/api/v3/checks/{u}/pause", expect=200)
        self.call("POST", f"/api/v3/checks/{u}/pause", {"api_key": self.rw}, key=None,
                  expect=200, body_is_valid=True)
        self.call("POST", f"/api/v3/checks/{u}/resume", expect=200)
        self.call("POST", f"/api/v3/checks/{u}/resume", expect=409)
        for action in ("pause", "resume"):
            self.call("POST", f"/api/v3/checks/{missing}/{action}", expect=404)
            self.call("POST", f"/api/v3/checks/{u}/{action}", key="ro", expect=401)
            self.call("POST", f"/api/v3/checks/{u}/{action}", key=None, expect=401)
            self.call("POST", f"/api/v3/checks/{u}/{action}", raw="{bad", expect=400)
        # Up again, for the badges.
        self.call("GET", f"/ping/{u}", key=None, expect=200)

    def step_pings(self):
        u = self.alpha["uuid"]
        missing = str(uuid.uuid4())
        s, body, _ = self.call("GET", f"/api/v3/checks/{u}/pings/", expect=200)
        pings = body["pings"] if isinstance(body, dict) else []
        with_body = [p for p in pings if p.get("body_url")]
        if with_body:
            self.call("GET", self.path_of(with_body[0]["body_url"]), expect=200)
        else:
            self.note("GET pings/: no check-in with a body_url, although POSTs carried bodies")
        if not any("exitstatus" in p for p in pings):
            self.note("GET pings/: no check-in carries exitstatus after /0 and /1 pings")
        without_body = [p for p in pings if not p.get("body_url")]
        if without_body:
            self.call("GET", f"/api/v3/checks/{u}/pings/{without_body[0]['n']}/body",
                      expect=404)
        self.call("GET", f"/api/v3/checks/{u}/pings/999999/body", expect=404)
        self.call("GET", f"/api/v3/checks/{missing}/pings/1/body", expect=404)
        self.call("GET", f"/api/v3/checks/{u}/pings/1/body", key="ro", expect=401)
        self.call("GET", f"/api/v3/checks/{u}/pings/1/body", key=None, expect=401)
        self.call("GET", f"/api/v3/checks/{missing}/pings/", expect=404)
        self.call("GET", f"/api/v3/checks/{u}/pings/", key="ro", expect=401)
        self.call("GET", f"/api/v3/checks/{u}/pings/", key=None, expect=401)

    def step_flips(self):
        u = self.alpha["uuid"]
        missing = str(uuid.uuid4())
        s, body, _ = self.call("GET", f"/api/v3/checks/{u}/flips/", expect=200)
        if isinstance(body, dict) and not body.get("flips"):
            self.note("GET flips/: no flips after fail, pause and resume")
        self.call("GET", f"/api/v3/checks/{u}/flips/", key="ro", expect=200)
        self.call("GET", f"/api/v3/checks/{u}/flips/?seconds=3600", expect=200)
        self.call("GET", f"/api/v3/checks/{u}/flips/?start=0&end=9999999999", expect=200)
        for bad in ("seconds=-1", "seconds=x", "start=abc", "end=99999999999",
                    "seconds=31536001"):
            self.call("GET", f"/api/v3/checks/{u}/flips/?{bad}", expect=400)
        self.call("GET", f"/api/v3/checks/{missing}/flips/", expect=404)
        self.call("GET", f"/api/v3/checks/{u}/flips/", key=None, expect=401)

    def step_channels_badges_status(self):
        self.call("GET", "/api/v3/channels/", expect=200)
        self.call("GET", "/api/v3/channels/", key="ro", expect=401)
        self.call("GET", "/api/v3/channels/", key=None, expect=401)
        self.call("GET", "/api/v3/badges/", key="ro", expect=200)
        self.call("GET", "/api/v3/badges/", key=None, expect=401)
        self.call("GET", "/api/v3/status/", key=None, expect=200)

    def step_badges(self):
        s, body, _ = self.call("GET", "/api/v3/badges/", expect=200)
        badges = body["badges"]
        for tag in ("*", "web"):
            for fmt in ("svg", "svg3", "json", "json3", "shields", "shields3"):
                self.call("GET", self.path_of(badges[tag][fmt]), key=None, expect=200)
        tagged = self.path_of(badges["web"]["json"])
        everything = self.path_of(badges["*"]["json"])
        for p in (tagged, everything):
            self.call("GET", p[:-4] + "png", key=None, expect=404)
            parts = p.split("/")  # ['', 'badge', key, signature[.fmt], [tag.fmt]]
            sig = parts[3]
            parts[3] = "AAAAAAAA-2" + (sig[sig.find("."):] if "." in sig else "")
            self.call("GET", "/".join(parts), key=None, expect=404)
        for p in (tagged, everything):
            self.call("OPTIONS", p, key=None, expect=204)
        check_badge = self.path_of(self.alpha["badge_url"])
        for states in ("2", "3"):
            for fmt in ("svg", "json", "shields"):
                p = check_badge.replace("/b/2/", f"/b/{states}/")[:-3] + fmt
                self.call("GET", p, key=None, expect=200)
        self.call("GET", check_badge[:-3] + "png", key=None, expect=404)
        self.call("GET", f"/b/2/{uuid.uuid4()}.svg", key=None, expect=404)
        self.call("OPTIONS", check_badge, key=None, expect=204)

    def step_v1(self):
        cid = str(uuid.uuid4())
        s, body, _ = self.call("PUT", f"/api/v1/checks/{cid}", {"name": "kept", "timeout": 60},
                               expect=201, body_is_valid=True)
        self.call("PUT", f"/api/v1/checks/{cid}", {"name": "kept", "timeout": 90, "grace": 120},
                  expect=200, body_is_valid=True)
        self.call("PUT", f"/api/v1/checks/{cid}", {"unique": ["name"]}, expect=400,
                  body_is_valid=False)
        self.call("PUT", f"/api/v1/checks/{cid}", {"timeout": "x"}, expect=400,
                  body_is_valid=False)
        self.call("PUT", f"/api/v1/checks/{cid}", raw="nope", expect=400)
        self.call("PUT", f"/api/v1/checks/{cid}", {"name": "x"}, key="ro", expect=401)
        self.call("PUT", f"/api/v1/checks/{cid}", {"name": "x"}, key=None, expect=401)

        s, doc, _ = self.call("GET", "/api/v1/export", expect=200)
        s, doc, _ = self.call("GET", "/api/v1/export?history=1", expect=200)
        self.call("GET", "/api/v1/export", key="ro", expect=401)
        self.call("GET", "/api/v1/export", key=None, expect=401)

        self.call("DELETE", f"/api/v3/checks/{cid}", expect=200)
        if isinstance(doc, dict):
            self.call("POST", "/api/v1/import", doc, expect=200, body_is_valid=True)
            self.call("POST", "/api/v1/import", dict(doc, version=2), expect=400,
                      body_is_valid=True)
            self.call("POST", "/api/v1/import", {"format": "something else", "version": 1},
                      expect=400, body_is_valid=False)
        self.call("POST", "/api/v1/import", raw="{", expect=400)
        self.call("POST", "/api/v1/import", {"format": "overdue-export", "version": 1},
                  key="ro", expect=401)
        self.call("POST", "/api/v1/import", {"format": "overdue-export", "version": 1},
                  key=None, expect=401)
        if self.other:
            s, theirs, _ = self.call("GET", "/api/v1/export", key=self.other["api_key"],
                                     expect=200)
            if isinstance(theirs, dict):
                self.call("POST", "/api/v1/import", theirs, expect=403)

    # ---- the incidents API (/api/v1) and the /ack pages -------------------------------------

    def expect_field(self, label, obj, field, want):
        """A contract check beyond the schema: obj[field] == want."""
        got = obj.get(field) if isinstance(obj, dict) else None
        if got != want:
            self.note(f"{label}: {field} is {got!r}, the contract says {want!r}")

    def step_v1_channels(self):
        hook = {"url": "http://127.0.0.1:9/hook"}
        s, ch, _ = self.call("POST", "/api/v1/channels",
                             {"name": "hook", "kind": "webhook", "config": hook},
                             expect=201, body_is_valid=True)
        if s != 201:
            raise AssertionError(f"cannot create a channel: {s} {ch}")
        self.channel = ch["id"]
        cid = ch["id"]
        self.expect_field("created webhook channel", ch, "kind", "webhook")
        secret = ch.get("config", {}).get("secret")
        if not isinstance(secret, str) or len(secret) < 16:
            self.note(f"created webhook channel: no generated secret in config: {ch}")

        # Every documented field of a webhook, then one channel of each other kind (created,
        # read back and deleted: their deliveries must never run).
        full = {"url": "https://example.com/hook", "method": "put",
                "headers": {"X-Team": "ops"}, "secret": "s" * 20,
                "body": '{"event": "{{event}}"}',
                "template": {"subject": "{{event}}", "body": "down"}}
        others = [
            ("webhook", full),
            ("email", {"to": ["ops@example.com"], "from": "overdue@example.com",
                       "smtp_url": "smtp://mail.example.com:587", "starttls": True,
                       "username": "u", "password": "p"}),
            ("email", {"to": "a@example.com, b@example.com", "from": "o@example.com",
                       "smtp_url": "smtps://mail.example.com"}),
            ("slack", {"url": "https://hooks.slack.com/services/T0/B0/X"}),
            ("mattermost", {"url": "https://chat.example.com/hooks/x"}),
            ("discord", {"url": "https://discord.com/api/webhooks/1/x"}),
            ("teams", {"url": "https://example.webhook.office.com/x"}),
            ("ntfy", {"topic": "overdue-test", "priority": 5, "token": "tk_abc"}),
            ("telegram", {"bot_token": "123456:ABC-DEF", "chat_id": 42}),
            ("telegram", {"bot_token": "123456:ABC-DEF", "chat_id": "@ops"}),
            ("pushover", {"user_key": "u1", "app_token": "a1", "priority": -2}),
            ("sms", {"account_sid": "AC1", "auth_token": "tok", "from": "+15550001111",
                     "to": "+15552223333"}),
            ("voice", {"account_sid": "AC1", "auth_token": "tok", "from": "overdue",
                       "to": "+15552223333", "base_url": "https://twilio.example.com"}),
            ("command", {"command": "true", "timeout_seconds": 5}),
        ]
        for kind, config in others:
            s, made, _ = self.call("POST", "/api/v1/channels", {"kind": kind, "config": config},
                                   expect=201, body_is_valid=True)
            if s == 201:
                self.expect_field(f"created {kind} channel", made, "name", kind)
                self.call("GET", f"/api/v1/channels/{made['id']}", key="ro", expect=200)
                self.call("DELETE", f"/api/v1/channels/{made['id']}", expect=200)

        s, listing, _ = self.call("GET", "/api/v1/channels", expect=200)
        if isinstance(listing, dict) and cid not in [c["id"] for c in listing["channels"]]:
            self.note("GET /api/v1/channels: the created channel is not listed")
        s, listing, _ = self.call("GET", "/api/v1/channels", key="ro", expect=200)
        s, one, _ = self.call("GET", f"/api/v1/channels/{cid}", expect=200)
        if isinstance(one, dict) and one.get("config", {}).get("secret") != secret:
            self.note("GET channel (read-write key): the secret differs from the created one")
        s, one, _ = self.call("GET", f"/api/v1/channels/{cid}", key="ro", expect=200)
        if isinstance(one, dict) and one.get("config", {}).get("secret") != "********":
            self.note(f"GET channel (read-only key): secret not masked: {one.get('config')}")
        self.call("GET", "/api/v1/channels", key=None, expect=401)
        self.call("GET", f"/api/v1/channels/{cid}", key=None, expect=401)
        self.call("GET", f"/api/v1/channels/{uuid.uuid4()}", expect=404)

        # PUT: create with an id, replace, bad body.
        pid = str(uuid.uuid4())
        self.call("PUT", f"/api/v1/channels/{pid}", {"name": "put", "kind": "slack",
                  "config": {"url": "https://hooks.slack.com/services/x"}}, expect=201,
                  body_is_valid=True)
        s, put, _ = self.call("PUT", f"/api/v1/channels/{pid}", {"name": "renamed",
                              "kind": "webhook", "config": hook}, expect=200,
                              body_is_valid=True)
        self.expect_field("replaced channel", put, "name", "renamed")
        self.call("PUT", f"/api/v1/channels/{pid}", {"kind": "webhook"}, expect=400,
                  body_is_valid=False)
        self.call("PUT", f"/api/v1/channels/{pid}", {"name": "x"}, key="ro", expect=403)
        self.call("PUT", f"/api/v1/channels/{pid}", {"name": "x"}, key=None, expect=401)
        self.call("DELETE", f"/api/v1/channels/{pid}", expect=200)
        self.call("DELETE", f"/api/v1/channels/{pid}", expect=404)
        self.call("DELETE", f"/api/v1/channels/{cid}", key="ro", expect=403)
        self.call("DELETE", f"/api/v1/channels/{cid}", key=None, expect=401)

        # Test message.
        self.call("POST", f"/api/v1/channels/{cid}/test", expect=202)
        self.call("POST", f"/api/v1/channels/{cid}/test", {"api_key": self.rw}, key=None,
                  expect=202, body_is_valid=True)
        self.call("POST", f"/api/v1/channels/{uuid.uuid4()}/test", expect=404)
        self.call("POST", f"/api/v1/channels/{cid}/test", raw="{", expect=400)
        self.call("POST", f"/api/v1/channels/{cid}/test", key="ro", expect=403)
        self.call("POST", f"/api/v1/channels/{cid}/test", key=None, expect=401)

        bad = [  # (body, the spec's request schema can express the rule)
            ({"name": "x", "kind": "pager", "config": {}}, True),
            ({"name": "x", "kind": "webhook"}, True),
            ({"kind": "webhook", "config": {}}, True),
            ({"kind": "webhook", "config": {"url": "ftp://example.com/x"}}, True),
            ({"kind": "webhook", "config": {"url": "http://example.com", "bogus": 1}}, True),
            ({"kind": "webhook", "config": {"url": "http://example.com", "secret": "short"}},
             True),
            ({"kind": "webhook", "config": {"url": "http://example.com", "method": "DELETE"}},
             True),
            ({"kind": "webhook", "config": hook, "colour": "red"}, True),
            ({"kind": "webhook", "config": "http://example.com"}, True),
            ({"name": 5, "kind": "webhook", "config": hook}, True),
            ({"name": "n" * 201, "kind": "webhook", "config": hook}, True),
            ({"kind": "ntfy", "config": {"topic": "bad topic!"}}, True),
            ({"kind": "sms", "config": {"account_sid": "AC1", "auth_token": "t",
                                        "from": "+15550001111", "to": "5552223333"}}, True),
            ({"kind": "command", "config": {"command": "true", "timeout_seconds": 301}}, True),
            ({"kind": "email", "config": {"to": [], "from": "o@example.com",
                                          "smtp_url": "smtp://mail.example.com"}}, True),
            ({"kind": "webhook", "config": {"url": "http://example.com",
                                            "headers": {"Idempotency-Key": "x"}}}, None),
            ({"kind": "webhook", "config": {"url": "http://example.com",
                                            "template": {"body": "{{#watch}}"}}}, None),
        ]
        for body, expressible in bad:
            self.call("POST", "/api/v1/channels", body, expect=400,
                      body_is_valid=False if expressible else None)
        self.call("POST", "/api/v1/channels", raw="{not json", expect=400)
        self.call("POST", "/api/v1/channels", raw="[1, 2]", expect=400)
        self.call("POST", "/api/v1/channels", {"kind": "webhook", "config": hook}, key="ro",
                  expect=403)
        self.call("POST", "/api/v1/channels", {"kind": "webhook", "config": hook}, key=None,
                  expect=401)

        if self.other:
            k = self.other["api_key"]
            s, theirs, _ = self.call("POST", "/api/v1/channels",
                                     {"kind": "webhook", "config": hook}, key=k, expect=201)
            if s == 201:
                f = theirs["id"]
                self.foreign_channel = f
                self.call("GET", f"/api/v1/channels/{f}", expect=404)
                self.call("PUT", f"/api/v1/channels/{f}", {"kind": "webhook", "config": hook},
                          expect=404, body_is_valid=True)
                self.call("DELETE", f"/api/v1/channels/{f}", expect=404)
                self.call("POST", f"/api/v1/channels/{f}/test", expect=404)

    def step_v1_policies(self):
        cid = self.channel
        # The check whose failure opens the incident; the policy names it.
        s, w, _ = self.call("POST", "/api/v3/checks/", {"name": "incident-watch",
                            "tags": "incident", "timeout": 3600, "grace": 3600}, expect=201)
        self.incident_watch = w["uuid"]
        full = {"name": "ops", "default": False, "watches": [self.incident_watch],
                "tags": ["incident"], "steps": [{"channels": [cid], "wait": 60},
                                                {"channels": [cid.upper()], "wait": 120}],
                "repeat": 2, "remind_every": 3600, "ack_timeout": 1800,
                "alert_after_failures": 1, "late_channels": [cid]}
        s, p, _ = self.call("POST", "/api/v1/policies", full, expect=201, body_is_valid=True)
        if s != 201:
            raise AssertionError(f"cannot create a policy: {s} {p}")
        self.policy = p["id"]
        for field in ("name", "repeat", "remind_every", "ack_timeout", "tags"):
            self.expect_field("created policy", p, field, full[field])
        s, minimal, _ = self.call("POST", "/api/v1/policies",
                                  {"name": "minimal", "steps": [{"channels": [cid]}],
                                   "watches": None, "repeat": None},
                                  expect=201, body_is_valid=True)
        if s == 201:
            self.expect_field("policy with defaults", minimal, "repeat", 1)
            self.expect_field("policy with defaults", minimal, "default", False)
            self.expect_field("policy with defaults", minimal, "steps",
                              [{"channels": [cid], "wait": 600}])
            self.call("DELETE", f"/api/v1/policies/{minimal['id']}", expect=200)
            self.call("DELETE", f"/api/v1/policies/{minimal['id']}", expect=404)

        self.call("GET", "/api/v1/policies", expect=200)
        self.call("GET", "/api/v1/policies", key="ro", expect=200)
        self.call("GET", "/api/v1/policies", key=None, expect=401)
        self.call("GET", f"/api/v1/policies/{self.policy}", expect=200)
        self.call("GET", f"/api/v1/policies/{self.policy}", key="ro", expect=200)
        self.call("GET", f"/api/v1/policies/{self.policy}", key=None, expect=401)
        self.call("GET", f"/api/v1/policies/{uuid.uuid4()}", expect=404)

        pid = str(uuid.uuid4())
        body = {"name": "put", "default": True, "steps": [{"channels": [cid], "wait": 30}]}
        self.call("PUT", f"/api/v1/policies/{pid}", body, expect=201, body_is_valid=True)
        self.call("PUT", f"/api/v1/policies/{pid}", dict(body, name="put again"), expect=200,
                  body_is_valid=True)
        self.call("PUT", f"/api/v1/policies/{pid}", {"name": "put"}, expect=400,
                  body_is_valid=False)
        self.call("PUT", f"/api/v1/policies/{pid}", body, key="ro", expect=403)
        self.call("PUT", f"/api/v1/policies/{pid}", body, key=None, expect=401)
        self.call("DELETE", f"/api/v1/policies/{pid}", key="ro", expect=403)
        self.call("DELETE", f"/api/v1/policies/{pid}", key=None, expect=401)
        self.call("DELETE", f"/api/v1/policies/{pid}", expect=200)

        # A channel a policy uses cannot be deleted.
        self.call("DELETE", f"/api/v1/channels/{cid}", expect=409)

        step = {"channels": [cid]}
        bad = [
            ({"name": "x"}, True),
            ({"name": "x", "steps": []}, True),
            ({"name": "x", "steps": [{"channels": []}]}, True),
            ({"name": "x", "steps": [{"channels": [cid], "wait": 0}]}, True),
            ({"name": "x", "steps": [{"channels": [cid], "wait": "60"}]}, True),
            ({"name": "x", "steps": [{"channels": [cid], "delay": 5}]}, True),
            ({"name": "x", "steps": [{"channels": ["nope"]}]}, True),
            ({"name": "x", "steps": [step] * 101}, True),
            ({"steps": [step]}, True),
            ({"name": "", "steps": [step]}, True),
            ({"name": "x", "steps": [step], "repeat": 0}, True),
            ({"name": "x", "steps": [step], "repeat": 101}, True),
            ({"name": "x", "steps": [step], "remind_every": -1}, True),
            ({"name": "x", "steps": [step], "ack_timeout": 31622401}, True),
            ({"name": "x", "steps": [step], "alert_after_failures": 0}, True),
            ({"name": "x", "steps": [step], "default": "yes"}, True),
            ({"name": "x", "steps": [step], "tags": ["a b"]}, True),
            ({"name": "x", "steps": [step], "tags": "web"}, True),
            ({"name": "x", "steps": [step], "watches": ["nope"]}, True),
            ({"name": "x", "steps": [step], "escalate": True}, True),
            ({"name": "x", "steps": [{"channels": [str(uuid.uuid4())]}]}, None),
            ({"name": "x", "steps": [step], "late_channels": [str(uuid.uuid4())]}, None),
        ]
        if getattr(self, "foreign_channel", None):
            bad.append(({"name": "x", "steps": [{"channels": [self.foreign_channel]}]}, None))
        for body, expressible in bad:
            self.call("POST", "/api/v1/policies", body, expect=400,
                      body_is_valid=False if expressible else None)
        self.call("POST", "/api/v1/policies", raw="{", expect=400)
        self.call("POST", "/api/v1/policies", {"name": "x", "steps": [step]}, key="ro",
                  expect=403)
        self.call("POST", "/api/v1/policies", {"name": "x", "steps": [step]}, key=None,
                  expect=401)

        if self.other:
            k = self.other["api_key"]
            hook = {"url": "http://127.0.0.1:9/hook"}
            s, ch, _ = self.call("POST", "/api/v1/channels", {"kind": "webhook", "config": hook},
                                 key=k, expect=201)
            if s == 201:
                s, theirs, _ = self.call("POST", "/api/v1/policies",
                                         {"name": "theirs", "steps": [{"channels": [ch["id"]]}]},
                                         key=k, expect=201, body_is_valid=True)
                if s == 201:
                    f = theirs["id"]
                    self.call("GET", f"/api/v1/policies/{f}", expect=404)
                    self.call("PUT", f"/api/v1/policies/{f}", {"name": "mine", "steps": [step]},
                              expect=404, body_is_valid=True)
                    self.call("DELETE", f"/api/v1/policies/{f}", expect=404)

    def step_v1_silences(self):
        alpha = self.alpha["uuid"]
        s, sil, _ = self.call("POST", "/api/v1/silences",
                              {"tag": "maint", "duration": 3600, "reason": "window"},
                              expect=201, body_is_valid=True)
        if s != 201:
            raise AssertionError(f"cannot create a silence: {s} {sil}")
        sid = sil["id"]
        self.expect_field("tag silence", sil, "watch", None)
        self.expect_field("tag silence", sil, "tag", "maint")
        s, ws, _ = self.call("POST", "/api/v1/silences",
                             {"watch": alpha.upper(), "starts": "2030-01-01T00:00:00Z",
                              "ends": "2030-01-01T02:00:00.5+01:00", "reason": None},
                             expect=201, body_is_valid=True)
        if s == 201:
            self.expect_field("watch silence", ws, "watch", alpha)
            self.expect_field("watch silence", ws, "ends", "2030-01-01T01:00:00.500000+00:00")
        # The whole project, in the future (it must not hold this test's notifications).
        self.call("POST", "/api/v1/silences", {"starts": "2030-02-01T00:00:00Z",
                  "duration": 60, "tag": None, "watch": None, "ends": None}, expect=201,
                  body_is_valid=True)
        self.call("POST", "/api/v1/silences", {"api_key": self.rw, "duration": 1,
                  "starts": "2030-03-01 00:00:00+00:00"}, key=None, expect=201,
                  body_is_valid=True)

        s, listing, _ = self.call("GET", "/api/v1/silences", expect=200)
        if isinstance(listing, dict) and sid not in [x["id"] for x in listing["silences"]]:
            self.note("GET /api/v1/silences: the created silence is not listed")
        self.call("GET", "/api/v1/silences", key="ro", expect=200)
        self.call("GET", "/api/v1/silences", key=None, expect=401)
        self.call("GET", f"/api/v1/silences/{sid}", expect=200)
        self.call("GET", f"/api/v1/silences/{sid}", key="ro", expect=200)
        self.call("GET", f"/api/v1/silences/{sid}", key=None, expect=401)
        self.call("GET", f"/api/v1/silences/{uuid.uuid4()}", expect=404)

        bad = [
            ({"reason": "no end"}, True),
            ({}, True),
            ({"tag": "x", "ends": "tomorrow"}, True),
            ({"tag": "x", "ends": "2030-01-01T00:00:00"}, True),  # no offset
            ({"watch": alpha, "tag": "x", "duration": 60}, True),
            ({"duration": 60, "ends": "2030-01-01T00:00:00Z"}, True),
            ({"duration": 0}, True),
            ({"duration": 31622401}, True),
            ({"duration": "60"}, True),
            ({"duration": 60, "colour": 1}, True),
            ({"watch": "nope", "duration": 60}, True),
            ({"tag": 5, "duration": 60}, True),
            ({"ends": "2020-01-01T00:00:00Z"}, None),  # before starts (now)
            ({"watch": str(uuid.uuid4()), "duration": 60}, None),  # no such check
        ]
        for body, expressible in bad:
            self.call("POST", "/api/v1/silences", body, expect=400,
                      body_is_valid=False if expressible else None)
        self.call("POST", "/api/v1/silences", raw="{", expect=400)
        self.call("POST", "/api/v1/silences", {"duration": 60}, key="ro", expect=403)
        self.call("POST", "/api/v1/silences", {"duration": 60}, key=None, expect=401)

        self.call("DELETE", f"/api/v1/silences/{sid}", key="ro", expect=403)
        self.call("DELETE", f"/api/v1/silences/{sid}", key=None, expect=401)
        self.call("DELETE", f"/api/v1/silences/{sid}", expect=200)
        self.call("DELETE", f"/api/v1/silences/{sid}", expect=404)
        self.call("GET", f"/api/v1/silences/{sid}", expect=404)
        if self.other:
            k = self.other["api_key"]
            s, theirs, _ = self.call("POST", "/api/v1/silences", {"duration": 60}, key=k,
                                     expect=201)
            if s == 201:
                self.call("GET", f"/api/v1/silences/{theirs['id']}", expect=404)
                self.call("DELETE", f"/api/v1/silences/{theirs['id']}", expect=404)
            # The other project never had an incident.
            s, empty, _ = self.call("GET", "/api/v1/incidents", key=k, expect=200)
            if isinstance(empty, dict) and empty.get("incidents") != []:
                self.note(f"GET /api/v1/incidents (project without incidents): {empty}")

    def ack_token(self, incident_id, expires):
        """An /ack token as the server signs it (api/ack_link.cc), with its secret."""
        with open(os.path.join(self.server.data_dir, "secret.key")) as f:
            secret = f.readline().strip()
        sig = hmac.new(secret.encode(), f"ack:{incident_id}:{expires}".encode(),
                       hashlib.sha256).hexdigest()[:32]
        return f"{incident_id}.{expires}.{sig}"

    def step_v1_incidents(self):
        w = self.incident_watch
        self.call("GET", f"/ping/{w}/fail", key=None, expect=200)

        def opened():
            s, body, _ = self.call("GET", f"/api/v1/incidents?state=active&watch={w}",
                                   expect=200)
            return body["incidents"] if isinstance(body, dict) and body["incidents"] else None
        incidents = wait_for(opened, timeout=15, interval=0.2, what="an incident to open")
        inc = incidents[0]
        iid = inc["id"]
        label = f"incident {iid}"
        self.expect_field(label, inc, "state", "open")
        self.expect_field(label, inc, "cause", "fail")
        self.expect_field(label, inc, "watch", w)
        self.expect_field(label, inc, "policy", "ops")
        self.expect_field(label, inc, "step", 1)
        self.expect_field(label, inc, "round", 1)

        for q in ("", "?state=open,acknowledged", "?state=resolved", "?state=active",
                  "?cause=fail", "?limit=1", f"?before={iid + 1}", f"?watch={w.upper()}"):
            self.call("GET", f"/api/v1/incidents{q}", expect=200)
        self.call("GET", "/api/v1/incidents", key="ro", expect=200)
        for q in ("?state=bogus", "?watch=nope", "?limit=0", "?limit=1001", "?limit=x",
                  "?before=x", "?before=0"):
            self.call("GET", f"/api/v1/incidents{q}", expect=400)
        self.call("GET", "/api/v1/incidents", key=None, expect=401)
        self.call("GET", "/api/v1/incidents", key="hcw_" + "a" * 28, expect=401)

        s, detail, _ = self.call("GET", f"/api/v1/incidents/{iid}", expect=200)
        if isinstance(detail, dict):
            kinds = [e["kind"] for e in detail.get("timeline", [])]
            if "opened" not in kinds:
                self.note(f"{label}: no 'opened' timeline entry: {kinds}")
            if not detail.get("notifications"):
                self.note(f"{label}: no notification, although policy 'ops' names a channel")
        self.call("GET", f"/api/v1/incidents/{iid}", key="ro", expect=200)
        self.call("GET", f"/api/v1/incidents/{iid}", key=None, expect=401)
        self.call("GET", "/api/v1/incidents/999999", expect=404)

        # Notifications.
        for q in ("", "?status=pending,delivered,failed,held", f"?incident={iid}", "?limit=5",
                  "?status=held"):
            self.call("GET", f"/api/v1/notifications{q}", expect=200)
        self.call("GET", "/api/v1/notifications", key="ro", expect=200)
        for q in ("?status=sent", "?incident=x", "?incident=0", "?limit=0", "?limit=1001"):
            self.call("GET", f"/api/v1/notifications{q}", expect=400)
        self.call("GET", "/api/v1/notifications", key=None, expect=401)

        # The acknowledgement page: GET never acknowledges, the button (POST) does.
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        now = int(time.time())
        token = self.ack_token(iid, now + 3600)
        expired = self.ack_token(iid, now - 10)
        forged = token[:-4] + ("0000" if not token.endswith("0000") else "1111")
        missing = self.ack_token(999999, now + 3600)
        self.call("GET", f"/ack/{token}", key=None, expect=200)
        s, after_get, _ = self.call("GET", f"/api/v1/incidents/{iid}", expect=200)
        self.expect_field(f"{label} after GET /ack", after_get, "state", "open")
        for bad, want in ((forged, 404), ("nope", 404), (missing, 404), (expired, 410)):
            self.call("GET", f"/ack/{bad}", key=None, expect=want)
            self.call("POST", f"/ack/{bad}", raw="by=x", headers=form, key=None, expect=want)
        s, page, _ = self.call("POST", f"/ack/{token}", raw="by=link+tester", headers=form,
                               key=None, expect=200)
        s, acked, _ = self.call("POST", f"/api/v1/incidents/{iid}/ack", expect=200)
        self.expect_field(f"{label} acknowledged by link", acked, "state", "acknowledged")
        self.expect_field(f"{label} acknowledged by link", acked, "acked_by", "link tester")

        # Acknowledge / un-acknowledge / notes / resolve through the API.
        base = f"/api/v1/incidents/{iid}"
        s, un, _ = self.call("POST", f"{base}/unack", {"by": "tester"}, expect=200,
                             body_is_valid=True)
        self.expect_field(f"{label} un-acknowledged", un, "state", "open")
        self.call("POST", f"{base}/unack", expect=409)
        s, ack, _ = self.call("POST", f"{base}/ack", {"by": "tester"}, expect=200,
                              body_is_valid=True)
        self.expect_field(f"{label} acknowledged", ack, "state", "acknowledged")
        self.expect_field(f"{label} acknowledged", ack, "acked_by", "tester")
        self.call("POST", f"{base}/ack", {"api_key": self.rw, "by": None}, key=None,
                  expect=200, body_is_valid=True)
        s, note, _ = self.call("POST", f"{base}/notes", {"text": "looking", "by": "tester"},
                               expect=201, body_is_valid=True)
        self.expect_field("note", note, "kind", "note")
        self.expect_field("note", note, "message", "looking")
        self.expect_field("note", note, "actor", "tester")
        self.call("POST", f"{base}/notes", {"text": "no author"}, expect=201, body_is_valid=True)
        for action, body, expressible in (
                ("ack", {"who": "x"}, True), ("ack", {"by": 5}, True),
                ("ack", {"by": "b" * 201}, True), ("unack", {"reason": "x"}, True),
                ("notes", {}, True), ("notes", {"text": ""}, True),
                ("notes", {"text": "t" * 10001}, True), ("notes", {"text": 5}, True),
                ("notes", {"text": "x", "at": "now"}, True),
                ("resolve", {}, True), ("resolve", {"reason": ""}, True),
                ("resolve", {"reason": "x", "text": "y"}, True)):
            self.call("POST", f"{base}/{action}", body, expect=400,
                      body_is_valid=False if expressible else None)
        for action in ("ack", "unack", "notes", "resolve"):
            body = {"notes": {"text": "x"}, "resolve": {"reason": "x"}}.get(action)
            self.call("POST", f"{base}/{action}", raw="{", expect=400)
            self.call("POST", f"{base}/{action}", body, key="ro", expect=403)
            self.call("POST", f"{base}/{action}", body, key=None, expect=401)
            self.call("POST", f"/api/v1/incidents/999999/{action}", body, expect=404)

        s, res, _ = self.call("POST", f"{base}/resolve", {"reason": "fixed by hand",
                              "by": "tester"}, expect=200, body_is_valid=True)
        self.expect_field(f"{label} resolved", res, "state", "resolved")
        self.expect_field(f"{label} resolved", res, "resolved_by", "tester")
        self.expect_field(f"{label} resolved", res, "resolve_reason", "fixed by hand")
        self.expect_field(f"{label} resolved", res, "next_escalation_at", None)
        self.call("POST", f"{base}/resolve", {"reason": "again"}, expect=409)
        self.call("POST", f"{base}/ack", expect=409)
        self.call("POST", f"{base}/unack", expect=409)
        self.call("POST", f"{base}/notes", {"text": "post-mortem"}, expect=201)
        self.call("GET", f"/ack/{token}", key=None, expect=200)  # "Already resolved"
        self.call("POST", f"/ack/{token}", raw="", headers=form, key=None, expect=409)

        s, detail, _ = self.call("GET", f"/api/v1/incidents/{iid}", expect=200)
        if isinstance(detail, dict):
            kinds = [e["kind"] for e in detail.get("timeline", [])]
            for k in ("opened", "acknowledged", "unacknowledged", "note", "resolved"):
                if k not in kinds:
                    self.note(f"{label}: no '{k}' timeline entry after the scenario: {kinds}")
        self.call("GET", f"/api/v1/incidents?state=resolved&watch={w}", expect=200)
        self.call("DELETE", f"/api/v3/checks/{w}", expect=200)

    def step_v1_methods(self):
        """Methods a path does not document: 405 with a JSON error (not spec operations)."""
        cid = getattr(self, "channel", str(uuid.uuid4()))
        pid = getattr(self, "policy", str(uuid.uuid4()))
        for method, p in (("PATCH", "/api/v1/channels"), ("DELETE", "/api/v1/channels"),
                          ("POST", f"/api/v1/channels/{cid}"),
                          ("GET", f"/api/v1/channels/{cid}/test"),
                          ("PATCH", "/api/v1/policies"), ("POST", f"/api/v1/policies/{pid}"),
                          ("PUT", "/api/v1/silences"), ("POST", "/api/v1/incidents"),
                          ("DELETE", "/api/v1/incidents/1"), ("GET", "/api/v1/incidents/1/ack"),
                          ("POST", "/api/v1/notifications")):
            status, body, hdrs = self.server.request(method, p, headers={"X-Api-Key": self.rw})
            err = None
            try:
                err = json.loads(body).get("error", "")
            except (ValueError, AttributeError):
                pass
            if status != 405 or not (err or "").startswith("method not allowed"):
                self.note(f"{method} {p}: expected 405 {{\"error\": \"method not allowed...\"}}, "
                          f"got {status} {_short(body)}")

    def step_operations(self):
        self.call("GET", "/healthz", key=None, expect=200)
        self.call("GET", "/readyz", key=None, expect=200)
        self.call("GET", "/metrics", key=None, expect=200)
        self.call("GET", "/", key=None, expect=200)

    def step_cors(self):
        u = self.alpha["uuid"]
        s, listing, _ = self.call("GET", "/api/v3/checks/?slug=alpha", key="ro", expect=200)
        key = listing["checks"][0]["unique_key"]
        for p in ("/api/v3/checks/", f"/api/v3/checks/{u}", f"/api/v3/checks/{key}",
                  f"/api/v3/checks/{u}/pause", f"/api/v3/checks/{u}/resume",
                  f"/api/v3/checks/{u}/pings/", f"/api/v3/checks/{u}/pings/1/body",
                  f"/api/v3/checks/{u}/flips/", f"/api/v3/checks/{key}/flips/",
                  "/api/v3/channels/", "/api/v3/badges/"):
            self.call("OPTIONS", p, key=None, expect=204)
        # A method an endpoint does not list: 405 (not documented as an operation).
        for method, p in (("PUT", "/api/v3/checks/"), ("PATCH", f"/api/v3/checks/{u}")):
            status, _, _ = self.server.request(method, p, headers={"X-Api-Key": self.rw})
            if status != 405:
                self.note(f"{method} {p}: expected 405 for an undocumented method, got {status}")

    def step_check_limit(self):
        if not self.other:
            return
        key = self.other["api_key"]
        s, listing, _ = self.call("GET", "/api/v3/checks/", key=key, expect=200)
        have = len(listing["checks"])
        for i in range(have, 10):
            self.create(key=key, name=f"filler{i}")
        self.call("POST", "/api/v3/checks/", {"name": "one too many"}, key=key, expect=403)
        self.call("PUT", f"/api/v1/checks/{uuid.uuid4()}", {"name": "too many"}, key=key,
                  expect=403)


def _short(value, limit=200):
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return text if len(text) <= limit else text[:limit] + "..."


if __name__ == "__main__":
    unittest.main()

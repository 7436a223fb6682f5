"""Replays ping_cases.json (healthchecks.io's ping behaviour) against the real server."""
import json
import os
import sys
import unittest
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "system"))
from harness import Server  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = json.load(open(os.path.join(HERE, "ping_cases.json")))["cases"]


def toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    return json.dumps(v)


class PingConformanceTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # One watch per case, all declared up front in one config.
        cls.ids = [str(uuid.uuid4()) for _ in CASES]
        cls.slugs = [f"case-{i}" for i in range(len(CASES))]
        config = ""
        for i, case in enumerate(CASES):
            config += f'[[watch]]\nid = "{cls.ids[i]}"\nname = "case {i}"\nperiod = "1h"\n'
            settings = dict(case["watch"])
            settings.setdefault("slug", f"unslugged-{i}")
            for k, v in settings.items():
                if v == "{slug}":
                    v = cls.slugs[i]
                config += f"{k} = {toml_value(v)}\n"
            config += "\n"
        cls.server = Server(config=config)
        cls.server.start()

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()

    def test_cases(self):
        s = self.server
        for i, case in enumerate(CASES):
            with self.subTest(case=case["name"]):
                subs = {"{uuid}": self.ids[i], "{uuid_hex}": self.ids[i].replace("-", ""),
                        "{key}": s.keys["ping_key"], "{slug}": self.slugs[i],
                        "{SLUG}": self.slugs[i].upper(), "{rid}": str(uuid.uuid4()),
                        "{rid2}": str(uuid.uuid4())}
                for method, path, body in case["requests"]:
                    for k, v in subs.items():
                        path = path.replace(k, v)
                    payload = b"x" * int(body[1:]) if body.startswith("@") else body.encode()
                    status, got, headers = s.request(method, path, body=payload or None)
                exp = case["expect"]
                self.assertEqual(status, exp["status"], got)
                if "body" in exp:
                    self.assertEqual(got.decode(), exp["body"])
                for h, v in exp.get("headers", {}).items():
                    self.assertEqual(headers.get(h), v, h)
                self.check_effect(i, case["then"])

    def check_effect(self, i, then):
        s = self.server
        check = s.check(self.ids[i])
        pings = s.pings(self.ids[i])
        for field in ("status", "n_pings", "started", "last_ping"):
            if field in then:
                self.assertEqual(check[field], then[field], field)
        if "types" in then:
            self.assertEqual([p["type"] for p in pings], then["types"])
        if "method" in then:
            self.assertEqual(pings[0]["method"], then["method"])
        if then.get("has_duration"):
            self.assertIn("duration", pings[0])
            self.assertIn("last_duration", check)
        if then.get("rid"):
            self.assertIsNotNone(pings[0]["rid"])
        if "body_len" in then:
            n = pings[0]["n"]
            status, body, _ = s.request(
                "GET", f"/api/v3/checks/{self.ids[i]}/pings/{n}/body",
                headers={"X-Api-Key": s.keys["api_key"]})
            self.assertEqual((status, len(body)), (200, then["body_len"]))


class CreateBySlugTest(unittest.TestCase):
    def test_create_then_ok_then_ambiguous(self):
        s = Server()
        self.addCleanup(s.cleanup)
        s.start()
        # Two watches with one slug: one made by a ping, one declared in the config later.
        self.assertEqual(s.request("GET", s.slug_url("dup") + "?create=1")[0], 201)
        self.assertEqual(s.stop(), 0)
        with open(os.path.join(s.data_dir, "overdue.toml"), "w") as f:
            f.write('[[watch]]\nid = "%s"\nname = "b"\nslug = "dup"\n' % uuid.uuid4())
        s.config_path = os.path.join(s.data_dir, "overdue.toml")
        s.start()
        self.assertEqual(s.request("GET", s.slug_url("fresh") + "?create=1")[:2],
                         (201, b"Created"))
        self.assertEqual(s.request("GET", s.slug_url("fresh") + "?create=1")[:2], (200, b"OK"))
        self.assertEqual(s.request("GET", s.slug_url("fresh"))[:2], (200, b"OK"))
        self.assertEqual(s.request("GET", s.slug_url("dup"))[:2], (409, b"ambiguous slug"))
        # Bad input with ?create=1 creates nothing.
        self.assertEqual(s.request("GET", s.slug_url("other") + "?create=1&rid=bad")[0], 400)
        self.assertEqual(s.request("GET", s.slug_url("other"))[0], 404)
        _, checks = s.api("/api/v3/checks/")
        fresh = [c for c in checks["checks"] if c["slug"] == "fresh"]
        self.assertEqual(len(fresh), 1)
        self.assertEqual(fresh[0]["n_pings"], 3)
        self.assertEqual(fresh[0]["timeout"], 86400)
        self.assertEqual(fresh[0]["grace"], 3600)


if __name__ == "__main__":
    unittest.main()

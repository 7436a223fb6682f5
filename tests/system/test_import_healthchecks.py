"""`overdue import --from-healthchecks`: a healthchecks project (fake_healthchecks.py serving
tests/fixtures/healthchecks/*.json) copied into a real overdue server. Every check overdue can
represent arrives with the same UUID, name, slug, tags, schedule, grace and settings, so its
ping URL keeps working; paused stays paused; the OnCalendar check is reported and skipped;
--dry-run changes nothing; a second run creates nothing."""
import json
import os
import shutil
import subprocess
import tempfile
import unittest

from fake_healthchecks import READ_ONLY_KEY, READ_WRITE_KEY, FakeHealthchecks, load_fixtures
from harness import BIN, Server

# The settings healthchecks' v3 create call takes, which the import must carry over.
SPEC_FIELDS = ("name", "slug", "tags", "desc", "grace", "manual_resume", "methods", "start_kw",
               "success_kw", "failure_kw", "filter_subject", "filter_body", "filter_http_body",
               "filter_default_fail")

EXIT_AUTH = 4
EXIT_REJECTED = 5  # some checks skipped (OnCalendar)


class ImportHealthchecksTest(unittest.TestCase):
    def setUp(self):
        self.fixtures = load_fixtures()
        self.representable = {k: c for k, c in self.fixtures.items() if k != "oncalendar"}
        self.oncalendar = self.fixtures["oncalendar"]
        self.fake = FakeHealthchecks(self.fixtures).start()
        self.addCleanup(self.fake.stop)
        self.server = Server()
        self.addCleanup(self.server.cleanup)
        self.server.start()
        self.home = tempfile.mkdtemp(prefix="overdue-import-home-")
        self.addCleanup(shutil.rmtree, self.home, True)

    def run_import(self, *extra, key=READ_WRITE_KEY, expect=EXIT_REJECTED):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("OVERDUE_") and k != "XDG_CONFIG_HOME"}
        env["HOME"] = self.home
        args = [BIN, "import", "--from-healthchecks", self.fake.url, "--api-key", key,
                "--to-url", f"http://127.0.0.1:{self.server.port}",
                "--to-api-key", self.server.keys["api_key"], *extra]
        r = subprocess.run(args, capture_output=True, text=True, timeout=120, env=env)
        self.assertEqual(r.returncode, expect, f"stdout: {r.stdout}\nstderr: {r.stderr}")
        return r

    def overdue_checks(self):
        status, body = self.server.api("/api/v3/checks/")
        self.assertEqual(status, 200)
        return {c["uuid"]: c for c in body["checks"]}

    def line_for(self, output, uuid):
        lines = [line for line in output.splitlines() if uuid in line]
        self.assertEqual(len(lines), 1, output)
        return lines[0]

    def test_dry_run_changes_nothing_and_prints_the_plan(self):
        r = self.run_import("--dry-run")
        self.assertEqual(self.overdue_checks(), {})
        for c in self.representable.values():
            self.assertTrue(self.line_for(r.stdout, c["uuid"]).startswith("create "))
        self.assertTrue(self.line_for(r.stdout, self.oncalendar["uuid"]).startswith("skip "))
        self.assertIn("Nothing was changed", r.stdout)
        self.assertIn(f"{len(self.representable)} to create", r.stdout)
        self.assertEqual(self.fake.writes(), [])

    def test_import_recreates_every_representable_check(self):
        r = self.run_import()
        self.assertIn(f"{len(self.representable)} created", r.stdout)
        got = self.overdue_checks()
        self.assertEqual(set(got), {c["uuid"] for c in self.representable.values()})
        for name, want in self.representable.items():
            have = got[want["uuid"]]
            for field in SPEC_FIELDS:
                self.assertEqual(have[field], want[field], f"{name}.{field}")
            if "timeout" in want:
                self.assertEqual(have.get("timeout"), want["timeout"], name)
                self.assertNotIn("schedule", have, name)
            else:
                self.assertEqual((have.get("schedule"), have.get("tz")),
                                 (want["schedule"], want["tz"]), name)
                self.assertNotIn("timeout", have, name)
        self.assertEqual(got[self.fixtures["paused"]["uuid"]]["status"], "paused")
        self.assertNotEqual(got[self.fixtures["simple"]["uuid"]]["status"], "paused")
        self.assertEqual(got[self.fixtures["post_only"]["uuid"]]["methods"], "POST")
        # Only reads went to healthchecks.
        self.assertEqual(self.fake.writes(), [])

    def test_oncalendar_check_is_reported_and_skipped(self):
        r = self.run_import()
        line = self.line_for(r.stdout, self.oncalendar["uuid"])
        self.assertTrue(line.startswith("skip "), line)
        self.assertIn("OnCalendar", line)
        self.assertIn(self.oncalendar["name"], line)
        self.assertIn("1 skipped", r.stdout)
        self.assertIn("skipped", r.stderr)
        self.assertEqual(self.server.api(f"/api/v3/checks/{self.oncalendar['uuid']}")[0], 404)

    def test_ping_url_of_an_imported_check_works(self):
        self.run_import()
        uuid = self.fixtures["simple"]["uuid"]
        status, body, _ = self.server.request("GET", f"/ping/{uuid}")
        self.assertEqual((status, body), (200, b"OK"))
        self.assertEqual(self.server.check(uuid)["status"], "up")
        # A POST-only check ignores GET pings, as healthchecks does, and takes POSTs.
        post_only = self.fixtures["post_only"]["uuid"]
        status, _, _ = self.server.request("POST", f"/ping/{post_only}", body=b"")
        self.assertEqual(status, 200)
        self.assertEqual(self.server.check(post_only)["n_pings"], 1)

    def test_second_run_creates_nothing(self):
        self.run_import()
        first = self.overdue_checks()
        r = self.run_import()
        self.assertIn("0 created", r.stdout)
        self.assertIn("0 updated", r.stdout)
        self.assertIn(f"{len(self.representable)} unchanged", r.stdout)
        self.assertEqual(set(self.overdue_checks()), set(first))
        # The dry run agrees.
        r = self.run_import("--dry-run")
        self.assertIn("0 to create, 0 to update", r.stdout)

    def test_changed_check_is_updated_in_place(self):
        self.run_import()
        uuid = self.fixtures["tagged"]["uuid"]
        status, _, _ = self.server.request(
            "POST", f"/api/v3/checks/{uuid}", body=json.dumps({"grace": 60}).encode(),
            headers={"X-Api-Key": self.server.keys["api_key"],
                     "Content-Type": "application/json"})
        self.assertEqual(status, 200)
        r = self.run_import("--dry-run")
        line = self.line_for(r.stdout, uuid)
        self.assertTrue(line.startswith("update "), line)
        self.assertIn("grace", line)
        self.assertEqual(self.server.check(uuid)["grace"], 60)
        r = self.run_import()
        self.assertTrue(self.line_for(r.stdout, uuid).startswith("updated "))
        self.assertEqual(self.server.check(uuid)["grace"], self.fixtures["tagged"]["grace"])
        self.assertEqual(len(self.overdue_checks()), len(self.representable))

    def test_read_only_key_is_refused_with_a_clear_message(self):
        r = self.run_import(key=READ_ONLY_KEY, expect=EXIT_AUTH)
        self.assertIn("read-write key", r.stderr)
        self.assertEqual(self.overdue_checks(), {})

    def test_wrong_key_is_refused(self):
        r = self.run_import(key="hc-wrong-key-456789abcdefghijklm", expect=EXIT_AUTH)
        self.assertIn("wrong api key", r.stderr)
        self.assertEqual(self.overdue_checks(), {})

    def test_wrong_overdue_key_is_refused_before_any_write(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("OVERDUE_")}
        env["HOME"] = self.home
        r = subprocess.run(
            [BIN, "import", "--from-healthchecks", self.fake.url, "--api-key", READ_WRITE_KEY,
             "--to-url", f"http://127.0.0.1:{self.server.port}",
             "--to-api-key", self.server.keys["api_key_readonly"]],
            capture_output=True, text=True, timeout=120, env=env)
        self.assertEqual(r.returncode, EXIT_AUTH, r.stderr)
        self.assertEqual(self.overdue_checks(), {})


if __name__ == "__main__":
    unittest.main()

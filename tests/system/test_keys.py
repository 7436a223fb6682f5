"""Projects and keys managed with `overdue projects|keys` while the server runs: the server
rereads them from the store every second, so new keys work, revoked keys stop working and
ping keys can be rotated or set without a restart."""
import json
import subprocess
import unittest

from harness import BIN, Server, wait_for

# The server refreshes every second; allow for slow CI machines.
TAKES_EFFECT = 10.0


class KeysTest(unittest.TestCase):
    def setUp(self):
        self.server = Server()
        self.addCleanup(self.server.cleanup)
        self.server.start()

    def cli(self, *args, expect=0):
        r = subprocess.run([BIN, *args, "--data-dir", self.server.data_dir],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, expect, f"{args}: {r.stdout} {r.stderr}")
        return r

    def status_with(self, key):
        return self.server.api("/api/v3/checks/", key=key)[0]

    def test_created_key_works_then_revoked_key_is_refused(self):
        made = json.loads(self.cli("keys", "create", "--name", "ci", "--json").stdout)
        key = made["key"]
        self.assertTrue(key.startswith("hcw_"))
        wait_for(lambda: self.status_with(key) == 200, timeout=TAKES_EFFECT,
                 what="the new key to be accepted")

        listed = self.cli("keys", "list").stdout
        self.assertIn(made["prefix"], listed)
        self.assertNotIn(key, listed)

        self.cli("keys", "revoke", made["prefix"])
        wait_for(lambda: self.status_with(key) == 401, timeout=TAKES_EFFECT,
                 what="the revoked key to be refused")
        status, body = self.server.api("/api/v3/checks/", key=key)
        self.assertEqual((status, body), (401, {"error": "wrong api key"}))
        # The keys printed at start-up are untouched.
        self.assertEqual(self.status_with(self.server.keys["api_key"]), 200)

    def test_read_only_key_cannot_write(self):
        made = json.loads(self.cli("keys", "create", "--read-only", "--json").stdout)
        self.assertTrue(made["key"].startswith("hcr_"))
        wait_for(lambda: self.status_with(made["key"]) == 200, timeout=TAKES_EFFECT,
                 what="the read-only key to be accepted")
        status, _, _ = self.server.request(
            "POST", "/api/v3/checks/", body=json.dumps({"name": "x"}).encode(),
            headers={"X-Api-Key": made["key"], "Content-Type": "application/json"})
        self.assertEqual(status, 401)

    def test_second_project_sees_only_its_own_checks(self):
        s = self.server
        first_check = s.create("backup")
        other = json.loads(self.cli("projects", "create", "staging", "--json").stdout)
        wait_for(lambda: self.status_with(other["api_key"]) == 200, timeout=TAKES_EFFECT,
                 what="the second project's key to be accepted")
        _, checks = s.api("/api/v3/checks/", key=other["api_key"])
        self.assertEqual(checks["checks"], [])
        status, _ = s.api(f"/api/v3/checks/{first_check}", key=other["api_key"])
        self.assertIn(status, (403, 404))

        # Its ping key creates checks in the second project only.
        wait_for(lambda: s.request("GET", f"/ping/{other['ping_key']}/deploy?create=1")[0]
                 in (200, 201), timeout=TAKES_EFFECT, what="the new project's ping key")
        _, checks = s.api("/api/v3/checks/", key=other["api_key"])
        self.assertEqual([c["slug"] for c in checks["checks"]], ["deploy"])
        _, checks = s.api("/api/v3/checks/")
        self.assertEqual([c["slug"] for c in checks["checks"]], ["backup"])

        projects = json.loads(self.cli("projects", "list", "--json").stdout)["projects"]
        self.assertEqual([p["name"] for p in projects], ["default", "staging"])

    def test_set_ping_key_keeps_healthchecks_urls(self):
        s = self.server
        old = s.keys["ping_key"]
        new = "hc-migrated_Key01"
        self.cli("keys", "set-ping-key", new)
        wait_for(lambda: s.request("GET", f"/ping/{new}/nightly?create=1")[0] in (200, 201),
                 timeout=TAKES_EFFECT, what="the new ping key")
        _, checks = s.api("/api/v3/checks/")
        self.assertEqual([c["slug"] for c in checks["checks"]], ["nightly"])
        self.assertEqual(s.request("GET", f"/ping/{new}/nightly")[:2], (200, b"OK"))
        # The old key is gone.
        self.assertEqual(s.request("GET", f"/ping/{old}/nightly")[0], 404)

        # Invalid or taken keys are refused with a usage / error exit code.
        self.cli("keys", "set-ping-key", "not a key", expect=2)
        other = json.loads(self.cli("projects", "create", "staging", "--json").stdout)
        self.cli("keys", "set-ping-key", new, "--project", "staging", expect=1)
        self.cli("keys", "set-ping-key", other["ping_key"], expect=1)

    def test_rotate_ping_key_retires_the_old_one(self):
        s = self.server
        old = s.keys["ping_key"]
        self.assertEqual(s.request("GET", f"/ping/{old}/job?create=1")[0], 201)
        new = self.cli("keys", "rotate-ping-key").stdout.strip()
        self.assertNotEqual(new, old)
        wait_for(lambda: s.request("GET", f"/ping/{old}/job")[0] == 404, timeout=TAKES_EFFECT,
                 what="the old ping key to be refused")
        self.assertEqual(s.request("GET", f"/ping/{new}/job")[:2], (200, b"OK"))

    def test_errors_have_distinct_exit_codes(self):
        self.cli("keys", "create", "--project", "nope", expect=3)
        self.cli("keys", "revoke", "hcw_zzzz", expect=3)
        self.cli("keys", "create")  # a second read-write key: "hcw_" is now ambiguous
        r = self.cli("keys", "revoke", "hcw_", expect=1)
        self.assertIn("matches 2 keys", r.stderr)
        self.assertEqual(len(json.loads(self.cli("keys", "list", "--json").stdout)["keys"]), 3)
        r = subprocess.run([BIN, "keys", "list", "--data-dir", self.server.data_dir + "/missing"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 3, r.stderr)


if __name__ == "__main__":
    unittest.main()

"""`overdue checks …`, `export` and `import FILE` driven as a user would: the real binary against
a real server. Checks what the server stores after each command, the --json output, the table,
and the documented exit statuses (3 not found, 4 key, 5 rejected input, 6 unreachable, 2 usage),
and where the client finds its server and key (flag > environment > cli.toml)."""
import json
import os
import shutil
import socket
import subprocess
import tempfile
import unittest

from harness import BIN, Server


def unused_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class CliChecksTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server()
        cls.server.start()
        cls.url = f"http://127.0.0.1:{cls.server.port}"
        cls.key = cls.server.keys["api_key"]
        cls.home = tempfile.mkdtemp(prefix="overdue-cli-home-")

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()
        shutil.rmtree(cls.home, ignore_errors=True)

    def cli(self, *args, expect=0, env=None, with_config=True, stdin=None):
        """Runs `overdue args…`; the server and key come from the environment unless `env`
        overrides them (None removes a variable). HOME is a temp dir: no user's cli.toml."""
        full_env = {k: v for k, v in os.environ.items()
                    if not k.startswith("OVERDUE_") and k != "XDG_CONFIG_HOME"}
        full_env["HOME"] = self.home
        if with_config:
            full_env["OVERDUE_URL"] = self.url
            full_env["OVERDUE_API_KEY"] = self.key
        for k, v in (env or {}).items():
            if v is None:
                full_env.pop(k, None)
            else:
                full_env[k] = v
        r = subprocess.run([BIN, *args], capture_output=True, text=True, timeout=60, env=full_env,
                           input=stdin)
        self.assertEqual(r.returncode, expect,
                         f"overdue {' '.join(args)}\nstdout: {r.stdout}\nstderr: {r.stderr}")
        return r

    def create(self, *args):
        return json.loads(self.cli("checks", "create", *args, "--json").stdout)

    def test_create_with_timeout_stores_every_field(self):
        made = self.create("--name", "Nightly backup", "--slug", "nightly-backup", "--tags",
                           "prod db", "--timeout", "1d", "--grace", "2h", "--desc", "pg_dump",
                           "--manual-resume")
        stored = self.server.check(made["uuid"])
        self.assertEqual(stored["name"], "Nightly backup")
        self.assertEqual(stored["slug"], "nightly-backup")
        self.assertEqual(stored["tags"], "prod db")
        self.assertEqual(stored["timeout"], 86400)
        self.assertEqual(stored["grace"], 7200)
        self.assertEqual(stored["desc"], "pg_dump")
        self.assertTrue(stored["manual_resume"])
        self.assertEqual(made, stored)  # --json is the server's answer unchanged

    def test_create_with_cron_schedule_and_time_zone(self):
        made = self.create("--name", "cron job", "--schedule", "*/5 * * * *", "--tz",
                           "Europe/Paris", "--grace", "5m")
        stored = self.server.check(made["uuid"])
        self.assertEqual((stored["schedule"], stored["tz"], stored["grace"]),
                         ("*/5 * * * *", "Europe/Paris", 300))
        self.assertNotIn("timeout", stored)

    def test_create_human_output_names_the_check_and_its_ping_url(self):
        out = self.cli("checks", "create", "--name", "human", "--timeout", "90s").stdout
        self.assertIn('created "human"', out)
        self.assertIn(f"ping URL: {self.url}/ping/", out)

    def test_unique_create_updates_the_existing_check(self):
        first = self.create("--name", "uniq-a", "--slug", "uniq-a", "--timeout", "1h")
        out = self.cli("checks", "create", "--name", "uniq-a", "--slug", "uniq-a", "--timeout",
                       "2h", "--unique", "name,slug").stdout
        self.assertIn("updated existing", out)
        self.assertEqual(self.server.check(first["uuid"])["timeout"], 7200)

    def test_list_table_and_json(self):
        made = self.create("--name", "listed-check", "--slug", "listed-check", "--tags",
                           "listing", "--timeout", "1h")
        table = self.cli("checks", "list", "--tag", "listing").stdout.splitlines()
        self.assertEqual(table[0].split(), ["NAME", "SLUG", "STATUS", "LAST", "PING", "SCHEDULE",
                                            "UUID"])
        self.assertEqual(len(table), 2)
        row = table[1].split()
        self.assertEqual(row[0], "listed-check")
        self.assertEqual(row[2], "new")
        self.assertEqual(row[3], "never")
        self.assertEqual(row[-1], made["uuid"])
        # Columns line up: every value starts where its header starts.
        self.assertEqual(table[1].index(made["uuid"]), table[0].index("UUID"))
        self.assertEqual(table[1].index("every 1h"), table[0].index("SCHEDULE"))

        as_json = json.loads(self.cli("checks", "list", "--json").stdout)
        _, from_server = self.server.api("/api/v3/checks/")
        self.assertEqual({c["uuid"] for c in as_json["checks"]},
                         {c["uuid"] for c in from_server["checks"]})
        by_slug = json.loads(self.cli("checks", "list", "--slug", "listed-check", "--json").stdout)
        self.assertEqual([c["uuid"] for c in by_slug["checks"]], [made["uuid"]])

    def test_list_shows_last_ping_as_relative_time(self):
        made = self.create("--name", "pinged", "--tags", "pinged-tag", "--timeout", "1h")
        status, _, _ = self.server.request("GET", f"/ping/{made['uuid']}")
        self.assertEqual(status, 200)
        table = self.cli("checks", "list", "--tag", "pinged-tag").stdout
        self.assertRegex(table, r"pinged\s+-\s+up\s+(just now|\d+s ago)\s+every 1h")

    def test_show_human_and_json(self):
        made = self.create("--name", "shown", "--timeout", "5m", "--grace", "1m")
        out = self.cli("checks", "show", made["uuid"]).stdout
        self.assertRegex(out, r"name:\s+shown\n")
        self.assertRegex(out, rf"uuid:\s+{made['uuid']}\n")
        self.assertRegex(out, r"schedule:\s+every 5m\n")
        self.assertRegex(out, r"grace:\s+1m\n")
        self.assertEqual(json.loads(self.cli("checks", "show", made["uuid"], "--json").stdout),
                         self.server.check(made["uuid"]))

    def test_update_changes_only_given_fields(self):
        made = self.create("--name", "to-update", "--tags", "a", "--timeout", "1h")
        self.cli("checks", "update", made["uuid"], "--grace", "10m", "--tags", "a b")
        stored = self.server.check(made["uuid"])
        self.assertEqual((stored["name"], stored["tags"], stored["grace"], stored["timeout"]),
                         ("to-update", "a b", 600, 3600))
        self.cli("checks", "update", made["uuid"], "--schedule", "0 3 * * *", "--tz", "UTC")
        stored = self.server.check(made["uuid"])
        self.assertEqual(stored["schedule"], "0 3 * * *")
        self.assertNotIn("timeout", stored)

    def test_pause_resume_delete(self):
        made = self.create("--name", "lifecycle", "--timeout", "1h")
        uuid = made["uuid"]
        self.assertIn('paused "lifecycle"', self.cli("checks", "pause", uuid).stdout)
        self.assertEqual(self.server.check(uuid)["status"], "paused")
        self.cli("checks", "resume", uuid)
        self.assertNotEqual(self.server.check(uuid)["status"], "paused")
        # Resuming a check that is not paused is refused by the server (409).
        r = self.cli("checks", "resume", uuid, expect=5)
        self.assertIn("not paused", r.stderr)
        self.assertIn('deleted "lifecycle"', self.cli("checks", "delete", uuid).stdout)
        self.assertEqual(self.server.api(f"/api/v3/checks/{uuid}")[0], 404)

    def test_not_found_is_3(self):
        missing = "5f8b6f0e-1c1a-4c55-9a5e-0c4b2f6f7a10"
        for args in (("show", missing), ("pause", missing), ("delete", missing),
                     ("update", missing, "--name", "x")):
            r = self.cli("checks", *args, expect=3)
            self.assertIn("not found", r.stderr)
            self.assertIn(missing, r.stderr)

    def test_wrong_or_read_only_key_is_4(self):
        r = self.cli("checks", "list", "--api-key", "hcw_" + "x" * 28, expect=4)
        self.assertIn("wrong api key", r.stderr)
        self.assertIn("--api-key", r.stderr)
        read_only = self.server.keys["api_key_readonly"]
        self.cli("checks", "create", "--name", "x", "--api-key", read_only, expect=4)
        # Reading with a read-only key works and shows unique keys instead of UUIDs.
        listed = json.loads(self.cli("checks", "list", "--json", "--api-key", read_only).stdout)
        self.assertTrue(all("unique_key" in c and "uuid" not in c for c in listed["checks"]))

    def test_rejected_input_is_5_with_the_servers_message(self):
        r = self.cli("checks", "create", "--name", "x", "--timeout", "10s", expect=5)
        self.assertIn("json validation error: timeout is too small", r.stderr)
        r = self.cli("checks", "create", "--name", "x", "--schedule", "* * * * *", "--tz",
                     "Mars/Olympus", expect=5)
        self.assertIn("tz is not a valid timezone", r.stderr)
        r = self.cli("checks", "create", "--name", "x", "--slug", "Not A Slug", expect=5)
        self.assertIn("slug does not match pattern", r.stderr)

    def test_usage_errors_are_2(self):
        self.cli("checks", expect=2)
        self.cli("checks", "create", "--timeout", "1h", "--schedule", "* * * * *", expect=2)
        r = self.cli("checks", "create", "--grace", "5 minutes", expect=2)
        self.assertIn("--grace", r.stderr)
        r = self.cli("checks", "pause", "not-a-uuid", expect=2)
        self.assertIn("not-a-uuid", r.stderr)
        r = self.cli("checks", "list", env={"OVERDUE_API_KEY": None}, expect=2)
        self.assertIn("no API key", r.stderr)
        r = self.cli("checks", "list", env={"OVERDUE_URL": "127.0.0.1:8000"}, expect=2)
        self.assertIn("OVERDUE_URL", r.stderr)

    def test_unreachable_server_is_6(self):
        url = f"http://127.0.0.1:{unused_port()}"
        r = self.cli("checks", "list", "--url", url, expect=6)
        self.assertIn("cannot reach", r.stderr)
        self.assertIn(url, r.stderr)

    def test_help_documents_exit_statuses(self):
        out = self.cli("checks", "--help").stdout
        for line in ("3  not found", "4  authentication", "5  input rejected", "6  cannot reach"):
            self.assertIn(line, out)

    def test_config_file_then_environment_then_flag(self):
        config_home = tempfile.mkdtemp(prefix="overdue-xdg-")
        self.addCleanup(shutil.rmtree, config_home, True)
        os.makedirs(os.path.join(config_home, "overdue"))
        with open(os.path.join(config_home, "overdue", "cli.toml"), "w") as f:
            f.write(f'url = "{self.url}"\napi_key = "{self.key}"\n')
        xdg = {"XDG_CONFIG_HOME": config_home}
        # The file alone is enough.
        self.cli("checks", "list", env=xdg, with_config=False)
        # The environment beats the file: a wrong key there fails.
        wrong = "hcw_" + "y" * 28
        self.cli("checks", "list", env={**xdg, "OVERDUE_API_KEY": wrong}, with_config=False,
                 expect=4)
        # A flag beats the environment.
        self.cli("checks", "list", "--api-key", self.key,
                 env={**xdg, "OVERDUE_API_KEY": wrong}, with_config=False)
        # ~/.config is used when XDG_CONFIG_HOME is unset.
        home = tempfile.mkdtemp(prefix="overdue-home-")
        self.addCleanup(shutil.rmtree, home, True)
        os.makedirs(os.path.join(home, ".config", "overdue"))
        shutil.copy(os.path.join(config_home, "overdue", "cli.toml"),
                    os.path.join(home, ".config", "overdue", "cli.toml"))
        self.cli("checks", "list", env={"HOME": home}, with_config=False)
        # A broken file is a usage error naming the file.
        with open(os.path.join(config_home, "overdue", "cli.toml"), "w") as f:
            f.write("url = \n")
        r = self.cli("checks", "list", env=xdg, with_config=False, expect=2)
        self.assertIn("cli.toml", r.stderr)

    def test_export_then_import_into_another_server(self):
        made = self.create("--name", "exported", "--slug", "exported", "--timeout", "2h")
        exported = self.cli("export").stdout
        doc = json.loads(exported)
        self.assertEqual(doc["format"], "overdue-export")
        self.assertIn(made["uuid"], [c["uuid"] for c in doc["checks"]])
        self.assertIn("history", json.loads(self.cli("export", "--history").stdout))

        other = Server()
        self.addCleanup(other.cleanup)
        other.start()
        other_env = {"OVERDUE_URL": f"http://127.0.0.1:{other.port}",
                     "OVERDUE_API_KEY": other.keys["api_key"]}
        path = os.path.join(self.home, "backup.json")
        with open(path, "w") as f:
            f.write(exported)
        out = self.cli("import", path, env=other_env).stdout
        self.assertIn(f"{len(doc['checks'])} checks created", out)
        copied = other.check(made["uuid"])
        self.assertEqual((copied["name"], copied["slug"], copied["timeout"]),
                         ("exported", "exported", 7200))
        # Again, from stdin, as JSON: nothing new is created.
        summary = json.loads(self.cli("import", "-", "--json", env=other_env,
                                      stdin=exported).stdout)
        self.assertEqual(summary["checks_created"], 0)
        self.assertEqual(summary["checks_updated"], len(doc["checks"]))
        r = self.cli("import", "-", env=other_env, stdin='{"format": "something else"}',
                     expect=5)
        self.assertIn("not an overdue export", r.stderr)


if __name__ == "__main__":
    unittest.main()

"""An integrator's instance, not ``make run``'s: what its zope.conf may hold.

Real processes: a ZEO server, a Zope WSGI instance, and the ``asyncreports``
command run with the instance's own zope.conf while the instance runs.
"""

import shutil
import subprocess
import tempfile
import unittest
from pathlib import Path

from collective.asyncreports.dev.processes import asyncreports_command
from collective.asyncreports.dev.processes import child_env
from tests.processes import discard
from tests.processes import started_instance


class PersistentCacheTests(unittest.TestCase):
    """zope.conf's ZEO client has a ``client`` name: a persistent cache file."""

    def setUp(self):
        home = Path(tempfile.mkdtemp(prefix="asyncreports-integrator-"))
        self.instance = started_instance(home, ["--password", "secret"], zeo_client="zeo1")
        self.addCleanup(discard, self.instance)

    def test_cli_and_worker_run_with_the_instances_zope_conf_while_it_runs(self):
        # The instance really holds its cache file, locked.
        self.assertIn("client zeo1", self.instance.zope_conf.read_text())
        self.assertTrue((self.instance.var / "zeo1-1.zec").exists())
        self.assertTrue((self.instance.var / "zeo1-1.zec.lock").exists())
        run = self.instance.run_command
        submitted = run("submit", "wait-and-report", "--path", "/", "--param", "seconds=0",
                        "--user", "admin", check=False)
        self.assertEqual(submitted.returncode, 0, submitted.stderr)
        job_id = submitted.stdout.strip()
        worker = run("worker", "--once", check=False)
        self.assertEqual(worker.returncode, 0, worker.stderr)
        self.assertNotIn("LockError", worker.stderr)
        shown = run("show", job_id, check=False)
        self.assertIn("state: done", shown.stdout)


class UnsharedStorageTests(unittest.TestCase):
    """zope.conf with a plain FileStorage: one line, exit 2, no traceback."""

    def setUp(self):
        self.home = Path(tempfile.mkdtemp(prefix="asyncreports-filestorage-"))
        self.addCleanup(shutil.rmtree, self.home, ignore_errors=True)
        self.conf = self.home / "zope.conf"
        self.conf.write_text(f"""\
%define INSTANCE {self.home}
instancehome $INSTANCE
<zodb_db main>
  <filestorage>
    path {self.home}/Data.fs
  </filestorage>
  mount-point /
</zodb_db>
""")

    def run_cli(self, *args):
        return subprocess.run(asyncreports_command("-C", self.conf, *args), capture_output=True,
                              text=True, timeout=120, env=child_env(), cwd=self.home)

    def test_a_worker_on_a_filestorage_says_it_needs_a_shared_storage(self):
        for command in (["worker"], ["jobs"], ["health"]):
            result = self.run_cli(*command)
            self.assertEqual(result.returncode, 2, (command, result.stdout, result.stderr))
            lines = result.stderr.splitlines()
            self.assertEqual(len(lines), 1, result.stderr)
            self.assertIn("need a shared storage: ZEO (<zeoclient>) or RelStorage", lines[0])
            self.assertNotIn("Traceback", result.stderr)
        self.assertFalse((self.home / "Data.fs").exists(), "nothing was opened")


class PublicURLTests(unittest.TestCase):
    """Links in reports: the setting, else the URL last served, else a warned default."""

    def queue(self):
        from collective.asyncreports.zmi.queue import AsyncReportQueue

        return AsyncReportQueue("asyncreports")

    def test_the_setting_wins_then_the_url_last_served_then_none(self):
        from collective.asyncreports.public_url import known_public_url
        from collective.asyncreports.public_url import remember_served_url

        queue = self.queue()
        self.assertIsNone(known_public_url(queue))
        remember_served_url(queue, "https://intranet.example.org/")
        self.assertEqual(known_public_url(queue), "https://intranet.example.org")
        queue.server_url = "https://reports.example.org"
        self.assertEqual(known_public_url(queue), "https://reports.example.org")

    def test_remembering_the_same_url_writes_nothing(self):
        from collective.asyncreports.public_url import remember_served_url

        queue = self.queue()
        remember_served_url(queue, "https://intranet.example.org")
        queue._p_changed = False
        remember_served_url(queue, "https://intranet.example.org/")
        self.assertFalse(queue._p_changed)

    def test_the_default_is_used_with_one_warning_in_the_log(self):
        from collective.asyncreports.public_url import DEFAULT_URL
        from collective.asyncreports.public_url import effective_public_url

        queue = self.queue()
        with self.assertLogs("collective.asyncreports", "WARNING") as logged:
            self.assertEqual(effective_public_url(queue), DEFAULT_URL)
        self.assertIn("no public URL is known: links in reports use http://localhost:8080",
                      logged.output[0])

    def test_health_warns_when_no_public_url_is_known(self):
        from tests.processes import System

        system = System()
        self.addCleanup(system.close)
        result = system.instance.run_command("health", check=False)
        self.assertNotIn("warning", result.stdout)  # bootstrap set the Server URL
        with system.queue() as queue:
            queue.server_url = ""
        result = system.instance.run_command("health", check=False)
        self.assertIn("warning: queue /asyncreports: no public URL is known: links in reports "
                      "use http://localhost:8080", result.stdout)

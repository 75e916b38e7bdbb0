"""An integrator's instance, not ``make run``'s: what its zope.conf may hold.

Real processes: a ZEO server, a Zope WSGI instance, and the ``asyncreports``
command run with the instance's own zope.conf while the instance runs.
"""

import shutil
import subprocess
import tempfile
import unittest
from pathlib import Path

from collective.asyncreports.devinstance import asyncreports_command
from collective.asyncreports.devinstance import child_env
from tests.system import discard
from tests.system import started_instance


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

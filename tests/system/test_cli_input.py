"""Every ``asyncreports`` command with bad input: exit 2, one line on stderr,
no traceback, nothing changed in the database.

Real processes: each case runs the command line against a real ZEO server.
"""

import json
import os
import subprocess
import sys
import unittest

from collective.asyncreports.dev.processes import child_env
from tests.processes import ADDONS
from tests.processes import System


CLI_CASES = ADDONS / "cli_cases.py"


# Caught while the command line is read, before Zope boots.
USAGE_ERRORS = [
    ["jobs", "--state", "bogus"],
    ["jobs", "--limit", "-1"],
    ["jobs", "--limit", "0"],
    ["jobs", "--limit", "ten"],
    ["jobs", "--limit", "9" * 5000],
    ["jobs", "--owner", b"\xff\xfe"],
    ["jobs", "--queue", b"/async\xffreports"],
    ["jobs", "--queue", "/" + "q" * 5000],
    ["show"],
    ["show", "f" * 100],
    ["show", b"\xff"],
    ["keep"],
    ["keep", "f" * 100],
    ["keep", "0123456789abcdef0", "--on"],
    ["submit", "noop", "--path", "/"],  # no --user
    ["submit", "noop", "--user", "admin"],  # no --path
    ["submit", "noop", "--path", "/", "--user", "admin", "--priority", "1.5"],
    ["submit", "noop", "--path", "/", "--user", "admin", "--priority", "10" * 20],
    ["submit", "noop", "--path", "/", "--user", b"adm\xffin"],
    ["submit", b"no\xffop", "--path", "/", "--user", "admin"],
    ["health", "--max-wait", "nan"],
    ["health", "--max-wait", "inf"],
    ["health", "--max-wait", "-5"],
    ["health", "--window", "0"],
    ["worker", "--grace", "nan"],
    ["worker", "--poll-interval", "-1"],
    ["worker", "--concurrency", "100000"],
    ["worker", "--max-jobs", "0"],
    ["worker", "--max-memory", "-1"],
    ["bogus-command"],
    [],
]

# Caught once Zope is up: the queue, paths, users, reports and parameters.
SUBMIT = ["submit", "wait-and-report", "--user", "admin"]
INPUT_ERRORS = [
    ["submit", "no-such-report", "--path", "/", "--user", "admin"],
    [*SUBMIT, "--path", "/asyncreports/title"],  # an attribute
    [*SUBMIT, "--path", "/asyncreports/objectIds"],  # a method
    [*SUBMIT, "--path", "/REQUEST"],
    [*SUBMIT, "--path", "/no/such/object"],
    [*SUBMIT, "--path", "/../etc"],
    [*SUBMIT, "--path", b"/\xff"],
    [*SUBMIT, "--path", "/" + "a" * 5000],
    [*SUBMIT, "--path", "/", "--param", "seconds=abc"],
    [*SUBMIT, "--path", "/", "--param", "seconds=-5"],
    [*SUBMIT, "--path", "/", "--param", "seconds=" + "9" * 30],
    [*SUBMIT, "--path", "/", "--param", "seconds="],
    [*SUBMIT, "--path", "/", "--param", "seconds"],
    [*SUBMIT, "--path", "/", "--param", "=5"],
    [*SUBMIT, "--path", "/", "--param", "nosuch=1"],
    [*SUBMIT, "--path", "/", "--param", b"seconds=\xff"],
    [*SUBMIT, "--path", "/", "--param", "fail=maybe"],
    ["submit", "wait-and-report", "--path", "/", "--user", "nobody"],
    [*SUBMIT, "--path", "/", "--queue", "/no-such-queue"],
    [*SUBMIT, "--path", "/", "--queue", "/asyncreports/title"],
    [*SUBMIT, "--path", "/", "--queue", "/asyncreports/job_queue"],
    ["jobs", "--queue", "/asyncreports/results"],
    ["show", "0123456789abcdef0"],
    ["show", "../../etc"],
    ["keep", "0123456789abcdef0"],
    ["keep", "../../etc", "--off"],
    ["health", "--queue", "/no-such-queue"],
    ["worker", "--once", "--queue", "/no-such-queue"],
]


class BadInputTests(unittest.TestCase):
    def setUp(self):
        self.system = System()
        self.addCleanup(self.system.close)

    def run_cli(self, args, config=None):
        config = self.system.instance.zope_conf if config is None else config
        command = [sys.executable, "-m", "collective.asyncreports.cli",
                   "-C", str(config), *args]
        return subprocess.run(command, capture_output=True, timeout=120, env=child_env(
            self.system.instance.env), cwd=self.system.home)

    def snapshot(self):
        with self.system.queue() as queue:
            jobs = queue.job_queue()
            return jobs.stats(), [job.as_dict() for job in jobs.list_jobs(size=1000)[0]]

    def assert_refused(self, args, result, what=""):
        stderr = result.stderr.decode("utf-8", "backslashreplace")
        self.assertEqual(result.returncode, 2, (args, stderr, result.stdout))
        lines = [line for line in stderr.splitlines() if " INFO " not in line]
        self.assertEqual(len(lines), 1, (args, stderr))
        self.assertIn("error:", lines[0], args)
        self.assertNotIn("Traceback", stderr, args)
        if what:
            self.assertIn(what, lines[0], args)

    def test_usage_errors_exit_2_with_one_line(self):
        for args in USAGE_ERRORS:
            with self.subTest(args=args):
                self.assert_refused(args, self.run_cli(args))

    def run_in_one_process(self, cases):
        """Each case through ``cli.run`` in one booted process: [(code, stderr)]."""
        cases_file = self.system.home / "cases.json"
        cases_file.write_text(json.dumps(
            [[os.fsdecode(arg) for arg in args] for args in cases]))
        result = subprocess.run(
            [sys.executable, CLI_CASES, self.system.instance.zope_conf, cases_file],
            capture_output=True, text=True, timeout=300, env=child_env(self.system.instance.env),
            cwd=self.system.home)
        self.assertEqual(result.returncode, 0, result.stderr)
        return json.loads(result.stdout.splitlines()[-1])

    def test_bad_values_exit_2_with_one_line_and_change_nothing(self):
        self.system.submit("noop")
        before = self.snapshot()
        for args, outcome in zip(INPUT_ERRORS, self.run_in_one_process(INPUT_ERRORS),
                                 strict=True):
            with self.subTest(args=args):
                self.assertEqual(outcome["code"], 2, (args, outcome))
                lines = outcome["stderr"].splitlines()
                self.assertEqual(len(lines), 1, (args, outcome))
                self.assertTrue(lines[0].startswith("asyncreports: error: "), lines)
        self.assertEqual(self.snapshot(), before)

    def test_bad_values_in_a_real_process_exit_2_with_one_line(self):
        for args in (INPUT_ERRORS[1], INPUT_ERRORS[6], INPUT_ERRORS[-1]):
            with self.subTest(args=args):
                self.assert_refused(args, self.run_cli(args))

    def test_a_missing_or_unreadable_zope_conf_exits_2_with_one_line(self):
        for config in ("/no/such/zope.conf", self.system.home, self.system.home / "etc"):
            with self.subTest(config=config):
                self.assert_refused(["jobs"], self.run_cli(["jobs"], config=config))

    def test_the_negative_purge_class_has_no_cli_door(self):
        """Nothing in the command line purges: numbers it takes are bounded above 0."""
        self.assert_refused(["jobs", "--limit", "-100"], self.run_cli(["jobs", "--limit", "-100"]),
                            "must be from 1 to")

    def test_keep_marks_a_job_and_off_takes_the_mark_off(self):
        job_id = self.system.submit("noop")
        for args, kept, said in ((["keep", job_id], True, "is kept"),
                                 (["keep", job_id, "--off"], False, "is no longer kept")):
            result = self.run_cli(args)
            self.assertEqual(result.returncode, 0, result.stderr)
            self.assertIn(f"Job {job_id} {said}", result.stdout.decode())
            self.assertIs(self.system.job(job_id)["keep"], kept)

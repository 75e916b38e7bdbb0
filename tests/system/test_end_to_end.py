"""End to end: a real database server (ZEO, or PostgreSQL with STORAGE=postgresql),
a real Zope WSGI instance and real worker processes."""

import base64
import json
import re
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from collective.asyncreports.dev.processes import Instance
from collective.asyncreports.dev.processes import asyncreports_command
from collective.asyncreports.dev.processes import child_env
from collective.asyncreports.dev.processes import free_port
from tests.layers import PASSWORD
from tests.layers import RunningSystemLayer
from tests.layers import SystemLayerTestCase
from tests.processes import discard
from tests.processes import pdf_text
from tests.processes import wait_for
from tests.processes import write_over_zeo
from tests.processes import zeo_only


class NoRedirect(urllib.request.HTTPRedirectHandler):
    """Let tests see the 302 and its Location instead of following it."""

    def redirect_request(self, *args, **kwargs):
        return None


class EndToEndTests(SystemLayerTestCase):
    """Jobs submitted over HTTP and the CLI, run by real ``worker --once`` processes."""

    layer = RunningSystemLayer

    def setUp(self):
        super().setUp()
        self.instance = self.layer.instance
        self.home = self.layer.home

    # -- helpers ---------------------------------------------------------------

    def http(self, path, user=None, data=None):
        """GET (or POST ``data``) as ``user``; return (status, body bytes, headers)."""
        url = self.instance.url + path
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        request = urllib.request.Request(url, data=body)
        if user:
            token = base64.b64encode(f"{user}:{PASSWORD}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        opener = urllib.request.build_opener(NoRedirect)
        try:
            with opener.open(request, timeout=60) as response:
                return response.status, response.read(), response.headers
        except urllib.error.HTTPError as error:
            return error.code, error.read(), error.headers

    def submit_over_http(self, user, **fields):
        status, page, _ = self.http(
            "/asyncreports/manage_submitForm?report=object-inventory", user)
        self.assertEqual(status, 200)
        token = re.search(rb'name="_authenticator" value="([0-9a-f]+)"', page).group(1)
        data = {"_authenticator": token.decode(), "report": "object-inventory", **fields}
        status, _, headers = self.http("/asyncreports/manage_submitReport", user, data)
        self.assertEqual(status, 302, "submission was not accepted")
        location = urllib.parse.unquote_plus(headers["Location"])
        return re.search(r"Queued job ([0-9a-f]+)", location).group(1)

    def cli(self, *args, check=True):
        result = self.instance.run_command(*args, check=False)
        if check:
            self.assertEqual(result.returncode, 0, f"{args}: {result.stderr[-2000:]}")
        return result

    def show(self, job_id):
        return json.loads(self.cli("show", job_id, "--json").stdout)

    def run_worker_once(self):
        result = self.cli("worker", "--once")
        self.assertEqual(result.returncode, 0, result.stderr)
        return result.stderr

    # -- tests -------------------------------------------------------------------

    def test_reporters_job_runs_in_a_worker_and_only_they_get_the_pdf(self):
        job_id = self.submit_over_http(
            "alice", path="/docs", **{"param.depth": "2", "param.max_items": "100"})
        self.assertEqual(self.show(job_id)["state"], "queued")

        log = self.run_worker_once()
        self.assertIn(f"job {job_id} started", log)
        self.assertRegex(log, rf"job {job_id} done in [0-9.]+s")

        job = self.show(job_id)
        self.assertEqual(job["state"], "done")
        self.assertEqual((job["owner"], job["attempts"]), ("alice", 1))
        self.assertTrue(job["result_url"].startswith(self.instance.url + "/asyncreports/"))
        path = urllib.parse.urlsplit(job["result_url"]).path

        status, data, headers = self.http(path, "alice")
        self.assertEqual(status, 200)
        self.assertEqual(headers["Content-Type"], "application/pdf")
        text = pdf_text(data)
        for expected in ("Object inventory", "agenda.txt", "minutes/2026-01.txt",
                         "January minutes", "1234", "Page 1 of 1"):
            self.assertIn(expected, text)

        for intruder in ("carol", "bob", None):
            status, data, _ = self.http(path, intruder)
            self.assertIn(status, (401, 403), intruder)
            self.assertFalse(data.startswith(b"%PDF"), intruder)
        status, _, _ = self.http(path, "admin")
        self.assertEqual(status, 200)

    def test_log_file_takes_the_log_and_is_opened_anew_after_rotation(self):
        log = self.home / "var" / "log" / "worker-test.log"
        worker = self.instance.start_worker("--log-file", log, "--poll-interval", "0.5",
                                            name="logging-worker")
        self.addCleanup(self.instance.stop, worker)
        submit = ("submit", "object-inventory", "--path", "/docs", "--user", "alice")
        first = self.cli(*submit).stdout.strip()
        wait_for(lambda: log.exists() and f"job {first} done" in log.read_text(),
                 what="the first job in the log file")
        log.rename(log.with_suffix(".log.1"))  # as logrotate does
        second = self.cli(*submit).stdout.strip()
        wait_for(lambda: log.exists() and f"job {second} done" in log.read_text(),
                 what="the second job in a new log file")
        self.assertNotIn(first, log.read_text())
        self.assertNotIn("started", (self.home / "var/log/logging-worker.out").read_text())
        bad = self.cli("--log-file", self.home / "no" / "such" / "dir.log", "jobs",
                       check=False)
        self.assertEqual(bad.returncode, 2)
        self.assertIn("cannot open the log file", bad.stderr)

    def test_failing_report_stores_an_error_log_with_the_traceback(self):
        job_id = self.cli("submit", "broken", "--path", "/docs",
                          "--user", "alice").stdout.strip()
        self.run_worker_once()
        job = self.show(job_id)
        self.assertEqual(job["state"], "failed")
        self.assertEqual(job["attempts"], 1, "report errors must not be retried")
        self.assertIn("RuntimeError: the report code broke on purpose", job["error_message"])
        path = urllib.parse.urlsplit(job["error_url"]).path
        status, data, headers = self.http(path, "alice")
        self.assertEqual(status, 200)
        self.assertTrue(headers["Content-Type"].startswith("text/plain"))
        log = data.decode()
        self.assertIn("Traceback (most recent call last)", log)
        self.assertIn("RuntimeError: the report code broke on purpose", log)
        self.assertIn("Report:     broken", log)
        self.assertIn("Target:     /docs", log)
        self.assertIn(self.http(path, "carol")[0], (401, 403))

    def test_view_removed_after_submit_fails_the_job_unauthorized(self):
        job_id = self.cli("submit", "object-inventory", "--path", "/docs/minutes",
                          "--user", "alice").stdout.strip()
        write_over_zeo(self.instance, lambda app: app.docs.minutes.manage_permission(
            "View", ["Manager"], acquire=0))
        try:
            self.run_worker_once()
        finally:
            write_over_zeo(self.instance, lambda app: app.docs.minutes.manage_permission(
                "View", [], acquire=1))
        job = self.show(job_id)
        self.assertEqual(job["state"], "failed")
        self.assertIn("Unauthorized", job["error_message"])
        self.assertIsNone(job["result_path"])

    def test_cli_refuses_bad_input_with_clear_messages(self):
        cases = [
            (("submit", "no-such-report", "--path", "/docs", "--user", "alice"),
             "no-such-report"),
            (("submit", "object-inventory", "--path", "/docs/../acl_users",
              "--user", "alice"), "not allowed"),
            (("submit", "object-inventory", "--path", "/missing", "--user", "alice"),
             "does not exist"),
            (("submit", "object-inventory", "--path", "/docs", "--user", "alice",
              "--param", "depth=50"), "depth"),
            (("submit", "object-inventory", "--path", "/docs", "--user", "nobody"),
             "no user with id 'nobody'"),
            (("submit", "object-inventory", "--path", "/secret", "--user", "alice"),
             "may not view"),
            (("submit", "object-inventory", "--path", "/docs", "--user", "bob"),
             "may not queue"),
        ]
        for args, message in cases:
            result = self.cli(*args, check=False)
            self.assertNotEqual(result.returncode, 0, args)
            self.assertIn(message, result.stderr, args)
            self.assertEqual(result.stdout, "", args)
        jobs = json.loads(self.cli("jobs", "--json").stdout)
        self.assertFalse([j for j in jobs if j["path"] in ("/missing", "/secret")])

    def test_missing_zope_conf_is_a_clear_error(self):
        result = subprocess.run(
            asyncreports_command("-C", self.home / "nope.conf", "jobs"),
            capture_output=True, text=True, timeout=60, env=child_env())
        self.assertEqual(result.returncode, 2)
        self.assertIn("zope.conf not found", result.stderr)


@zeo_only("a worker waits for its ZEO server's port")
class WorkerWaitsForZEOTests(unittest.TestCase):
    def test_worker_started_before_its_zeo_server_waits_then_connects(self):
        home = Path(tempfile.mkdtemp(prefix="asyncreports-wait-"))
        instance = Instance(home, free_port(), free_port())
        try:
            instance.write_configuration()
            worker = instance.start_worker("--once")
            log_file = home / "var" / "log" / "worker.out"
            deadline = time.monotonic() + 60
            while "is not reachable" not in log_file.read_text():
                self.assertIsNone(worker.poll(), log_file.read_text())
                self.assertLess(time.monotonic(), deadline, "worker never said it waits")
                time.sleep(0.2)
            instance.start_zeo()
            # A fresh storage holds no queue: the connected worker says so and exits.
            self.assertEqual(worker.wait(120), 2)
            log = log_file.read_text()
            self.assertIn(f"ZEO server 127.0.0.1:{instance.zeo_port} is up", log)
            self.assertIn("no queues to serve", log)
        finally:
            discard(instance)

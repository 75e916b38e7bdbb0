"""Stopping without stranding jobs: ``make stop``, dead workers, and what health says.

Real processes: a backgrounded ``dev run`` (what ``make run &`` starts)
stopped by ``dev stop`` (what ``make stop`` runs), and workers killed
with SIGKILL on a real ZEO server.
"""

import os
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
import unittest
from pathlib import Path

import transaction
from ZODB.DB import DB
from ZODB.FileStorage import FileStorage

from collective.asyncreports.dev.processes import Instance
from collective.asyncreports.dev.processes import child_env
from collective.asyncreports.dev.processes import free_port
from collective.asyncreports.dev.processes import python_command
from collective.asyncreports.queue import WorkerRecord
from collective.asyncreports.worker.host import host_key
from collective.asyncreports.worker.host import is_dead_here
from tests.processes import STORAGE
from tests.processes import System
from tests.processes import instance_options
from tests.processes import skip_unless_storage
from tests.processes import wait_for


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def dead_pid():
    """The PID of a process that ran here and has exited (and been reaped)."""
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


class IsDeadHereTests(unittest.TestCase):
    """A PID is judged only among records of this boot and PID namespace."""

    def record(self, pid, key="here", hostname="h1"):
        record = WorkerRecord("w", hostname=hostname, pid=pid)
        record.host_key = key
        return record

    def test_a_record_of_this_host_whose_process_is_gone_is_dead(self):
        self.assertTrue(is_dead_here(self.record(dead_pid()), "here", "h1"))

    def test_a_running_process_or_our_own_pid_is_not_dead(self):
        self.assertFalse(is_dead_here(self.record(os.getppid()), "here", "h1"))
        self.assertFalse(is_dead_here(self.record(os.getpid()), "here", "h1"))

    def test_records_of_another_boot_namespace_or_host_name_are_never_judged(self):
        pid = dead_pid()
        self.assertFalse(is_dead_here(self.record(pid, key="other boot"), "here", "h1"))
        self.assertFalse(is_dead_here(self.record(pid, hostname="h2"), "here", "h1"))
        self.assertFalse(is_dead_here(self.record(pid, key=None), None, "h1"))

    def test_a_stopped_worker_is_not_dead_but_stopped(self):
        record = self.record(dead_pid())
        record.stopped = 1.0
        self.assertFalse(is_dead_here(record, "here", "h1"))

    def test_this_process_has_a_host_key(self):
        self.assertRegex(host_key() or "", r"^[0-9a-f-]{36}:\d+$")


class DeadWorkerTests(unittest.TestCase):
    """A worker killed with SIGKILL, and a new one started on the same host."""

    def setUp(self):
        # Leases far longer than the test: only the new worker's start can
        # take the job back in time.
        self.system = System(lease_seconds=300)
        self.addCleanup(self.system.close)

    def health(self, *args):
        return self.system.instance.run_command("health", *args, check=False)

    def test_a_killed_workers_job_is_taken_back_at_once_by_a_new_worker_uncounted(self):
        system = self.system
        job_id = system.submit("wait-and-report", {"seconds": 4, "fail": False})
        first = system.start_worker()
        system.wait_for_state(job_id, "running")
        system.stop_worker(first, signal.SIGKILL)
        health = self.health()
        self.assertEqual(health.returncode, 1, health.stdout)
        self.assertIn(f"job {job_id} is running on worker ", health.stdout)
        self.assertIn(f"whose process {first.pid} is gone", health.stdout)
        started = time.monotonic()
        second = system.start_worker()
        system.wait_for_log(second, f"job {job_id}: its worker ")
        self.assertLess(time.monotonic() - started, 30)
        job = system.wait_for_state(job_id, "done", "failed", timeout=60)
        self.assertEqual((job["state"], job["attempts"]), ("done", 1))
        reaped = [event for event in job["history"] if event["event"] == "reaped"]
        self.assertEqual(len(reaped), 1)
        self.assertIn(f"(process {first.pid} is gone); attempt not counted",
                      reaped[0]["detail"])
        self.assertEqual(len([n for n in system.result_ids() if n.startswith(job_id)]), 1)
        with system.queue() as queue:
            dead = [r for r in queue.job_queue().workers() if r.pid == first.pid]
        self.assertIsNotNone(dead[0].stopped)
        self.assertEqual(self.health().returncode, 0)
        system.stop_worker(second)

    def test_health_names_a_job_held_by_a_silent_worker(self):
        system = self.system
        job_id = system.submit("wait-and-report", {"seconds": 60, "fail": False})
        worker = system.start_worker()
        system.wait_for_state(job_id, "running")
        system.signal_worker(worker, signal.SIGSTOP)
        try:
            time.sleep(3)
            result = self.health("--window", "2")
        finally:
            system.signal_worker(worker, signal.SIGCONT)
        self.assertEqual(result.returncode, 1)
        self.assertRegex(result.stdout, rf"job {job_id} is running on worker \S+, silent for \d+s")


class OnceHealthTests(unittest.TestCase):
    """Workers run from cron with --once: health judges whether due jobs get done."""

    def setUp(self):
        # The window is the lease time: long enough for a few commands to
        # boot Zope one after another on a loaded machine (10 s or more each).
        self.system = System(lease_seconds=300)
        self.addCleanup(self.system.close)

    def health(self, *args):
        return self.system.instance.run_command("health", *args, check=False)

    def once(self):
        result = self.system.instance.run_command("worker", "--once")
        self.assertEqual(result.returncode, 0, result.stderr)

    def test_a_queue_served_by_once_runs_is_healthy_while_due_jobs_get_done(self):
        system = self.system
        self.assertIn("no worker has heartbeat", self.health().stdout)
        self.once()
        self.assertEqual(self.health().stdout, "ok: 1 queue(s) served\n")
        self.assertEqual(self.health("--window", "3600").returncode, 0)
        job_id = system.submit("noop")
        time.sleep(1.5)
        # Due, and the next run is yet to come: that is how cron works.
        self.assertEqual(self.health("--max-wait", "1").returncode, 0)
        self.once()
        self.assertEqual(system.job(job_id)["state"], "done")
        self.assertEqual(self.health().returncode, 0)
        time.sleep(2)
        result = self.health("--window", "1")
        self.assertEqual((result.returncode, result.stdout),
                         (1, "queue /asyncreports: no worker has heartbeat in the last 1s\n"))

    def test_a_due_job_waiting_past_the_window_is_a_problem_for_once_runs_too(self):
        system = self.system
        self.once()
        system.submit("noop", not_before=time.time() - 100)
        result = self.health("--window", "60", "--max-wait", "10")
        self.assertEqual(result.returncode, 1)
        # 100 s, and however long the command took to boot.
        waited = re.search(r"a due job has waited (\d+)s \(more than 60s\)", result.stdout)
        self.assertIsNotNone(waited, result.stdout)
        self.assertGreaterEqual(int(waited.group(1)), 100)


class MakeStopTests(unittest.TestCase):
    """``make run &`` then ``make stop``, with a job running (on the tests' STORAGE:
    with PostgreSQL, make stop stops its server too)."""

    def setUp(self):
        skip_unless_storage()
        self.home = Path(tempfile.mkdtemp(prefix="asyncreports-stop-"))
        self.addCleanup(shutil.rmtree, self.home, ignore_errors=True)
        self.instance = Instance(self.home, free_port(), free_port(),
                                 **instance_options(durable=True))
        # One generated password in 64 starts with "-": make run must take it
        # (it once passed it on the bootstrap's command line, as an option).
        self.instance.var.mkdir(parents=True)
        (self.instance.var / "admin-password").write_text("-" + secrets.token_urlsafe(12))
        self.log = self.home / "run.out"
        with open(self.log, "wb") as out:
            self.launcher = subprocess.Popen(
                python_command("collective.asyncreports.dev", "run", "--home", self.home,
                               "--zeo-port", self.instance.zeo_port,
                               "--http-port", self.instance.http_port,
                               "--storage", STORAGE, "--no-plone", "--grace", "1"),
                cwd=self.home, stdout=out, stderr=subprocess.STDOUT, env=child_env(),
                start_new_session=True)
        self.addCleanup(self.kill_everything)

    def kill_everything(self):
        """After a failure: nothing of this test keeps running."""
        pids = self.home / "var" / "run.pids"
        if pids.exists():
            for line in pids.read_text().split("\n"):
                if line.split() and _alive(int(line.split()[0])):
                    os.kill(int(line.split()[0]), signal.SIGKILL)
        if self.launcher.poll() is None:
            os.killpg(self.launcher.pid, signal.SIGKILL)
            self.launcher.wait()

    def make_stop(self):
        return subprocess.run(
            python_command("collective.asyncreports.dev", "stop", "--home", self.home),
            cwd=self.home, capture_output=True, text=True, timeout=300, env=child_env())

    def read_queue(self, step):
        """``step(queue)`` on the stopped system's Data.fs, read only (on PostgreSQL:
        its cluster, served again for the reading)."""
        if STORAGE == "postgresql":
            server = self.instance.start_postgresql()
            try:
                db = self.instance.open_db()
                try:
                    with db.transaction() as connection:
                        return step(connection.root()["Application"]["asyncreports"].job_queue())
                finally:
                    db.close()
            finally:
                self.instance.stop(server)
                # Instance.start wrote var/run.pids with this process as the launcher;
                # kill_everything must not take it for the system's.
                (self.instance.var / "run.pids").unlink(missing_ok=True)
        db = DB(FileStorage(str(self.home / "var" / "Data.fs"), read_only=True))
        try:
            connection = db.open()
            try:
                return step(connection.root()["Application"]["asyncreports"].job_queue())
            finally:
                transaction.abort()
                connection.close()
        finally:
            db.close()

    def test_make_stop_hands_the_running_job_back_uncounted_then_stops_zope_and_zeo(self):
        wait_for(lambda: self.launcher.poll() is not None or b"is running" in self.log.read_bytes(),
                 timeout=180, what="make run to start")
        self.assertIsNone(self.launcher.poll(), self.log.read_text())
        submitted = self.instance.run_command(
            "submit", "wait-and-report", "--queue", "/asyncreports", "--path", "/",
            "--param", "seconds=120", "--user", "admin")
        job_id = submitted.stdout.strip()
        worker_log = self.home / "var" / "log" / "worker.out"
        wait_for(lambda: f"job {job_id} started" in worker_log.read_text(), timeout=60,
                 what="the job to start")
        children = [int(line.split()[0]) for line in
                    (self.home / "var" / "run.pids").read_text().splitlines()[1:]]
        self.assertEqual(len(children), 3)  # the database server, zope, worker
        started = time.monotonic()
        stop = self.make_stop()
        self.assertEqual(stop.returncode, 0, stop.stdout + stop.stderr)
        self.assertLess(time.monotonic() - started, 60)
        self.assertEqual(self.launcher.wait(10), 0)
        self.assertEqual([pid for pid in children if _alive(pid)], [])
        self.assertFalse((self.home / "var" / "run.pids").exists())
        log = worker_log.read_text()
        self.assertNotIn("second signal", log)
        self.assertIn("grace period over: interrupting job(s)", log)
        self.assertNotIn("failed while stopping", log)
        job = self.read_queue(lambda jobs: jobs.get(job_id).as_dict())
        self.assertEqual((job["state"], job["attempts"]), ("queued", 0))
        self.assertEqual(job["history"][-1]["event"], "interrupted")
        stopped = self.read_queue(lambda jobs: [r.stopped for r in jobs.workers()])
        self.assertEqual(len(stopped), 1)
        self.assertIsNotNone(stopped[0], "the worker's last write reached the database")

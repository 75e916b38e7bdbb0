"""The queue shared by two ZEO clients of a real ZEO server subprocess."""

import os
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

import transaction
from ZEO.ClientStorage import ClientStorage
from ZODB.DB import DB
from ZODB.POSException import ConflictError

from collective.asyncreports.dev.processes import child_env
from collective.asyncreports.dev.processes import python_command
from collective.asyncreports.queue import DONE
from collective.asyncreports.queue import QUEUED
from collective.asyncreports.queue import RUNNING
from collective.asyncreports.queue import JobQueue
from tests.processes import zeo_only


HOST = "127.0.0.1"


def _free_port():
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _stop(process):
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@zeo_only("the queue shared by two ZEO clients")
class ZEOQueueTests(unittest.TestCase):
    def _start_server(self):
        """Start runzeo on a free port; it is stopped by its PID at cleanup."""
        tmpdir = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, tmpdir, ignore_errors=True)
        self.port = _free_port()
        log_path = os.path.join(tmpdir, "zeo.log")
        with open(log_path, "wb") as log:
            server = subprocess.Popen(
                python_command("ZEO.runzeo", "-a", f"{HOST}:{self.port}", "-f",
                               f"{tmpdir}/Data.fs"),
                stdout=log,
                stderr=subprocess.STDOUT,
                env=child_env(),
            )
        self.addCleanup(_stop, server)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection((HOST, self.port), timeout=0.2).close()
                return
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    with open(log_path) as log:
                        self.fail(f"ZEO server did not start:\n{log.read()}")
                time.sleep(0.05)

    def _client(self):
        """A ZEO client: (db, transaction manager, root)."""
        # server_sync: a new transaction asks the server, so it surely sees
        # what the other client committed just before.
        storage = ClientStorage((HOST, self.port), server_sync=True, wait_timeout=10)
        db = DB(storage)
        self.addCleanup(db.close)
        tm = transaction.TransactionManager()
        conn = db.open(tm)
        self.addCleanup(conn.close)
        self.addCleanup(tm.abort)
        return db, tm, conn.root()

    def setUp(self):
        self._start_server()
        self.db_a, self.tm_a, root_a = self._client()
        self.db_b, self.tm_b, self.root_b = self._client()
        self.name = self.id()
        root_a[self.name] = self.queue_a = JobQueue(lease_seconds=60)
        self.tm_a.commit()

    def _queue_b(self):
        self.tm_b.begin()
        return self.root_b[self.name]

    def test_job_queued_in_one_client_is_run_in_the_other(self):
        job_id = self.queue_a.enqueue("summary", "/site", {"n": 1}, "alice").id
        self.tm_a.commit()

        queue_b = self._queue_b()
        self.assertEqual(queue_b.get(job_id).state, QUEUED)
        [job_b] = queue_b.claim("worker-b")
        token = job_b.lease_token
        self.tm_b.commit()

        self.tm_a.begin()
        job_a = self.queue_a.get(job_id)
        self.assertEqual((job_a.state, job_a.lease_worker), (RUNNING, "worker-b"))
        self.assertEqual(self.queue_a.claim("worker-a"), [])

        queue_b.finish(job_id, token, "/site/reports/summary.pdf")
        self.tm_b.commit()

        self.tm_a.begin()
        self.assertEqual(job_a.state, DONE)
        self.assertEqual(job_a.result_path, "/site/reports/summary.pdf")
        self.assertEqual(job_a.attempts, 1)
        self.assertEqual(self.queue_a.stats()[DONE], 1)

    def test_claim_race_between_clients(self):
        job_id = self.queue_a.enqueue("summary", "/site", {}, "alice").id
        self.tm_a.commit()
        queue_b = self._queue_b()
        self.tm_a.begin()
        self.assertEqual([j.id for j in self.queue_a.claim("worker-a")], [job_id])
        self.assertEqual([j.id for j in queue_b.claim("worker-b")], [job_id])
        self.tm_a.commit()
        with self.assertRaises(ConflictError):
            self.tm_b.commit()
        self.tm_b.abort()
        queue_b = self._queue_b()
        self.assertEqual(queue_b.claim("worker-b"), [])
        self.assertEqual(queue_b.get(job_id).lease_worker, "worker-a")

    def test_concurrent_enqueues_from_two_clients_merge(self):
        queue_b = self._queue_b()
        self.tm_a.begin()
        first = self.queue_a.enqueue("summary", "/site", {}, "alice").id
        second = queue_b.enqueue("summary", "/site", {}, "bob").id
        self.tm_a.commit()
        self.tm_b.commit()
        self.tm_a.begin()
        self.assertEqual(self.queue_a.stats()[QUEUED], 2)
        self.assertIn(first, self.queue_a)
        self.assertIn(second, self.queue_a)

    def test_other_client_notices_a_commit_without_asking(self):
        # A sleeping worker can watch lastTransaction() instead of polling
        # the server: invalidations are pushed to every client.
        self.queue_a.enqueue("summary", "/site", {}, "alice")
        self.tm_a.commit()
        committed = self.db_a.storage.lastTransaction()
        # B learns of A's commit without calling the server; earlier commits
        # may still be arriving, so wait for this one in particular.
        deadline = time.monotonic() + 5
        while self.db_b.storage.lastTransaction() != committed:
            self.assertLess(time.monotonic(), deadline, "no invalidation arrived")
            time.sleep(0.01)

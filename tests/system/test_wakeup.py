"""Waking workers (collective.asyncreports.wakeup): on the tests' storage.

With STORAGE=postgresql: a NOTIFY goes out only when the transaction that
queues a job commits, a worker picks a job up far within its poll interval,
and the poll interval still wakes it when its LISTEN connection dies. On ZEO
(the default): the worker wakes on the server's invalidation.
"""

import select
import time
import unittest

import transaction
from zope.interface.verify import verifyObject

from collective.asyncreports.interfaces import IWakeSource
from collective.asyncreports.wakeup import notices
from collective.asyncreports.wakeup import postgresql
from collective.asyncreports.wakeup.invalidations import InvalidationWake
from collective.asyncreports.wakeup.sources import wake_source
from tests.processes import QUEUE
from tests.processes import STORAGE
from tests.processes import System
from tests.processes import zeo_only


def postgresql_only(reason):
    if STORAGE == "postgresql":
        return lambda thing: thing
    return unittest.skip(f"PostgreSQL only ({reason}); STORAGE={STORAGE}: "
                         "make test STORAGE=postgresql")


class FailingVote:
    """A data manager that votes after every other and refuses."""

    def __init__(self, manager):
        self.transaction_manager = manager

    def sortKey(self):
        return "~~~ after everyone"

    def tpc_vote(self, txn):
        raise RuntimeError("this vote fails")

    def abort(self, txn):
        pass

    tpc_begin = commit = tpc_finish = tpc_abort = abort


def enqueue(jobs, report="noop"):
    return jobs.enqueue(report, "/", {}, owner_id="admin", queue_path=QUEUE)


@postgresql_only("LISTEN/NOTIFY")
class NotifyOnlyOnCommitTests(unittest.TestCase):
    def setUp(self):
        self.system = System()
        self.addCleanup(self.system.close)
        self.listener = postgresql.listen(notices.dsn_of(self.system.db.storage))
        self.addCleanup(self.listener.close)
        self.manager = transaction.TransactionManager()
        self.connection = self.system.db.open(transaction_manager=self.manager)
        self.addCleanup(self.connection.close)
        self.addCleanup(self.manager.abort)

    def jobs(self):
        self.manager.begin()
        return self.connection.root()["Application"].unrestrictedTraverse(
            QUEUE.lstrip("/")).job_queue()

    def notifications(self, within=1.0):
        """The notifications the listener received within ``within`` seconds."""
        received = []
        deadline = time.monotonic() + within
        while (remaining := deadline - time.monotonic()) > 0:
            if select.select([self.listener], [], [], remaining)[0]:
                self.listener.poll()
                received += [n.channel for n in self.listener.notifies]
                self.listener.notifies.clear()
        return received

    def test_a_committed_job_wakes_a_listener(self):
        enqueue(self.jobs())
        self.manager.commit()
        self.assertEqual(self.notifications(), [notices.CHANNEL])

    def test_an_aborted_job_sends_nothing(self):
        enqueue(self.jobs())
        self.manager.abort()
        self.assertEqual(self.notifications(), [])

    def test_a_commit_that_fails_after_the_notify_was_sent_sends_nothing(self):
        # The NOTIFY went out on RelStorage's store connection during the vote;
        # a later vote fails and the database transaction rolls back with it.
        enqueue(self.jobs())
        self.manager.get().join(FailingVote(self.manager))
        with self.assertRaises(RuntimeError):
            self.manager.commit()
        self.manager.abort()
        self.assertEqual(self.notifications(), [])
        self.assertEqual(self.jobs().stats()["queued"], 0)

    def test_a_job_queued_after_a_savepoint_rolled_back_wakes_a_listener(self):
        # Rolling back a savepoint taken before the NOTIFY joined unjoins it;
        # the next job made due joins it again (Plone's requests take savepoints).
        jobs = self.jobs()
        savepoint = self.manager.savepoint()
        enqueue(jobs)
        savepoint.rollback()
        enqueue(jobs)
        self.manager.commit()
        self.assertEqual(self.notifications(), [notices.CHANNEL])
        self.assertEqual(self.jobs().stats()["queued"], 1)

    def test_many_jobs_in_one_commit_send_one_notification(self):
        jobs = self.jobs()
        for _ in range(3):
            enqueue(jobs)
        self.manager.commit()
        self.assertEqual(self.notifications(), [notices.CHANNEL])

    def test_a_job_released_with_backoff_wakes_a_listener(self):
        job_id = enqueue(self.jobs()).id
        self.manager.commit()
        self.notifications(0.2)
        jobs = self.jobs()
        claimed = jobs.claim("worker-a")[0]
        self.manager.commit()
        self.assertEqual(self.notifications(0.5), [], "a claim makes nothing due")
        jobs = self.jobs()
        jobs.release(job_id, claimed.lease_token, "try again")
        self.manager.commit()
        self.assertEqual(self.notifications(), [notices.CHANNEL])

    def test_the_store_connection_is_where_relstorage_keeps_it(self):
        # notices.store_cursor reaches into RelStorage's two-phase commit: a
        # RelStorage that moves it must fail here, not silently in production.
        seen = []

        class Peek(FailingVote):
            def tpc_vote(peek, txn):
                seen.append(notices.store_cursor(self.connection))

        enqueue(self.jobs())
        self.manager.get().join(Peek(self.manager))
        self.manager.commit()
        self.assertIsNotNone(seen[0])
        self.assertIsNone(notices.store_cursor(self.connection), "outside the commit")

    def test_the_wake_source_listens(self):
        wake = wake_source(self.system.db)
        self.addCleanup(wake.close)
        self.assertIsInstance(wake, postgresql.NotifyWake)
        verifyObject(IWakeSource, wake)
        wake.arm()
        enqueue(self.jobs())
        self.manager.commit()
        started = time.monotonic()
        self.assertTrue(wake.wait(10))
        self.assertLess(time.monotonic() - started, 2)
        wake.arm()
        self.assertFalse(wake.wait(0.3), "nothing new")


@postgresql_only("LISTEN/NOTIFY")
class WorkerOnPostgreSQLTests(unittest.TestCase):
    def setUp(self):
        self.system = System()
        self.addCleanup(self.system.close)

    def pickup_seconds(self):
        job_id = self.system.submit("noop")
        job = self.system.wait_for_state(job_id, "done", timeout=60)
        return job["started"] - job["created"]

    def listen_backends(self):
        """The PIDs of the server processes that serve LISTEN connections."""
        connection = postgresql.listen(notices.dsn_of(self.system.db.storage))
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pid FROM pg_stat_activity WHERE application_name = %s "
                               "AND pid <> pg_backend_pid()",
                               (postgresql.CONNECT_OPTIONS["application_name"],))
                return [row[0] for row in cursor.fetchall()]
        finally:
            connection.close()

    def terminate(self, pids):
        connection = postgresql.listen(notices.dsn_of(self.system.db.storage))
        try:
            with connection.cursor() as cursor:
                for pid in pids:
                    cursor.execute("SELECT pg_terminate_backend(%s)", (pid,))
        finally:
            connection.close()

    def test_a_job_is_picked_up_far_within_the_poll_interval(self):
        worker = self.system.start_worker("--poll-interval", "30")
        self.system.wait_for_log(worker, "serving /asyncreports")
        time.sleep(1)  # asleep in its wake source
        for _ in range(3):
            self.assertLess(self.pickup_seconds(), 2)

    def test_the_poll_interval_wakes_a_worker_whose_listen_connection_died(self):
        worker = self.system.start_worker("--poll-interval", "3")
        self.system.wait_for_log(worker, "serving /asyncreports")
        backends = self.system.wait_for(self.listen_backends, 30, "the worker's LISTEN")
        self.terminate(backends)
        self.system.wait_for_log(worker, "LISTEN connection lost", timeout=10)
        self.assertLess(self.pickup_seconds(), 3 + 3, "within a poll interval, and the job")
        # It connects again at its next look, and listens as before.
        self.system.wait_for(self.listen_backends, 30, "the worker to LISTEN again")
        time.sleep(0.5)
        self.assertLess(self.pickup_seconds(), 2)
        self.assertIsNone(worker.poll())


@zeo_only("a ZEO server's invalidations")
class WorkerOnZEOTests(unittest.TestCase):
    def setUp(self):
        self.system = System()
        self.addCleanup(self.system.close)

    def test_an_invalidation_wakes_the_wake_source_at_once(self):
        other = self.system.instance.open_db()
        self.addCleanup(other.close)
        wake = wake_source(other)
        self.assertIsInstance(wake, InvalidationWake)
        verifyObject(IWakeSource, wake)
        for _ in range(3):
            wake.arm()
            # Longer than the check for this process's own commits: only the
            # invalidation can end the wait this soon.
            wake.local_commits_seconds = 30
            self.system.submit("noop")
            started = time.monotonic()
            self.assertTrue(wake.wait(10))
            self.assertLess(time.monotonic() - started, 1)
        wake.arm()
        self.assertFalse(wake.wait(0.3), "nothing new")
        wake.interrupt()
        self.assertFalse(wake.wait(10))

    def test_a_job_is_picked_up_far_within_the_poll_interval(self):
        worker = self.system.start_worker("--poll-interval", "30")
        self.system.wait_for_log(worker, "serving /asyncreports")
        time.sleep(1)
        for _ in range(3):
            job_id = self.system.submit("noop")
            job = self.system.wait_for_state(job_id, "done", timeout=60)
            self.assertLess(job["started"] - job["created"], 1)

"""Retention: expired jobs purged in batches, "keep", the purge turn (one worker at a time)."""

import os
import shutil
import tempfile
import unittest

import transaction
from ZODB.DB import DB
from ZODB.FileStorage import FileStorage
from ZODB.POSException import ConflictError

from collective.asyncreports.queue import DONE
from collective.asyncreports.queue import JobQueue
from collective.asyncreports.queue.retention import DAY


T0 = 1_700_000_000.0


def finished_jobs(queue, count, now, owner="alice", report="summary"):
    """``count`` jobs run and done at ``now``."""
    jobs = [queue.enqueue(report, "/site", {"n": i}, owner, now=now) for i in range(count)]
    for job in queue.claim("w", limit=count, now=now):
        queue.finish(job.id, job.lease_token, f"/r/{job.id}", now=now)
    return jobs


class ExpiredTests(unittest.TestCase):
    def _makeOne(self, **settings):
        return JobQueue(**dict({"retention_days": 30}, **settings))

    def test_only_jobs_finished_before_the_cutoff(self):
        queue = self._makeOne()
        old = finished_jobs(queue, 3, T0)
        young = finished_jobs(queue, 2, T0 + 29 * DAY)
        expired = queue.expired(now=T0 + 31 * DAY)
        self.assertEqual({job.id for job in expired}, {job.id for job in old})
        self.assertTrue(all(job.id in queue for job in young))

    def test_created_long_ago_finished_lately_is_kept(self):
        queue = self._makeOne()
        job = queue.enqueue("summary", "/site", {}, "alice", now=T0)
        (claimed,) = queue.claim("w", now=T0 + 20 * DAY)
        queue.finish(job.id, claimed.lease_token, "/r", now=T0 + 20 * DAY)
        self.assertEqual(queue.expired(now=T0 + 31 * DAY), [])
        self.assertEqual(queue.expired(now=T0 + 51 * DAY), [job])

    def test_zero_days_keeps_forever(self):
        queue = self._makeOne(retention_days=0)
        finished_jobs(queue, 2, T0)
        self.assertEqual(queue.expired(now=T0 + 10000 * DAY), [])
        self.assertEqual(queue.purge_expired("w", now=T0 + 10000 * DAY), [])
        self.assertEqual(len(queue), 2)

    def test_kept_jobs_stay_active_ones_are_never_expired(self):
        queue = self._makeOne()
        kept, other = finished_jobs(queue, 2, T0)
        queue.set_keep(kept.id, True, actor="alice", now=T0)
        waiting = queue.enqueue("summary", "/site", {}, "alice", now=T0)
        self.assertEqual(queue.expired(now=T0 + 40 * DAY), [other])
        self.assertEqual(kept.history[-1]["event"], "kept")
        self.assertEqual(kept.as_dict()["keep"], True)
        self.assertEqual(queue.purge_expired("w", now=T0 + 40 * DAY), [other])
        self.assertIn(kept.id, queue)
        self.assertIn(waiting.id, queue)

    def test_manual_purge_skips_kept_unless_named(self):
        queue = self._makeOne()
        kept, other = finished_jobs(queue, 2, T0)
        queue.set_keep(kept.id, True, actor="alice")
        self.assertEqual(queue.purge(older_than=0, now=T0 + 1), [other])
        self.assertEqual(queue.purge(job_ids=[kept.id]), [kept])

    def test_unkeep(self):
        queue = self._makeOne()
        (job,) = finished_jobs(queue, 1, T0)
        queue.set_keep(job.id, True, actor="alice")
        queue.set_keep(job.id, False, actor="bob")
        self.assertFalse(job.keep)
        self.assertEqual(job.history[-1]["event"], "no longer kept")
        events = len(job.history)
        queue.set_keep(job.id, False, actor="bob")
        self.assertEqual(len(job.history), events)  # no change, nothing written

    def test_batches_and_turns(self):
        queue = self._makeOne()
        finished_jobs(queue, 250, T0)
        later = T0 + 31 * DAY
        self.assertEqual(len(queue.purge_expired("w1", now=later)), 100)
        # w1's turn goes on while its batches come out full; w2 must wait.
        self.assertEqual(queue.purge_expired("w2", now=later + 1), [])
        self.assertEqual(len(queue.purge_expired("w1", now=later + 1)), 100)
        self.assertEqual(len(queue.purge_expired("w1", now=later + 2)), 50)
        self.assertFalse(queue.purge_turn().more)
        # The turn is over: nobody purges until purge_every has passed.
        finished_jobs(queue, 5, T0)
        self.assertEqual(queue.purge_expired("w1", now=later + 3), [])
        self.assertEqual(queue.purge_expired("w2", now=later + 3), [])
        self.assertEqual(len(queue.purge_expired("w2", now=later + 2 + queue.purge_every)), 5)
        self.assertEqual(queue.stats()[DONE], 0)

    def test_stored_queue_without_turn_may_purge(self):
        queue = self._makeOne()
        del queue._purge_turn  # as stored before retention ran in workers
        self.assertTrue(queue.may_purge("w", now=T0))


class TurnConflictTests(unittest.TestCase):
    """Two workers taking the same turn at once: one ConflictError, one purge."""

    def setUp(self):
        self.tmpdir = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.tmpdir, ignore_errors=True)
        self.db = DB(FileStorage(os.path.join(self.tmpdir, "Data.fs")))
        self.addCleanup(self.db.close)
        tm, queue = self._open()
        finished_jobs(queue, 3, T0)
        tm.commit()

    def _open(self):
        tm = transaction.TransactionManager()
        conn = self.db.open(tm)
        self.addCleanup(conn.close)
        self.addCleanup(tm.abort)
        root = conn.root()
        if "queue" not in root:
            root["queue"] = JobQueue(retention_days=1)
        return tm, root["queue"]

    def test_second_worker_conflicts_then_skips(self):
        later = T0 + 2 * DAY
        tm1, q1 = self._open()
        tm2, q2 = self._open()
        self.assertEqual(len(q1.purge_expired("w1", now=later)), 3)
        self.assertEqual(len(q2.purge_expired("w2", now=later)), 3)
        tm1.commit()
        with self.assertRaises(ConflictError):
            tm2.commit()
        tm2.abort()
        self.assertEqual(q2.purge_expired("w2", now=later), [])  # its retry
        tm2.commit()
        self.assertEqual(len(q2), 0)
        self.assertEqual(q2.purge_turn().worker_id, "w1")

    def test_turn_marker_made_by_two_at_once_conflicts(self):
        # A queue stored before retention: both workers make the marker.
        tm, queue = self._open()
        del queue._purge_turn
        tm.commit()
        later = T0 + 2 * DAY
        tm1, q1 = self._open()
        tm2, q2 = self._open()
        q1.purge_expired("w1", now=later, limit=1)
        q2.purge_expired("w2", now=later, limit=1)
        tm1.commit()
        with self.assertRaises(ConflictError):
            tm2.commit()

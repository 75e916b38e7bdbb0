"""Limits: a user's active jobs, identical jobs, recent results, max_concurrent at claim time."""

import os
import shutil
import tempfile
import unittest

import transaction
from ZODB.DB import DB
from ZODB.FileStorage import FileStorage
from ZODB.POSException import ConflictError

from collective.asyncreports.queue import JobQueue


T0 = 1_700_000_000.0


class ActiveJobsTests(unittest.TestCase):
    def test_active_jobs_follow_the_states(self):
        queue = JobQueue()
        first = queue.enqueue("summary", "/site", {"a": 1}, "alice", now=T0)
        second = queue.enqueue("summary", "/site", {"a": 2}, "alice", now=T0 + 1)
        queue.enqueue("summary", "/site", {}, "bob", now=T0 + 0.5)
        self.assertEqual(queue.active_jobs("alice"), [first, second])
        self.assertEqual(queue.queued_count("alice"), 2)
        self.assertEqual(queue.claim("w", now=T0 + 2), [first])
        self.assertEqual(queue.queued_count("alice"), 1)
        self.assertEqual(queue.active_jobs("alice"), [first, second])
        queue.finish(first.id, first.lease_token, "/r", now=T0 + 3)
        self.assertEqual(queue.active_jobs("alice"), [second])
        queue.cancel(second.id, actor="alice", now=T0 + 4)
        self.assertEqual(queue.active_jobs("alice"), [])
        queue.retry(second.id, actor="admin", now=T0 + 5)
        self.assertEqual(queue.active_jobs("alice"), [second])

    def test_index_built_for_a_stored_queue(self):
        queue = JobQueue()
        job = queue.enqueue("summary", "/site", {}, "alice", now=T0)
        running = queue.enqueue("summary", "/site", {}, "alice", now=T0 + 1)
        queue.claim("w", now=T0 + 2, spread=1)
        del queue._active_by_owner  # as stored before there were limits
        self.assertEqual({j.id for j in queue.active_jobs("alice")}, {job.id, running.id})

    def test_active_twin_compares_report_target_parameters_format(self):
        queue = JobQueue()
        job = queue.enqueue("summary", "/site", {"a": 1}, "alice", now=T0)
        self.assertIs(queue.active_twin("alice", "summary", "/site", {"a": 1}, "pdf"), job)
        for other in (("bob", "summary", "/site", {"a": 1}, "pdf"),
                      ("alice", "other", "/site", {"a": 1}, "pdf"),
                      ("alice", "summary", "/elsewhere", {"a": 1}, "pdf"),
                      ("alice", "summary", "/site", {"a": 2}, "pdf"),
                      ("alice", "summary", "/site", {"a": 1}, "csv")):
            self.assertIsNone(queue.active_twin(*other), other)

    def test_recent_result(self):
        queue = JobQueue()
        job = queue.enqueue("summary", "/site", {}, "alice", now=T0)
        self.assertIsNone(queue.recent_result("alice", "summary", "/site", {}, "pdf", T0))
        (claimed,) = queue.claim("w", now=T0)
        queue.finish(job.id, claimed.lease_token, "/r/1", now=T0 + 60)
        self.assertIs(queue.recent_result("alice", "summary", "/site", {}, "pdf", T0), job)
        self.assertIsNone(queue.recent_result("alice", "summary", "/site", {}, "pdf", T0 + 61))
        self.assertIsNone(queue.recent_result("bob", "summary", "/site", {}, "pdf", T0))


class MaxConcurrentTests(unittest.TestCase):
    def test_claim_passes_over_a_full_report(self):
        queue = JobQueue()
        heavy = [queue.enqueue("heavy", "/site", {"n": i}, "alice", now=T0 + i) for i in range(3)]
        light = queue.enqueue("light", "/site", {}, "alice", now=T0 + 10)
        claimed = queue.claim("w1", limit=4, now=T0 + 20, limits={"heavy": 1})
        self.assertEqual(claimed, [heavy[0], light])
        self.assertEqual(queue.claim("w2", limit=4, now=T0 + 20, limits={"heavy": 1}), [])
        queue.finish(heavy[0].id, heavy[0].lease_token, "/r", now=T0 + 21)
        self.assertEqual(queue.claim("w2", limit=4, now=T0 + 22, limits={"heavy": 1}),
                         [heavy[1]])
        self.assertEqual(queue._slots["heavy"].claims, 2)
        self.assertIsNone(queue._slots.get("light"))

    def test_limit_of_two_in_one_batch(self):
        queue = JobQueue()
        for i in range(5):
            queue.enqueue("heavy", "/site", {"n": i}, "alice", now=T0 + i)
        claimed = queue.claim("w1", limit=5, now=T0 + 20, spread=64, limits={"heavy": 2})
        self.assertEqual(len(claimed), 2)

    def test_without_limits_nothing_changes(self):
        queue = JobQueue()
        for i in range(3):
            queue.enqueue("heavy", "/site", {"n": i}, "alice", now=T0 + i)
        self.assertEqual(len(queue.claim("w1", limit=3, now=T0 + 20)), 3)
        self.assertEqual(len(queue._slots), 0)


class RacingClaimsTests(unittest.TestCase):
    """Two workers claim the last slot of a report at once: one conflicts."""

    def setUp(self):
        self.tmpdir = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.tmpdir, ignore_errors=True)
        self.db = DB(FileStorage(os.path.join(self.tmpdir, "Data.fs")))
        self.addCleanup(self.db.close)
        tm, queue = self._open()
        # The first heavy job in line is due a moment later than the others,
        # so two claims at slightly different times want different heavy jobs.
        queue.enqueue("heavy", "/site", {"n": 0}, "alice", now=T0, not_before=T0 + 20.5,
                      priority=1)
        for i in range(1, 4):
            queue.enqueue("heavy", "/site", {"n": i}, "alice", now=T0 + 20 + i / 10)
        queue.enqueue("light", "/site", {}, "bob", now=T0 + 21)
        tm.commit()

    def _open(self):
        tm = transaction.TransactionManager()
        conn = self.db.open(tm)
        self.addCleanup(conn.close)
        self.addCleanup(tm.abort)
        root = conn.root()
        if "queue" not in root:
            root["queue"] = JobQueue()
        return tm, root["queue"]

    def _running_heavy(self):
        tm, queue = self._open()
        return [job for job in queue.running_jobs() if job.report == "heavy"]

    def test_last_slot_taken_twice_conflicts(self):
        tm, queue = self._open()
        queue._take_slot("heavy")  # made by an earlier claim
        tm.commit()
        tm1, q1 = self._open()
        tm2, q2 = self._open()
        (first,) = q1.claim("w1", now=T0 + 21, limits={"heavy": 1})
        (second,) = q2.claim("w2", now=T0 + 20.35, limits={"heavy": 1})
        self.assertEqual((first.params, second.params), ({"n": 0}, {"n": 1}))
        tm1.commit()
        with self.assertRaises(ConflictError) as caught:
            tm2.commit()
        self.assertIn("ReportSlot", str(caught.exception))
        tm2.abort()
        self.assertEqual([job.report for job in q2.claim("w2", now=T0 + 22,
                                                         limits={"heavy": 1})], ["light"])
        tm2.commit()
        self.assertEqual(len(self._running_heavy()), 1)

    def test_slot_made_by_two_at_once_conflicts(self):
        tm1, q1 = self._open()
        tm2, q2 = self._open()
        q1.claim("w1", now=T0 + 21, limits={"heavy": 1})
        q2.claim("w2", now=T0 + 20.35, limits={"heavy": 1})
        tm1.commit()
        with self.assertRaises(ConflictError):
            tm2.commit()

    def test_slots_of_a_stored_queue_made_by_two_at_once_conflict(self):
        tm, queue = self._open()
        del queue._slots  # as stored before there were limits: made on first use
        tm.commit()
        tm1, q1 = self._open()
        tm2, q2 = self._open()
        q1.claim("w1", now=T0 + 21, limits={"heavy": 1})
        q2.claim("w2", now=T0 + 20.35, limits={"heavy": 1})
        tm1.commit()
        with self.assertRaises(ConflictError):
            tm2.commit()

    def test_other_reports_claimed_while_it_is_full_leave_the_slot_alone(self):
        tm1, q1 = self._open()
        (heavy,) = q1.claim("w1", now=T0 + 21, limits={"heavy": 1})
        tm1.commit()
        serial = self._open()[1]._slots["heavy"]._p_serial
        tm2, q2 = self._open()
        self.assertEqual([job.report for job in q2.claim("w2", limit=5, now=T0 + 22,
                                                         limits={"heavy": 1})], ["light"])
        tm2.commit()
        tm3, q3 = self._open()
        self.assertEqual(q3._slots["heavy"]._p_serial, serial)
        self.assertEqual(q3._slots["heavy"].claims, 1)  # its one claim
        self.assertEqual(len(self._running_heavy()), 1)

"""Concurrent transactions on one queue: what merges, what conflicts, nothing lost."""

import os
import shutil
import tempfile
import unittest

import transaction
from ZODB.DB import DB
from ZODB.FileStorage import FileStorage
from ZODB.POSException import ConflictError

from collective.asyncreports import errors
from collective.asyncreports.queue import CANCELLED
from collective.asyncreports.queue import DONE
from collective.asyncreports.queue import QUEUED
from collective.asyncreports.queue import RUNNING
from collective.asyncreports.queue import JobQueue


T0 = 1_700_000_000.0


class ConflictTestCase(unittest.TestCase):
    """One FileStorage (it resolves conflicts), a transaction manager per actor."""

    def setUp(self):
        self.tmpdir = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.tmpdir, ignore_errors=True)
        self.db = DB(FileStorage(os.path.join(self.tmpdir, "Data.fs")))
        self.addCleanup(self.db.close)
        tm = transaction.TransactionManager()
        conn = self.db.open(tm)
        conn.root()["queue"] = JobQueue(lease_seconds=100, backoff_seconds=10, clock_skew=0)
        tm.commit()
        conn.close()

    def _open(self):
        """A new actor: (transaction manager, its view of the queue)."""
        tm = transaction.TransactionManager()
        conn = self.db.open(tm)
        self.addCleanup(conn.close)
        self.addCleanup(tm.abort)
        return tm, conn.root()["queue"]

    def _enqueue(self, queue, now=T0, **kw):
        return queue.enqueue("summary", "/site", {}, "alice", now=now, **kw)

    def _setup_jobs(self, count, now=T0):
        tm, queue = self._open()
        ids = [self._enqueue(queue, now=now + i).id for i in range(count)]
        tm.commit()
        return ids


class MergingTests(ConflictTestCase):
    def test_concurrent_enqueues_both_commit(self):
        tm1, q1 = self._open()
        tm2, q2 = self._open()
        first = self._enqueue(q1, now=T0).id
        second = self._enqueue(q2, now=T0 + 1).id
        tm1.commit()
        tm2.commit()
        tm3, q3 = self._open()
        self.assertEqual(q3.stats()[QUEUED], 2)
        self.assertEqual(len(q3), 2)
        self.assertEqual([job.id for job in q3.list_jobs()[0]], [second, first])
        self.assertEqual([job.id for job in q3.claim("w1", limit=5, now=T0 + 5)], [first, second])

    def test_concurrent_enqueues_in_a_big_queue_mostly_merge(self):
        # Pairs of enqueues mostly merge; when one splits a bucket the other
        # conflicts, and its retry (as the publisher would) succeeds.
        self._setup_jobs(200)
        tm1, q1 = self._open()
        tm2, q2 = self._open()
        merged = 0
        for i in range(20):
            tm1.begin()
            tm2.begin()
            self._enqueue(q1, now=T0 + 1000 + i, dedup_key=f"a{i}")
            self._enqueue(q2, now=T0 + 1000 + i, dedup_key=f"b{i}")
            tm1.commit()
            try:
                tm2.commit()
                merged += 1
            except ConflictError:
                tm2.abort()
                tm2.begin()
                self._enqueue(q2, now=T0 + 1000 + i, dedup_key=f"b{i}")
                tm2.commit()
        queue = self._open()[1]
        self.assertEqual(len(queue), 240)
        self.assertEqual(queue.stats()[QUEUED], 240)
        self.assertEqual(len({job.dedup_key for job in queue.list_jobs(size=40)[0]}), 40)
        self.assertGreater(merged, 10)

    def test_double_submit_with_one_dedup_key_leaves_one_job(self):
        tm1, q1 = self._open()
        tm2, q2 = self._open()
        job_id = self._enqueue(q1, dedup_key="form-1").id
        self._enqueue(q2, dedup_key="form-1")
        tm1.commit()
        with self.assertRaises(ConflictError):
            tm2.commit()
        tm2.abort()
        tm2.begin()
        self.assertEqual(self._enqueue(q2, dedup_key="form-1").id, job_id)
        tm2.commit()
        self.assertEqual(len(self._open()[1]), 1)

    def test_claim_merges_with_enqueue_finish_and_heartbeat(self):
        # Different jobs, same indexes: BTrees merge the buckets, Length
        # merges the counters, so none of these four transactions conflicts.
        first, second = self._setup_jobs(2)
        tm, queue = self._open()
        [running] = queue.claim("w1", now=T0 + 10)
        tm.commit()
        tm_finish, q_finish = self._open()
        tm_claim, q_claim = self._open()
        tm_enqueue, q_enqueue = self._open()
        tm_beat, q_beat = self._open()
        q_finish.finish(first, running.lease_token, "/r", now=T0 + 20)
        self.assertEqual([j.id for j in q_claim.claim("w2", now=T0 + 20)], [second])
        third = self._enqueue(q_enqueue, now=T0 + 20).id
        q_beat.heartbeat("w3", now=T0 + 20)
        for tm in (tm_finish, tm_claim, tm_enqueue, tm_beat):
            tm.commit()
        queue = self._open()[1]
        self.assertEqual(
            [queue.get(i).state for i in (first, second, third)],
            [DONE, RUNNING, QUEUED],
        )
        self.assertEqual(
            queue.stats(),
            {"queued": 1, "running": 1, "done": 1, "failed": 0, "cancelled": 0, "total": 3},
        )
        self.assertIsNone(queue.worker("w2"))  # claims leave records to heartbeats
        self.assertIsNotNone(queue.worker("w3"))

    def test_concurrent_heartbeats_never_conflict(self):
        tm1, q1 = self._open()
        tm2, q2 = self._open()
        for i in range(3):
            q1.heartbeat("w1", hostname="a", pid=1, now=T0 + i)
            q2.heartbeat("w2", hostname="b", pid=2, now=T0 + i)
            tm1.commit()
            tm2.commit()
        queue = self._open()[1]
        self.assertEqual([r.worker_id for r in queue.workers()], ["w1", "w2"])
        self.assertEqual(queue.worker("w2").last_heartbeat, T0 + 2)

    def test_claims_deep_in_a_long_queue_merge_with_cancels(self):
        # Long after the first bucket was drained, a claim still deletes a
        # key behind the index's first key, so it merges with a concurrent
        # change of the same bucket and leaves the parent node alone (whose
        # rewrite would make the other transaction's read-current check fail).
        job_ids = self._setup_jobs(400)
        tm, queue = self._open()
        for _ in range(100):
            queue.claim("w0", now=T0 + 1000)
            tm.commit()
        tm_claim, q_claim = self._open()
        tm_cancel, q_cancel = self._open()
        conflicts = 0
        for i in range(100, 160, 2):
            tm_claim.begin()
            tm_cancel.begin()
            self.assertEqual([j.id for j in q_claim.claim("w1", now=T0 + 1000)], [job_ids[i]])
            q_cancel.cancel(job_ids[i + 1], now=T0 + 1000)
            tm_claim.commit()
            try:
                tm_cancel.commit()
            except ConflictError:
                conflicts += 1
                tm_cancel.abort()
                tm_cancel.begin()
                q_cancel.cancel(job_ids[i + 1], now=T0 + 1000)
                tm_cancel.commit()
        self.assertLess(conflicts, 30 / 4)
        queue = self._open()[1]
        self.assertEqual(
            [queue.get(job_id).state for job_id in job_ids[100:160]], [RUNNING, CANCELLED] * 30)
        self.assertEqual(queue.stats()[QUEUED], 240)
        next_two = queue.claim("w2", limit=2, now=T0 + 1000)
        self.assertEqual([job.id for job in next_two], job_ids[160:162])

    def test_a_batch_ending_while_another_worker_claims_a_batch_merges(self):
        # Each worker's running jobs are in an index of its own. In one index
        # shared by all workers, one batch's 64 keys leaving while another's
        # 64 arrive split and joined the same buckets: tree changes, which
        # never merge.
        self._setup_jobs(600)
        tm1, q1 = self._open()
        tm2, q2 = self._open()
        batch = [(job.id, job.lease_token) for job in q1.claim("w1", limit=64, now=T0 + 1000)]
        tm1.commit()
        tm2.begin()
        q2.claim("w2", limit=64, now=T0 + 1000)
        tm2.commit()
        for _ in range(3):
            tm1.begin()
            tm2.begin()
            for job_id, token in batch:
                q1.finish(job_id, token, f"/results/{job_id}", now=T0 + 1001)
            claimed = q2.claim("w2", limit=64, now=T0 + 1001)
            tm1.commit()
            tm2.commit()  # merges: no ConflictError
            tm1.begin()
            batch = [(job.id, job.lease_token) for job in q1.claim("w1", limit=64,
                                                                    now=T0 + 1002)]
            tm1.commit()
        queue = self._open()[1]
        stats = queue.stats()
        self.assertEqual((stats[DONE], stats[RUNNING], stats[QUEUED]), (192, 320, 88))
        self.assertEqual(len(claimed), 64)
        running, total = queue.list_jobs(state=RUNNING, size=500)
        self.assertEqual((len(running), total), (320, 320))
        self.assertEqual(running, sorted(running, key=lambda job: -job.created))
        self.assertEqual({job.lease_worker for job in running}, {"w1", "w2"})


class ClaimRaceTests(ConflictTestCase):
    def test_two_workers_claiming_one_job(self):
        [job_id] = self._setup_jobs(1)
        tm1, q1 = self._open()
        tm2, q2 = self._open()
        self.assertEqual([j.id for j in q1.claim("w1", now=T0 + 1)], [job_id])
        self.assertEqual([j.id for j in q2.claim("w2", now=T0 + 1)], [job_id])
        tm1.commit()
        with self.assertRaises(ConflictError):
            tm2.commit()
        tm2.abort()
        tm2.begin()
        self.assertEqual(q2.claim("w2", now=T0 + 2), [])
        job = q2.get(job_id)
        self.assertEqual((job.state, job.lease_worker, job.attempts), (RUNNING, "w1", 1))

    def test_zombie_finishing_after_takeover_loses_its_lease(self):
        [job_id] = self._setup_jobs(1)
        tm_zombie, q_zombie = self._open()
        [job] = q_zombie.claim("zombie", now=T0)
        stale = job.lease_token
        tm_zombie.commit()
        tm, queue = self._open()
        self.assertEqual([j.id for j in queue.reap(now=T0 + 100)], [job_id])
        tm.commit()
        self.assertEqual([j.id for j in queue.claim("w2", now=T0 + 200)], [job_id])
        tm.commit()
        tm_zombie.begin()
        with self.assertRaises(errors.LeaseLost):
            q_zombie.finish(job_id, stale, "/zombie-result", now=T0 + 300)
        tm_zombie.abort()
        self.assertEqual(self._open()[1].get(job_id).lease_worker, "w2")

    def test_zombie_with_a_stale_view_cannot_commit(self):
        # The zombie still sees its own lease, but readCurrent plus the job
        # write make its commit fail; after a sync it sees the loss.
        [job_id] = self._setup_jobs(1)
        tm_zombie, q_zombie = self._open()
        [job] = q_zombie.claim("zombie", now=T0)
        stale = job.lease_token
        tm_zombie.commit()
        self.assertEqual(q_zombie.get(job_id).state, RUNNING)
        tm, queue = self._open()
        queue.reap(now=T0 + 100)
        tm.commit()
        queue.claim("w2", now=T0 + 200)
        tm.commit()
        q_zombie.finish(job_id, stale, "/zombie-result", now=T0 + 300)
        with self.assertRaises(ConflictError):
            tm_zombie.commit()
        tm_zombie.abort()
        tm_zombie.begin()
        with self.assertRaises(errors.LeaseLost):
            q_zombie.finish(job_id, stale, "/zombie-result", now=T0 + 300)
        job = self._open()[1].get(job_id)
        self.assertEqual((job.state, job.result_path), (RUNNING, None))

    def test_many_workers_neither_lose_nor_double_jobs(self):
        # Each tick every worker, from its own snapshot, either claims up to
        # three jobs or finishes the ones it holds, then all commit. Claims
        # from one snapshot race for the head of the queue: one wins, the
        # others conflict, abort and retry; finishes merge with the claims.
        job_ids = self._setup_jobs(60)
        workers = {f"w{i}": self._open() for i in range(5)}
        held = {}
        claimed = []
        commits = {"claim": 0, "finish": 0}
        conflicts = {"claim": 0, "finish": 0}
        for tick in range(100):
            now = T0 + 100 + tick
            steps = {}
            for worker_id, (tm, queue) in workers.items():
                tm.begin()
                if worker_id in held:
                    for job_id, token in held[worker_id]:
                        queue.finish(job_id, token, f"/r/{job_id}", now=now)
                    steps[worker_id] = ("finish", held[worker_id])
                else:
                    jobs = queue.claim(worker_id, limit=3, now=now)
                    steps[worker_id] = ("claim", [(j.id, j.lease_token) for j in jobs])
            if not any(jobs for _, jobs in steps.values()):
                break
            for worker_id, (step, jobs) in steps.items():
                tm = workers[worker_id][0]
                try:
                    tm.commit()
                except ConflictError:
                    tm.abort()
                    conflicts[step] += 1
                    continue
                if step == "finish":
                    del held[worker_id]
                elif jobs:
                    held[worker_id] = jobs
                    claimed.extend(job_id for job_id, _ in jobs)
                commits[step] += bool(jobs)
        queue = self._open()[1]
        self.assertEqual(sorted(claimed), sorted(job_ids))
        self.assertEqual(queue.stats()[DONE], 60)
        self.assertEqual(len(queue), 60)
        self.assertTrue(all(queue.get(i).attempts == 1 for i in job_ids))
        self.assertEqual(commits["claim"], 20)
        self.assertGreater(conflicts["claim"], 0)
        self.assertLess(conflicts["finish"], commits["finish"] / 4)

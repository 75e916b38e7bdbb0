"""Workers purge expired jobs with their results by themselves; kept jobs stay."""

import time
import unittest

import transaction

from collective.asyncreports import testing
from collective.asyncreports.queue.retention import DAY
from collective.asyncreports.worker import queue_steps
from collective.asyncreports.worker.loop import Worker
from collective.asyncreports.worker.session import Session


QUEUE_PATH = "/" + testing.QUEUE_ID


class WorkerPurgeTests(unittest.TestCase):
    layer = testing.FUNCTIONAL_TESTING

    def setUp(self):
        self.app = self.layer["app"]
        self.queue = self.app[testing.QUEUE_ID]
        self.jobs = self.queue.job_queue()
        self.db = self.layer["zodbDB"]

    def finished(self, count, days_ago, keep=False):
        """``count`` done jobs with a stored result, finished ``days_ago`` days ago."""
        owner = self.app.acl_users.getUser(testing.REPORTER)
        when = time.time() - days_ago * DAY
        store = self.queue.result_store()
        ids = []
        for _ in range(count):
            job = self.jobs.enqueue("diagnostic", "/docs", {}, testing.REPORTER, now=when,
                                    queue_path=QUEUE_PATH)
            (claimed,) = self.jobs.claim("w", now=when, spread=1)
            path = store.store_result(claimed, b"%PDF-1.4", "r.pdf", "application/pdf", owner)
            self.jobs.finish(claimed.id, claimed.lease_token, path, now=when)
            if keep:
                self.jobs.set_keep(claimed.id, True, actor=testing.REPORTER)
            ids.append(job.id)
        transaction.commit()
        return ids

    def result_names(self):
        return set(self.queue.result_store().folder().objectIds())

    def test_purges_expired_jobs_and_results_keeps_the_rest(self):
        old = self.finished(3, days_ago=40)
        kept = self.finished(1, days_ago=40, keep=True)
        young = self.finished(2, days_ago=10)
        with Session(self.db) as session, self.assertLogs("collective.asyncreports") as logs:
            more = queue_steps.purge_expired(session, "w1", [QUEUE_PATH])
        self.assertFalse(more)
        transaction.begin()
        self.assertEqual([job_id in self.jobs for job_id in old], [False] * 3)
        self.assertTrue(all(job_id in self.jobs for job_id in kept + young))
        self.assertEqual(len(self.result_names()), 3)
        self.assertEqual(len(logs.output), 1)
        self.assertIn(f"{QUEUE_PATH}: retention (30 days) purged 3 job(s) and their results, "
                      "the oldest finished", logs.output[0])

    def test_not_while_jobs_are_due_nor_before_the_turn_is_over(self):
        self.finished(2, days_ago=40)
        waiting = self.jobs.enqueue("diagnostic", "/docs", {}, testing.REPORTER,
                                    queue_path=QUEUE_PATH)
        transaction.commit()
        with Session(self.db) as session:
            queue_steps.purge_expired(session, "w1", [QUEUE_PATH])
            transaction.begin()
            self.assertEqual(len(self.jobs), 3)  # a job is due: not a quiet moment
            self.jobs.cancel(waiting.id, actor="admin")
            transaction.commit()
            queue_steps.purge_expired(session, "w1", [QUEUE_PATH])
            transaction.begin()
            self.assertEqual(len(self.jobs), 1)
            self.finished(1, days_ago=40)
            queue_steps.purge_expired(session, "w2", [QUEUE_PATH])  # w1 purged just now
        transaction.begin()
        self.assertEqual(len(self.jobs), 2)

    def test_an_idle_once_worker_purges_in_batches(self):
        self.finished(230, days_ago=40)
        Worker(self.db, once=True, worker_id="w1").run()
        transaction.begin()
        self.assertEqual(len(self.jobs), 0)
        self.assertEqual(self.result_names(), set())
        self.assertEqual(self.jobs.purge_turn().worker_id, "w1")
        self.assertFalse(self.jobs.purge_turn().more)

    def test_zero_days_keeps_forever(self):
        self.jobs.retention_days = 0
        self.finished(2, days_ago=400)
        with Session(self.db) as session:
            queue_steps.purge_expired(session, "w1", [QUEUE_PATH])
        transaction.begin()
        self.assertEqual(len(self.jobs), 2)

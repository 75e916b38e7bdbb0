"""Tests of the Job properties the UIs show: can_cancel, can_retry, is_active."""

import unittest

from collective.asyncreports.queue import ALL_STATES
from collective.asyncreports.queue import CANCELLED
from collective.asyncreports.queue import DONE
from collective.asyncreports.queue import FAILED
from collective.asyncreports.queue import QUEUED
from collective.asyncreports.queue import RUNNING
from collective.asyncreports.queue import Job
from collective.asyncreports.queue import JobQueue


T0 = 1_700_000_000.0


def _job(state, cancel_requested=False):
    job = Job("abc", "summary", "/site", {}, "alice", created=T0)
    job.state = state
    job.cancel_requested = cancel_requested
    return job


class JobPropertyTests(unittest.TestCase):
    def test_is_active_while_queued_or_running(self):
        self.assertEqual([state for state in ALL_STATES if _job(state).is_active],
                         [QUEUED, RUNNING])

    def test_can_cancel_what_is_not_final(self):
        self.assertEqual([state for state in ALL_STATES if _job(state).can_cancel],
                         [QUEUED, RUNNING])

    def test_cannot_cancel_twice(self):
        self.assertFalse(_job(RUNNING, cancel_requested=True).can_cancel)
        self.assertTrue(_job(RUNNING, cancel_requested=True).is_active)

    def test_can_retry_failed_or_cancelled(self):
        self.assertEqual([state for state in ALL_STATES if _job(state).can_retry],
                         [FAILED, CANCELLED])

    def test_a_new_job(self):
        job = Job("abc", "summary", "/site", {}, "alice", created=T0)
        self.assertEqual((job.is_active, job.can_cancel, job.can_retry), (True, True, False))


class PropertiesAgreeWithTheQueueTests(unittest.TestCase):
    """What the properties promise, JobQueue.cancel and retry do."""

    def setUp(self):
        self.queue = JobQueue(clock_skew=0)

    def _enqueue(self):
        return self.queue.enqueue("summary", "/site", {}, "alice", now=T0)

    def test_through_a_job_life(self):
        job = self._enqueue()
        self.assertEqual((job.can_cancel, job.can_retry), (True, False))
        self.queue.claim("w1", now=T0)
        self.assertEqual((job.is_active, job.can_cancel, job.can_retry), (True, True, False))
        self.queue.cancel(job.id, now=T0 + 1)
        self.assertEqual((job.is_active, job.can_cancel, job.can_retry), (True, False, False))
        self.queue.confirm_cancel(job.id, job.lease_token, now=T0 + 2)
        self.assertEqual((job.is_active, job.can_cancel, job.can_retry), (False, False, True))
        self.queue.retry(job.id, now=T0 + 3)
        self.assertEqual((job.state, job.can_cancel, job.can_retry), (QUEUED, True, False))

    def test_a_done_job_can_be_neither_cancelled_nor_retried(self):
        job = self._enqueue()
        self.queue.claim("w1", now=T0)
        self.queue.finish(job.id, job.lease_token, "/site/r", now=T0 + 1)
        self.assertEqual((job.state, job.is_active), (DONE, False))
        self.assertEqual((job.can_cancel, job.can_retry), (False, False))

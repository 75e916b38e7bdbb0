"""How each way of ending an attempt ends the job: state, history and error.

Every public method that ends a running job's attempt goes through
``Transitions._end_attempt``; these pin what each writes, to the letter.
"""

import unittest
from unittest import mock

from collective.asyncreports.queue import CANCELLED
from collective.asyncreports.queue import DONE
from collective.asyncreports.queue import FAILED
from collective.asyncreports.queue import QUEUED
from collective.asyncreports.queue import JobQueue


T0 = 1_700_000_000.0
END = T0 + 10
BACKOFF = 30.0


def finish(queue, job):
    queue.finish(job.id, job.lease_token, "/site/r.pdf", now=END)


def fail(queue, job):
    queue.fail(job.id, job.lease_token, "boom", "/site/err", now=END)


def release(queue, job):
    queue.release(job.id, job.lease_token, "busy", now=END)


def interrupt(queue, job):
    queue.release(job.id, job.lease_token, "stopping", count_attempt=False, now=END)


def hand_back(queue, job):
    queue.hand_back(job.id, job.lease_token, "not started", now=END)


def confirm_cancel(queue, job):
    queue.confirm_cancel(job.id, job.lease_token, now=END)


def reap(queue, job):
    # The worker never heartbeat: its lease is gone once lease_expires passed.
    queue.reap(now=T0 + queue.lease_seconds, actor="reaper")


def reap_worker(queue, job):
    queue.reap_worker("w1", "died", actor="reaper", now=END)


class EndAttemptTests(unittest.TestCase):
    def _claimed(self, max_attempts=3, cancel=False, lost_runs=0):
        queue = JobQueue(lease_seconds=5, clock_skew=0)
        job = queue.enqueue("summary", "/site", {}, "alice", max_attempts=max_attempts, now=T0)
        self.assertEqual(queue.claim("w1", now=T0), [job])
        job.lost_runs = lost_runs
        if cancel:
            queue.cancel(job.id, actor="alice", now=T0 + 1)
        return queue, job

    def _check(self, end, expected, **claimed):
        state, event, detail, error, attempts, not_before = expected
        queue, job = self._claimed(**claimed)
        with mock.patch.object(JobQueue, "backoff", return_value=BACKOFF):
            end(queue, job)
        last = job.history[-1]
        self.assertEqual(
            (job.state, last["event"], last["detail"], job.error_message, job.attempts,
             job.not_before),
            (state, event, detail, error, attempts, not_before))
        self.assertIsNone(job.lease_token)
        self.assertEqual(queue.stats()[state], 1)
        return job

    def test_the_worker_s_own_endings(self):
        cases = {
            finish: (DONE, "finished", "/site/r.pdf", None, 1, T0),
            fail: (FAILED, "failed", "boom", "boom", 1, T0),
            release: (QUEUED, "released", "busy; next try in 30s", "busy", 1, END + BACKOFF),
            interrupt: (QUEUED, "interrupted", "stopping", "stopping", 0, END),
            hand_back: (QUEUED, "handed back", "not started", None, 0, T0),
        }
        for end, expected in cases.items():
            with self.subTest(end.__name__):
                job = self._check(end, expected)
                self.assertEqual(job.history[-1]["actor"], "w1")

    def test_the_last_attempt(self):
        cases = {
            release: (FAILED, "failed", "busy", "busy", 1, T0),
            # Uncounted: the last attempt is not used up.
            interrupt: (QUEUED, "interrupted", "stopping", "stopping", 0, END),
            hand_back: (QUEUED, "handed back", "not started", None, 0, T0),
        }
        for end, expected in cases.items():
            with self.subTest(end.__name__):
                self._check(end, expected, max_attempts=1)

    def test_a_requested_cancel_wins_unless_the_job_finished_or_failed(self):
        cases = {
            finish: (DONE, "finished", "/site/r.pdf", None, 1, T0),
            fail: (FAILED, "failed", "boom", "boom", 1, T0),
            release: (CANCELLED, "cancelled", "busy", "busy", 1, T0),
            interrupt: (CANCELLED, "cancelled", "stopping", "stopping", 1, T0),
            hand_back: (CANCELLED, "cancelled", "not started", None, 1, T0),
            confirm_cancel: (CANCELLED, "cancelled", "", None, 1, T0),
            reap: (CANCELLED, "cancelled", "the lease of worker w1 expired", None, 1, T0),
            reap_worker: (CANCELLED, "cancelled", "died", None, 1, T0),
        }
        for end, expected in cases.items():
            with self.subTest(end.__name__):
                self._check(end, expected, cancel=True)

    def test_a_lost_lease_counts(self):
        reason = "the lease of worker w1 expired"
        job = self._check(reap, (QUEUED, "reaped", f"{reason} (1 of 3 attempts used); next try "
                                 "in 30s", f"{reason} (1 of 3 attempts used)", 1, T0 + 5 + BACKOFF))
        self.assertEqual(job.history[-1]["actor"], "reaper")
        self._check(reap, (FAILED, "abandoned", f"abandoned: {reason}, and all 1 of 1 attempts "
                           "are used", f"abandoned: {reason}, and all 1 of 1 attempts are used",
                           1, T0), max_attempts=1)

    def test_a_dead_worker_s_job_goes_back_uncounted_max_attempts_times(self):
        job = self._check(reap_worker, (QUEUED, "reaped", "died; attempt not counted", None, 0, T0),
                          max_attempts=2, lost_runs=1)
        self.assertEqual(job.lost_runs, 2)
        job = self._check(reap_worker, (QUEUED, "reaped", "died (1 of 2 attempts used); next try "
                                        "in 30s", "died (1 of 2 attempts used)", 1, END + BACKOFF),
                          max_attempts=2, lost_runs=2)
        self.assertEqual(job.lost_runs, 3)
        self._check(reap_worker, (FAILED, "abandoned", "abandoned: died, and all 1 of 1 attempts "
                                  "are used", "abandoned: died, and all 1 of 1 attempts are used",
                                  1, T0), max_attempts=1, lost_runs=1)

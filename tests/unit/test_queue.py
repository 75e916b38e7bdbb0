"""Tests of the queue model: every operation and state transition."""

import json
import unittest
from unittest import mock

import transaction
from ZODB.DB import DB
from ZODB.MappingStorage import MappingStorage

from collective.asyncreports import errors
from collective.asyncreports.queue import ALL_STATES
from collective.asyncreports.queue import CANCELLED
from collective.asyncreports.queue import DONE
from collective.asyncreports.queue import FAILED
from collective.asyncreports.queue import FINAL_STATES
from collective.asyncreports.queue import QUEUED
from collective.asyncreports.queue import RUNNING
from collective.asyncreports.queue import Job
from collective.asyncreports.queue import JobQueue
from collective.asyncreports.queue import WorkerRecord


T0 = 1_700_000_000.0


class QueueTestCase(unittest.TestCase):
    def _getTargetClass(self):
        return JobQueue

    def _makeOne(self, **settings):
        # Clocks agree in these tests; ClockSkewTests lets them differ.
        settings.setdefault("clock_skew", 0)
        return self._getTargetClass()(**settings)

    def _enqueue(self, queue, **kw):
        kw.setdefault("report", "summary")
        kw.setdefault("path", "/site/folder")
        kw.setdefault("params", {"depth": 2})
        kw.setdefault("owner_id", "alice")
        kw.setdefault("now", T0)
        return queue.enqueue(**kw)

    def _claimed(self, queue, worker_id="w1", now=T0, **kw):
        """Enqueue one job and claim it, ahead of any waiting; return it."""
        kw.setdefault("priority", 100)
        job = self._enqueue(queue, now=now, **kw)
        self.assertEqual(queue.claim(worker_id, now=now), [job])
        # A worker lists what it runs in its heartbeats, as the real one does.
        queue.heartbeat(worker_id, now=now, current_jobs=[job.id])
        return job

    def _events(self, job):
        return [event["event"] for event in job.history]


class JobTests(unittest.TestCase):
    def _makeOne(self, **kw):
        kw.setdefault("created", T0)
        return Job("abc", "summary", "/site", {"depth": 1}, "alice", **kw)

    def test_new_job_is_queued_and_due_at_creation(self):
        job = self._makeOne()
        self.assertEqual(job.state, QUEUED)
        self.assertEqual(job.not_before, T0)
        self.assertEqual(job.attempts, 0)
        self.assertFalse(job.is_final)
        self.assertIsNone(job.finished)

    def test_params_are_copied(self):
        params = {"depth": 1}
        job = Job("abc", "summary", "/site", params, "alice")
        params["depth"] = 9
        self.assertEqual(job.params, {"depth": 1})
        self.assertIs(type(job.params), dict)

    def test_is_final(self):
        job = self._makeOne()
        for state in ALL_STATES:
            job.state = state
            self.assertEqual(job.is_final, state in FINAL_STATES)

    def test_as_dict_is_json_and_hides_the_token(self):
        job = self._makeOne(owner_folder="/site/acl_users", priority=3)
        job.lease_token = "secret"
        job.add_event(T0, "alice", "queued", "detail")
        data = json.loads(json.dumps(job.as_dict()))
        for key in (
            "id",
            "state",
            "report",
            "path",
            "params",
            "owner",
            "owner_folder",
            "priority",
            "attempts",
            "max_attempts",
            "created",
            "not_before",
            "started",
            "finished",
            "progress",
            "progress_message",
            "result_path",
            "error_path",
            "error_message",
            "cancel_requested",
            "lease_worker",
            "lease_expires",
            "history",
        ):
            self.assertIn(key, data)
        self.assertEqual(data["owner"], "alice")
        self.assertEqual(data["owner_folder"], "/site/acl_users")
        self.assertEqual(data["priority"], 3)
        self.assertEqual(data["params"], {"depth": 1})
        self.assertEqual(data["history"][0]["event"], "queued")
        self.assertNotIn("secret", json.dumps(data))

    def test_history_keeps_the_last_fifty_events(self):
        job = self._makeOne()
        for i in range(60):
            job.add_event(T0 + i, None, f"event {i}")
        self.assertEqual(len(job.history), 50)
        self.assertEqual(job.history[0]["event"], "event 10")
        self.assertEqual(job.history[-1]["event"], "event 59")


class WorkerRecordTests(unittest.TestCase):
    def test_is_alive_within_window_until_stopped(self):
        record = WorkerRecord("w1", "host", 42, now=T0)
        self.assertTrue(record.is_alive(T0 + 59, 60))
        self.assertFalse(record.is_alive(T0 + 60, 60))
        record.stopped = T0 + 1
        self.assertFalse(record.is_alive(T0 + 2, 60))

    def test_as_dict_is_json(self):
        record = WorkerRecord("w1", "host", 42, now=T0)
        record.current_jobs = ("a", "b")
        data = json.loads(json.dumps(record.as_dict()))
        self.assertEqual(data["current_jobs"], ["a", "b"])
        self.assertEqual(data["worker_id"], "w1")
        self.assertEqual(data["pid"], 42)
        self.assertIsNone(data["stopped"])


class EnqueueTests(QueueTestCase):
    def test_enqueue_records_a_queued_job(self):
        queue = self._makeOne()
        job = self._enqueue(
            queue,
            owner_folder="/site/acl_users",
            priority=5,
            queue_path="/site/reports",
            actor="admin",
        )
        self.assertEqual(job.state, QUEUED)
        self.assertEqual(job.report, "summary")
        self.assertEqual(job.path, "/site/folder")
        self.assertEqual(job.params, {"depth": 2})
        self.assertEqual(job.owner_id, "alice")
        self.assertEqual(job.owner_folder, "/site/acl_users")
        self.assertEqual(job.priority, 5)
        self.assertEqual(job.queue_path, "/site/reports")
        self.assertEqual(job.created, T0)
        self.assertEqual(job.not_before, T0)
        self.assertEqual(job.max_attempts, 3)
        self.assertEqual(len(job.id), 17)
        self.assertTrue(job.id.startswith(f"{int(T0 * 1000):011x}"))  # ids sort by age
        self.assertIs(queue.get(job.id), job)
        self.assertIn(job.id, queue)
        self.assertEqual(len(queue), 1)
        self.assertEqual(job.history[-1]["actor"], "admin")
        self.assertEqual(self._events(job), ["queued"])

    def test_history_actor_defaults_to_the_owner(self):
        job = self._enqueue(self._makeOne())
        self.assertEqual(job.history[-1]["actor"], "alice")

    def test_max_attempts_defaults_to_the_queue_setting(self):
        queue = self._makeOne(max_attempts=7)
        self.assertEqual(self._enqueue(queue).max_attempts, 7)
        self.assertEqual(self._enqueue(queue, max_attempts=1).max_attempts, 1)

    def test_invalid_requests(self):
        queue = self._makeOne()
        with self.assertRaises(errors.InvalidJobRequest):
            self._enqueue(queue, report="")
        with self.assertRaises(errors.InvalidJobRequest):
            self._enqueue(queue, owner_id=None)
        with self.assertRaises(errors.InvalidJobRequest):
            self._enqueue(queue, max_attempts=0)
        self.assertEqual(len(queue), 0)

    def test_dedup_key_returns_the_existing_job(self):
        queue = self._makeOne()
        first = self._enqueue(queue, dedup_key="form-1")
        again = self._enqueue(queue, dedup_key="form-1", now=T0 + 5)
        other = self._enqueue(queue, dedup_key="form-2")
        self.assertIs(again, first)
        self.assertIsNot(other, first)
        self.assertEqual(len(queue), 2)
        self.assertEqual(self._events(first), ["queued"])

    def test_id_collision_draws_a_new_id(self):
        queue = self._makeOne()
        target = "collective.asyncreports.queue.jobqueue.secrets.token_hex"
        with mock.patch(target, side_effect=["aaaa", "aaaa", "bbbb"]):
            first = self._enqueue(queue)
            second = self._enqueue(queue)
        prefix = f"{int(T0 * 1000):011x}"  # same millisecond, so the random part decides
        self.assertEqual((first.id, second.id), (prefix + "aaaa", prefix + "bbbb"))

    def test_get_unknown_job(self):
        queue = self._makeOne()
        with self.assertRaises(errors.JobNotFound) as raised:
            queue.get("nope")
        self.assertIsInstance(raised.exception, KeyError)
        self.assertNotIn("nope", queue)
        with self.assertRaises(errors.JobNotFound):
            queue.get(5)
        self.assertNotIn(None, queue)


class ClaimTests(QueueTestCase):
    def test_claim_leases_the_job_and_counts_the_attempt(self):
        queue = self._makeOne(lease_seconds=120)
        job = self._enqueue(queue)
        [claimed] = queue.claim("w1", now=T0 + 10)
        self.assertIs(claimed, job)
        self.assertEqual(job.state, RUNNING)
        self.assertEqual(job.attempts, 1)
        self.assertEqual(job.lease_worker, "w1")
        self.assertEqual(len(job.lease_token), 16)
        self.assertEqual(job.lease_expires, T0 + 130)
        self.assertEqual(job.started, T0 + 10)
        self.assertEqual(self._events(job), ["queued", "claimed"])
        self.assertEqual(job.history[-1]["actor"], "w1")
        # Claims never write the worker's record: heartbeats do.
        self.assertIsNone(queue.worker("w1"))

    def test_nothing_to_claim_writes_nothing(self):
        queue = self._makeOne()
        self.assertEqual(queue.claim("w1", now=T0), [])
        self.assertIsNone(queue.worker("w1"))

    def test_claim_takes_each_job_once(self):
        queue = self._makeOne()
        job = self._enqueue(queue)
        self.assertEqual(queue.claim("w1", now=T0), [job])
        self.assertEqual(queue.claim("w2", now=T0), [])

    def test_priority_first_then_oldest(self):
        queue = self._makeOne()
        low = self._enqueue(queue, priority=-1, now=T0)
        old = self._enqueue(queue, now=T0 + 1)
        new = self._enqueue(queue, now=T0 + 2)
        high = self._enqueue(queue, priority=10, now=T0 + 3)
        claimed = queue.claim("w1", limit=10, now=T0 + 10)
        self.assertEqual(claimed, [high, old, new, low])

    def test_earlier_not_before_first_within_a_priority(self):
        queue = self._makeOne()
        later = self._enqueue(queue, now=T0, not_before=T0 + 50)
        sooner = self._enqueue(queue, now=T0 + 1, not_before=T0 + 20)
        self.assertEqual(queue.claim("w1", limit=5, now=T0 + 60), [sooner, later])

    def test_jobs_not_yet_due_are_skipped(self):
        queue = self._makeOne()
        future_high = self._enqueue(queue, priority=5, not_before=T0 + 100)
        due_low = self._enqueue(queue, priority=0)
        future_low = self._enqueue(queue, priority=0, not_before=T0 + 100)
        self.assertEqual(queue.claim("w1", limit=5, now=T0), [due_low])
        self.assertEqual(queue.claim("w1", limit=5, now=T0 + 99), [])
        self.assertEqual(queue.claim("w1", limit=5, now=T0 + 100), [future_high, future_low])

    def test_limit(self):
        queue = self._makeOne()
        jobs = [self._enqueue(queue, now=T0 + i) for i in range(5)]
        self.assertEqual(queue.claim("w1", limit=2, now=T0 + 10), jobs[:2])
        self.assertEqual(queue.claim("w2", limit=2, now=T0 + 10), jobs[2:4])
        self.assertEqual(queue.stats()[RUNNING], 4)

    def test_every_claim_gets_a_fresh_token(self):
        queue = self._makeOne(backoff_seconds=1)
        job = self._claimed(queue)
        first = job.lease_token
        queue.release(job.id, first, "try again", now=T0)
        queue.claim("w1", now=T0 + 10)
        self.assertEqual(job.attempts, 2)
        self.assertNotEqual(job.lease_token, first)


class ClockSkewTests(QueueTestCase):
    """21. Heartbeat times come from the worker's clock; reapers may disagree."""

    def test_a_reaper_whose_clock_is_ahead_allows_for_skew(self):
        queue = self._makeOne(lease_seconds=3, clock_skew=60)
        job = self._claimed(queue)
        for second in range(1, 30):  # the worker beats on its clock, every second
            queue.heartbeat("w1", now=T0 + second)
            # the reaper's clock runs 30 s ahead of the worker's
            self.assertEqual(queue.reap(now=T0 + second + 30), [])
        self.assertEqual(job.state, RUNNING)

    def test_observing_heartbeats_needs_no_clock_at_all(self):
        queue = self._makeOne(lease_seconds=3, clock_skew=10**6)
        job = self._claimed(queue)
        seen = {}
        for second in range(1, 30):  # wall clocks far apart, the beat goes on
            queue.heartbeat("w1", now=T0 - 10**5 + second)
            self.assertEqual(queue.reap(now=T0 + second, seen=seen, observed_at=second), [])
        # the worker goes silent: 3 s of the reaper's own time later it is dead
        self.assertEqual(queue.reap(now=T0 + 30, seen=seen, observed_at=32), [])
        self.assertEqual(queue.reap(now=T0 + 33, seen=seen, observed_at=33), [job])

    def test_silent_by_the_clocks_beyond_the_skew_allowance(self):
        queue = self._makeOne(lease_seconds=3, clock_skew=60)
        job = self._claimed(queue)
        self.assertEqual(queue.reap(now=T0 + 62), [])
        self.assertEqual(queue.reap(now=T0 + 63), [job])


class LeaseTests(QueueTestCase):
    def test_lease_expires_without_heartbeat(self):
        queue = self._makeOne(lease_seconds=100)
        job = self._claimed(queue)
        self.assertFalse(queue.lease_expired(job, now=T0 + 99))
        self.assertTrue(queue.lease_expired(job, now=T0 + 100))

    def test_heartbeat_keeps_the_lease_alive(self):
        queue = self._makeOne(lease_seconds=100)
        job = self._claimed(queue)
        queue.heartbeat("w1", now=T0 + 90)
        self.assertFalse(queue.lease_expired(job, now=T0 + 150))
        self.assertEqual(queue.reap(now=T0 + 150), [])
        self.assertTrue(queue.lease_expired(job, now=T0 + 190))

    def test_heartbeat_reports_what_the_worker_runs_and_ran(self):
        queue = self._makeOne()
        job = self._claimed(queue)
        queue.finish(job.id, job.lease_token, "/r", now=T0 + 1)
        record = queue.heartbeat("w1", now=T0 + 2, current_jobs=[], jobs_done=1,
                                 jobs_failed=0, last_job_id=job.id)
        self.assertEqual((record.current_jobs, record.jobs_done), ((), 1))
        self.assertEqual((record.jobs_failed, record.last_job_id), (0, job.id))
        self.assertEqual(record.last_heartbeat, T0 + 2)
        queue.heartbeat("w1", now=T0 + 3)  # a bare heartbeat keeps what was reported
        self.assertEqual(record.jobs_done, 1)

    def test_heartbeat_of_a_stopped_worker_holds_no_lease(self):
        queue = self._makeOne(lease_seconds=100)
        job = self._claimed(queue)
        queue.heartbeat("w1", now=T0 + 90)
        queue.worker_stopped("w1", now=T0 + 95)
        self.assertTrue(queue.lease_expired(job, now=T0 + 150))

    def test_a_claim_not_yet_in_a_heartbeat_is_not_forgotten(self):
        queue = self._makeOne(lease_seconds=2)
        queue.heartbeat("w1", now=T0, current_jobs=[])
        job = self._enqueue(queue, now=T0)
        queue.claim("w1", now=T0)
        # This heartbeat's snapshot was taken before the claim committed.
        queue.heartbeat("w1", now=T0 + 1, current_jobs=[])
        self.assertFalse(queue.lease_expired(job, now=T0 + 2.5))
        # A heartbeat well after the claim that leaves the job out: forgotten.
        queue.heartbeat("w1", now=T0 + 5, current_jobs=[])
        self.assertTrue(queue.lease_expired(job, now=T0 + 6))

    def test_restarted_worker_does_not_keep_old_leases(self):
        queue = self._makeOne(lease_seconds=100)
        queue.heartbeat("w1", pid=10, now=T0)
        job = self._claimed(queue)
        queue.heartbeat("w1", pid=10, now=T0 + 90)
        self.assertFalse(queue.lease_expired(job, now=T0 + 150))
        record = queue.heartbeat("w1", pid=11, now=T0 + 140)
        self.assertEqual(record.current_jobs, ())
        self.assertEqual(record.started, T0 + 140)
        self.assertTrue(queue.lease_expired(job, now=T0 + 150))

    def test_jobs_that_are_not_running_hold_no_lease(self):
        queue = self._makeOne()
        job = self._enqueue(queue)
        self.assertFalse(queue.lease_expired(job, now=T0 + 10**6))

    def test_check_lease(self):
        queue = self._makeOne()
        job = self._claimed(queue)
        self.assertIs(queue.check_lease(job.id, job.lease_token), job)
        with self.assertRaises(errors.LeaseLost):
            queue.check_lease(job.id, "not-the-token")
        with self.assertRaises(errors.JobNotFound):
            queue.check_lease("nope", job.lease_token)

    def test_no_lease_once_finished(self):
        queue = self._makeOne()
        job = self._claimed(queue)
        token = job.lease_token
        queue.finish(job.id, token, "/site/result", now=T0 + 1)
        with self.assertRaises(errors.LeaseLost):
            queue.finish(job.id, token, "/site/other", now=T0 + 2)
        self.assertEqual(job.result_path, "/site/result")

    def test_stale_token_after_reap_and_reclaim(self):
        queue = self._makeOne(lease_seconds=100, backoff_seconds=10)
        job = self._claimed(queue, worker_id="zombie")
        stale = job.lease_token
        self.assertEqual(queue.reap(now=T0 + 100), [job])
        self.assertEqual(queue.claim("w2", now=T0 + 200), [job])
        for call in (
            lambda: queue.finish(job.id, stale, "/site/x"),
            lambda: queue.fail(job.id, stale, "boom"),
            lambda: queue.release(job.id, stale, "again"),
            lambda: queue.confirm_cancel(job.id, stale),
        ):
            with self.assertRaises(errors.LeaseLost):
                call()
        self.assertEqual(job.state, RUNNING)
        self.assertEqual(job.lease_worker, "w2")
        self.assertEqual(job.attempts, 2)


class OutcomeTests(QueueTestCase):
    def test_finish(self):
        queue = self._makeOne()
        job = self._claimed(queue)
        queue.finish(job.id, job.lease_token, "/site/reports/r1.pdf", now=T0 + 30)
        self.assertEqual(job.state, DONE)
        self.assertTrue(job.is_final)
        self.assertEqual(job.result_path, "/site/reports/r1.pdf")
        self.assertEqual(job.finished, T0 + 30)
        self.assertEqual(job.progress, 100)
        self.assertIsNone(job.lease_token)
        self.assertIsNone(job.lease_worker)
        self.assertIsNone(job.lease_expires)
        self.assertEqual(self._events(job), ["queued", "claimed", "finished"])
        self.assertEqual(job.history[-1]["actor"], "w1")
        # Only the worker's own heartbeat writes its record, never an outcome.
        record = queue.worker("w1")
        self.assertEqual((record.current_jobs, record.jobs_done), ((job.id,), 0))
        self.assertEqual(queue.stats()[DONE], 1)

    def test_fail(self):
        queue = self._makeOne()
        job = self._claimed(queue)
        queue.fail(job.id, job.lease_token, "ZeroDivisionError", "/err/1", now=T0 + 5)
        self.assertEqual(job.state, FAILED)
        self.assertEqual(job.error_message, "ZeroDivisionError")
        self.assertEqual(job.error_path, "/err/1")
        self.assertEqual(job.finished, T0 + 5)
        self.assertIsNone(job.lease_token)
        self.assertEqual(queue.worker("w1").jobs_failed, 0)

    def test_release_requeues_with_backoff(self):
        queue = self._makeOne(backoff_seconds=30)
        job = self._claimed(queue)
        queue.release(job.id, job.lease_token, "database busy", now=T0 + 10)
        self.assertEqual(job.state, QUEUED)
        self.assertEqual(job.attempts, 1)
        self.assertEqual(job.error_message, "database busy")
        self.assertTrue(T0 + 40 <= job.not_before <= T0 + 43)
        self.assertIsNone(job.lease_token)
        self.assertEqual(queue.claim("w1", now=T0 + 39), [])
        self.assertEqual(queue.claim("w1", now=T0 + 44), [job])

    def test_release_after_the_last_attempt_fails(self):
        queue = self._makeOne(max_attempts=1)
        job = self._claimed(queue)
        queue.release(job.id, job.lease_token, "database busy", now=T0 + 10)
        self.assertEqual(job.state, FAILED)
        self.assertEqual(job.finished, T0 + 10)

    def test_release_without_counting_the_attempt(self):
        queue = self._makeOne(max_attempts=1)
        job = self._claimed(queue)
        queue.release(job.id, job.lease_token, "worker stopping", count_attempt=False, now=T0 + 5)
        self.assertEqual(job.state, QUEUED)
        self.assertEqual(job.attempts, 0)
        self.assertEqual(job.not_before, T0 + 5)
        self.assertEqual(self._events(job)[-1], "interrupted")
        self.assertEqual(queue.claim("w2", now=T0 + 5), [job])

    def test_release_of_a_job_asked_to_cancel_cancels_it(self):
        queue = self._makeOne()
        job = self._claimed(queue)
        queue.cancel(job.id, actor="alice", now=T0 + 1)
        queue.release(job.id, job.lease_token, "stopping", now=T0 + 2)
        self.assertEqual(job.state, CANCELLED)


class HandBackTests(QueueTestCase):
    def test_a_job_handed_back_unstarted_keeps_its_place_and_its_attempts(self):
        queue = self._makeOne()
        first = self._enqueue(queue, now=T0)
        second = self._enqueue(queue, now=T0 + 1)
        self.assertEqual(queue.claim("w1", limit=2, now=T0 + 5), [first, second])
        queue.hand_back(first.id, first.lease_token, "not started", now=T0 + 6)
        self.assertEqual((first.state, first.attempts, first.not_before), (QUEUED, 0, T0))
        self.assertIsNone(first.error_message)
        self.assertEqual(self._events(first)[-1], "handed back")
        self.assertEqual(queue.claim("w2", now=T0 + 7), [first])
        self.assertRaises(errors.LeaseLost, queue.hand_back, second.id, "stale", "x")

    def test_a_job_whose_cancel_was_asked_is_cancelled_instead(self):
        queue = self._makeOne()
        job = self._claimed(queue)
        queue.cancel(job.id, now=T0 + 1)
        queue.hand_back(job.id, job.lease_token, "not started", now=T0 + 2)
        self.assertEqual(job.state, CANCELLED)


class BackoffTests(QueueTestCase):
    def test_backoff_doubles_with_jitter(self):
        queue = self._makeOne(backoff_seconds=30, backoff_max=3600)
        for _ in range(20):
            self.assertTrue(30 <= queue.backoff(1) <= 33)
            self.assertTrue(60 <= queue.backoff(2) <= 66)
            self.assertTrue(120 <= queue.backoff(3) <= 132)

    def test_backoff_is_capped(self):
        queue = self._makeOne(backoff_seconds=30, backoff_max=3600)
        for _ in range(20):
            self.assertTrue(3600 <= queue.backoff(8) <= 3960)
            self.assertTrue(3600 <= queue.backoff(60) <= 3960)

    def test_backoff_is_jittered(self):
        queue = self._makeOne()
        self.assertGreater(len({queue.backoff(1) for _ in range(20)}), 1)


class ReapTests(QueueTestCase):
    def test_expired_lease_goes_back_to_the_queue(self):
        queue = self._makeOne(lease_seconds=100, backoff_seconds=30)
        job = self._claimed(queue, worker_id="dead")
        waiting = self._enqueue(queue, not_before=T0 + 10**6)
        self.assertEqual(queue.reap(now=T0 + 99), [])
        self.assertEqual(queue.reap(now=T0 + 100, actor="w2"), [job])
        self.assertEqual(job.state, QUEUED)
        self.assertEqual(job.attempts, 1)
        self.assertTrue(T0 + 130 <= job.not_before <= T0 + 133)
        self.assertIn("lease of worker dead expired", job.error_message)
        self.assertEqual(job.history[-1]["actor"], "w2")
        self.assertEqual(waiting.state, QUEUED)

    def test_expired_lease_on_the_last_attempt_is_abandoned(self):
        queue = self._makeOne(lease_seconds=100, max_attempts=2, backoff_seconds=1)
        job = self._claimed(queue, worker_id="dead")
        queue.reap(now=T0 + 100)
        self.assertEqual(queue.claim("dead", now=T0 + 200), [job])
        self.assertEqual(queue.reap(now=T0 + 300), [job])
        self.assertEqual(job.state, FAILED)
        self.assertTrue(job.error_message.startswith("abandoned:"))
        self.assertIn("2 of 2 attempts", job.error_message)
        self.assertEqual(job.finished, T0 + 300)
        self.assertEqual(self._events(job)[-1], "abandoned")

    def test_reaped_job_asked_to_cancel_is_cancelled(self):
        queue = self._makeOne(lease_seconds=100)
        job = self._claimed(queue)
        queue.cancel(job.id, now=T0 + 1)
        queue.reap(now=T0 + 100)
        self.assertEqual(job.state, CANCELLED)

    def test_reap_leaves_live_leases_alone(self):
        queue = self._makeOne(lease_seconds=100)
        live = self._claimed(queue, worker_id="alive")
        dead = self._claimed(queue, worker_id="dead")
        queue.heartbeat("alive", now=T0 + 80)
        self.assertEqual(queue.reap(now=T0 + 120), [dead])
        self.assertEqual(live.state, RUNNING)


class ReapWorkerTests(QueueTestCase):
    """A worker known to be dead (its process is gone) loses its jobs at once."""

    def test_a_dead_workers_jobs_go_back_at_once_in_their_place_attempt_not_counted(self):
        queue = self._makeOne(lease_seconds=300)
        job = self._claimed(queue, worker_id="dead")
        other = self._claimed(queue, worker_id="alive")
        reaped = queue.reap_worker("dead", "worker dead died", actor="w2", now=T0 + 1)
        self.assertEqual(reaped, [job])
        self.assertEqual((job.state, job.attempts, job.not_before), (QUEUED, 0, T0))
        self.assertIsNone(job.lease_worker)
        self.assertEqual(job.history[-1]["event"], "reaped")
        self.assertEqual(job.history[-1]["actor"], "w2")
        self.assertIn("worker dead died; attempt not counted", job.history[-1]["detail"])
        self.assertEqual(other.state, RUNNING)
        self.assertEqual(queue.worker("dead").stopped, T0 + 1)
        self.assertNotIn("dead", queue._running)
        self.assertEqual(queue.claim("w2", now=T0 + 1), [job])

    def test_a_job_that_keeps_losing_its_worker_still_ends_abandoned(self):
        queue = self._makeOne(max_attempts=2, backoff_seconds=0)
        job = self._claimed(queue, worker_id="w0")
        outcomes = []
        for run in range(1, 10):
            outcomes.append(queue.reap_worker(f"w{run - 1}", "died", now=T0 + run)[0].attempts)
            if job.state != QUEUED:
                break
            self.assertEqual(queue.claim(f"w{run}", now=T0 + run), [job])
        # Two losses uncounted, then each counts: the poison job fails.
        self.assertEqual(outcomes, [0, 0, 1, 2])
        self.assertEqual(job.state, FAILED)
        self.assertTrue(job.error_message.startswith("abandoned: died"), job.error_message)

    def test_a_dead_workers_job_asked_to_cancel_is_cancelled(self):
        queue = self._makeOne()
        job = self._claimed(queue, worker_id="dead")
        queue.cancel(job.id, now=T0 + 1)
        queue.reap_worker("dead", "died", now=T0 + 2)
        self.assertEqual(job.state, CANCELLED)

    def test_only_workers_holding_jobs_are_listed_for_the_check(self):
        queue = self._makeOne()
        self._claimed(queue, worker_id="busy")
        done = self._claimed(queue, worker_id="idle")
        queue.finish(done.id, done.lease_token, "/r", now=T0 + 1)
        queue.heartbeat("never-claimed", now=T0)
        self.assertEqual([r.worker_id for r in queue.workers_with_jobs()], ["busy"])

    def test_worker_started_records_host_key_and_once(self):
        queue = self._makeOne()
        queue.heartbeat("w1", now=T0)
        record = queue.worker_started("w1", host_key="boot:4026531836", once=True, now=T0)
        self.assertEqual((record.host_key, record.once), ("boot:4026531836", True))
        self.assertEqual((WorkerRecord("old").host_key, WorkerRecord("old").once), (None, False))


class RunningIndexTests(QueueTestCase):
    """Each worker's running jobs are in an index of its own (JobQueue._running_index)."""

    def test_each_worker_files_its_jobs_in_its_own_index(self):
        queue = self._makeOne(lease_seconds=100)
        first = self._claimed(queue, worker_id="w1")
        second = self._claimed(queue, worker_id="w2", now=T0 + 1)
        self.assertEqual(list(queue._running["w1"]), [(), (-first.created, first.id)])
        self.assertEqual(list(queue._running["w2"]), [(), (-second.created, second.id)])
        self.assertEqual(queue.list_jobs(state=RUNNING), ([second, first], 2))
        queue.finish(first.id, first.lease_token, "/r", now=T0 + 2)
        self.assertEqual(queue.list_jobs(state=RUNNING), ([second], 1))
        self.assertEqual(queue.reap(now=T0 + 200), [second])  # w2 went silent
        self.assertEqual(list(queue._running["w2"]), [()])

    def test_a_stopped_worker_leaves_no_empty_index_behind(self):
        queue = self._makeOne()
        job = self._claimed(queue, worker_id="w1")
        self._claimed(queue, worker_id="w2")
        queue.finish(job.id, job.lease_token, "/r", now=T0 + 1)
        queue.worker_stopped("w1", now=T0 + 2)
        queue.worker_stopped("w2", now=T0 + 2)  # still holds a job: kept for the reaper
        self.assertEqual(list(queue._running), ["w2"])


class CancelRetryTests(QueueTestCase):
    def test_cancel_a_queued_job(self):
        queue = self._makeOne()
        job = self._enqueue(queue)
        queue.cancel(job.id, actor="alice", now=T0 + 1)
        self.assertEqual(job.state, CANCELLED)
        self.assertEqual(job.finished, T0 + 1)
        self.assertEqual(job.history[-1]["actor"], "alice")
        self.assertEqual(queue.claim("w1", now=T0 + 2), [])
        self.assertIsNone(queue.next_due(now=T0 + 2))

    def test_cancel_a_running_job_needs_the_workers_confirmation(self):
        queue = self._makeOne()
        job = self._claimed(queue)
        queue.cancel(job.id, actor="alice", now=T0 + 1)
        queue.cancel(job.id, actor="alice", now=T0 + 2)
        self.assertEqual(job.state, RUNNING)
        self.assertTrue(job.cancel_requested)
        self.assertEqual(self._events(job).count("cancel requested"), 1)
        queue.confirm_cancel(job.id, job.lease_token, now=T0 + 3)
        self.assertEqual(job.state, CANCELLED)
        self.assertEqual(job.finished, T0 + 3)

    def test_confirm_cancel_without_a_request(self):
        queue = self._makeOne()
        job = self._claimed(queue)
        with self.assertRaises(errors.InvalidTransition):
            queue.confirm_cancel(job.id, job.lease_token)
        self.assertEqual(job.state, RUNNING)

    def test_final_jobs_cannot_be_cancelled(self):
        queue = self._makeOne()
        job = self._claimed(queue)
        queue.finish(job.id, job.lease_token, "/r")
        with self.assertRaises(errors.InvalidTransition) as raised:
            queue.cancel(job.id)
        self.assertIn("already done", str(raised.exception))
        with self.assertRaises(errors.JobNotFound):
            queue.cancel("nope")

    def test_retry_a_failed_job(self):
        queue = self._makeOne()
        job = self._claimed(queue)
        queue.fail(job.id, job.lease_token, "boom", "/err/1", now=T0 + 1)
        queue.retry(job.id, actor="admin", now=T0 + 50)
        self.assertEqual(job.state, QUEUED)
        self.assertEqual(job.attempts, 0)
        self.assertIsNone(job.error_message)
        self.assertIsNone(job.error_path)
        self.assertIsNone(job.finished)
        self.assertEqual(job.not_before, T0 + 50)
        self.assertEqual(job.history[-1]["detail"], "boom")
        self.assertEqual(queue.claim("w1", now=T0 + 50), [job])

    def test_retry_a_cancelled_job(self):
        queue = self._makeOne()
        job = self._enqueue(queue)
        queue.cancel(job.id)
        queue.retry(job.id, now=T0 + 5)
        self.assertEqual(job.state, QUEUED)
        self.assertFalse(job.cancel_requested)

    def test_only_failed_or_cancelled_jobs_can_be_retried(self):
        queue = self._makeOne()
        queued = self._enqueue(queue)
        running = self._claimed(queue)
        done = self._claimed(queue)
        queue.finish(done.id, done.lease_token, "/r")
        for job in (queued, running, done):
            with self.assertRaises(errors.InvalidTransition):
                queue.retry(job.id)
        self.assertEqual([queued.state, running.state, done.state], [QUEUED, RUNNING, DONE])


class PurgeTests(QueueTestCase):
    def _mixed(self, queue):
        queued = self._enqueue(queue)
        running = self._claimed(queue)
        done = self._claimed(queue)
        queue.finish(done.id, done.lease_token, "/r", now=T0 + 10)
        failed = self._claimed(queue)
        queue.fail(failed.id, failed.lease_token, "boom", now=T0 + 1000)
        cancelled = self._enqueue(queue, dedup_key="form")
        queue.cancel(cancelled.id, now=T0 + 20)
        return queued, running, done, failed, cancelled

    def test_purge_final_jobs(self):
        queue = self._makeOne()
        queued, running, done, failed, cancelled = self._mixed(queue)
        removed = queue.purge(now=T0 + 2000)
        self.assertEqual(set(removed), {done, failed, cancelled})
        self.assertEqual(len(queue), 2)
        self.assertEqual(queue.stats()[DONE], 0)
        self.assertEqual(queue.list_jobs()[1], 2)
        self.assertEqual(queue.list_jobs(owner="alice")[1], 2)
        with self.assertRaises(errors.JobNotFound):
            queue.get(done.id)
        self.assertIs(queue.get(queued.id), queued)
        self.assertIs(queue.get(running.id), running)

    def test_purge_older_than(self):
        queue = self._makeOne()
        queued, running, done, failed, cancelled = self._mixed(queue)
        removed = queue.purge(older_than=500, now=T0 + 1100)
        self.assertEqual(set(removed), {done, cancelled})
        self.assertIn(failed.id, queue)

    def test_purge_older_than_a_negative_age_is_refused_and_removes_nothing(self):
        queue = self._makeOne()
        self._mixed(queue)
        for age in (-1, -0.5, float("nan")):
            with self.assertRaises(errors.InvalidJobRequest):
                queue.purge(older_than=age, now=T0 + 2000)
        self.assertEqual(len(queue), 5)

    def test_a_dedup_key_that_is_not_text_is_refused(self):
        queue = self._makeOne()
        self._enqueue(queue, dedup_key="form")
        for key in (["a", "b"], 7, {"a": 1}):
            with self.assertRaises(errors.InvalidJobRequest):
                self._enqueue(queue, dedup_key=key)
        # The dedup index still works: the same key gives the same job.
        first = queue.list_jobs()[0][0]
        self.assertIs(self._enqueue(queue, dedup_key="form"), first)
        self.assertEqual(len(queue), 1)

    def test_purge_by_state_and_ids(self):
        queue = self._makeOne()
        queued, running, done, failed, cancelled = self._mixed(queue)
        self.assertEqual(queue.purge(states=(FAILED,)), [failed])
        self.assertEqual(queue.purge(job_ids=[done.id, done.id]), [done])
        self.assertIn(cancelled.id, queue)

    def test_purge_never_removes_live_jobs(self):
        queue = self._makeOne()
        queued, running, done, failed, cancelled = self._mixed(queue)
        with self.assertRaises(errors.InvalidTransition):
            queue.purge(job_ids=[done.id, running.id])
        with self.assertRaises(errors.InvalidTransition):
            queue.purge(states=(QUEUED, DONE))
        with self.assertRaises(ValueError):
            queue.purge(states=("archived",))
        with self.assertRaises(errors.JobNotFound):
            queue.purge(job_ids=["nope"])
        self.assertEqual(len(queue), 5)

    def test_purge_frees_the_dedup_key(self):
        queue = self._makeOne()
        *_, cancelled = self._mixed(queue)
        queue.purge(job_ids=[cancelled.id])
        job = self._enqueue(queue, dedup_key="form")
        self.assertIsNot(job, cancelled)
        self.assertEqual(job.state, QUEUED)


class ReadingTests(QueueTestCase):
    def test_stats(self):
        queue = self._makeOne()
        self._enqueue(queue)
        self._enqueue(queue)
        job = self._claimed(queue)
        queue.fail(job.id, job.lease_token, "boom")
        self.assertEqual(
            queue.stats(),
            {
                QUEUED: 2,
                RUNNING: 0,
                DONE: 0,
                FAILED: 1,
                CANCELLED: 0,
                "total": 3,
            },
        )

    def test_list_jobs_newest_first_and_paged(self):
        queue = self._makeOne()
        jobs = [self._enqueue(queue, now=T0 + i) for i in range(7)]
        page, total = queue.list_jobs(start=0, size=3)
        self.assertEqual((page, total), (jobs[::-1][:3], 7))
        page, total = queue.list_jobs(start=6, size=3)
        self.assertEqual((page, total), ([jobs[0]], 7))

    def test_list_jobs_filters_combine(self):
        queue = self._makeOne()
        a1 = self._enqueue(queue, owner_id="alice", report="summary", now=T0 + 1)
        a2 = self._enqueue(queue, owner_id="alice", report="inventory", now=T0 + 2)
        b1 = self._enqueue(queue, owner_id="bob", report="summary", now=T0 + 3)
        queue.cancel(a1.id)
        self.assertEqual(queue.list_jobs(owner="alice"), ([a2, a1], 2))
        self.assertEqual(queue.list_jobs(state=QUEUED), ([a2, b1], 2))  # in claim order
        self.assertEqual(queue.list_jobs(report="summary"), ([b1, a1], 2))
        self.assertEqual(queue.list_jobs(owner="alice", state=QUEUED), ([a2], 1))
        self.assertEqual(
            queue.list_jobs(owner="alice", report="summary", state=CANCELLED),
            ([a1], 1),
        )
        self.assertEqual(queue.list_jobs(report="summary", size=1), ([b1], 2))
        self.assertEqual(queue.list_jobs(owner="carol"), ([], 0))
        with self.assertRaises(ValueError):
            queue.list_jobs(state="archived")

    def test_position(self):
        queue = self._makeOne()
        first = self._enqueue(queue, now=T0)
        second = self._enqueue(queue, now=T0 + 1)
        third = self._enqueue(queue, now=T0 + 2)
        self._enqueue(queue, not_before=T0 + 1000)
        self.assertEqual(queue.position(first.id, now=T0 + 5), 0)
        self.assertEqual(queue.position(third.id, now=T0 + 5), 2)
        urgent = self._enqueue(queue, priority=9, now=T0 + 3)
        self.assertEqual(queue.position(third.id, now=T0 + 5), 3)
        self.assertEqual(queue.position(urgent.id, now=T0 + 5), 0)
        queue.claim("w1", now=T0 + 5)
        self.assertIsNone(queue.position(urgent.id, now=T0 + 5))
        self.assertEqual(queue.position(second.id, now=T0 + 5), 1)

    def test_next_due(self):
        queue = self._makeOne()
        self.assertIsNone(queue.next_due(now=T0))
        self._enqueue(queue, priority=5, not_before=T0 + 300)
        self._enqueue(queue, priority=0, not_before=T0 + 100)
        self._enqueue(queue, priority=0, not_before=T0 + 200)
        self.assertEqual(queue.next_due(now=T0), T0 + 100)
        self.assertEqual(queue.next_due(now=T0 + 150), T0 + 150)

    def test_workers(self):
        queue = self._makeOne()
        self.assertIsNone(queue.worker("w1"))
        record = queue.heartbeat("w1", hostname="box", pid=7, now=T0)
        queue.heartbeat("w2", now=T0 + 1)
        queue.heartbeat("w1", now=T0 + 5)
        self.assertEqual([r.worker_id for r in queue.workers()], ["w1", "w2"])
        self.assertIs(queue.worker("w1"), record)
        self.assertEqual((record.hostname, record.pid), ("box", 7))
        self.assertEqual(record.last_heartbeat, T0 + 5)
        self.assertEqual(record.started, T0)
        queue.worker_stopped("w1", now=T0 + 9)
        self.assertEqual(record.stopped, T0 + 9)
        self.assertFalse(record.is_alive(T0 + 10, 300))
        queue.heartbeat("w1", now=T0 + 20)
        self.assertIsNone(record.stopped)
        self.assertEqual(record.started, T0 + 20)

    def test_history_of_a_full_life(self):
        queue = self._makeOne(backoff_seconds=1)
        job = self._claimed(queue)
        queue.release(job.id, job.lease_token, "busy", now=T0 + 1)
        queue.claim("w2", now=T0 + 10)
        queue.fail(job.id, job.lease_token, "boom", now=T0 + 11)
        queue.retry(job.id, actor="admin", now=T0 + 12)
        queue.claim("w3", now=T0 + 13)
        queue.finish(job.id, job.lease_token, "/r", now=T0 + 14)
        self.assertEqual(
            self._events(job),
            [
                "queued",
                "claimed",
                "released",
                "claimed",
                "failed",
                "retried",
                "claimed",
                "finished",
            ],
        )
        self.assertEqual(
            [event["actor"] for event in job.history],
            ["alice", "w1", "w1", "w2", "w2", "admin", "w3", "w3"],
        )


class PersistenceTests(QueueTestCase):
    def setUp(self):
        self.db = DB(MappingStorage())
        self.tm = transaction.TransactionManager()
        self.conn = self.db.open(self.tm)
        self.conn.root()["queue"] = self._makeOne()
        self.tm.commit()

    def tearDown(self):
        self.tm.abort()
        self.conn.close()
        self.db.close()

    def _reopen(self):
        tm = transaction.TransactionManager()
        conn = self.db.open(tm)
        self.addCleanup(conn.close)
        return conn.root()["queue"]

    def test_state_survives_a_new_connection(self):
        queue = self.conn.root()["queue"]
        job = self._claimed(queue)
        self.tm.commit()
        other = self._reopen()
        copy = other.get(job.id)
        self.assertIsNot(copy, job)
        self.assertEqual(copy.as_dict(), job.as_dict())
        self.assertEqual(other.stats()[RUNNING], 1)
        self.assertEqual(other.worker("w1").current_jobs, (job.id,))
        self.assertEqual(other.list_jobs(owner="alice"), ([copy], 1))

    def test_queue_object_itself_is_not_rewritten_by_jobs(self):
        # The hot-spot rule: enqueue, claim, finish and heartbeat write the
        # job, index buckets and counters, never the queue object itself.
        queue = self.conn.root()["queue"]
        job = self._enqueue(queue)
        queue.heartbeat("w1", now=T0)
        queue.claim("w1", now=T0)
        queue.finish(job.id, job.lease_token, "/r", now=T0)
        self.assertFalse(queue._p_changed)
        self.tm.commit()
        self.assertEqual(self._reopen().get(job.id).state, DONE)

    def test_check_lease_reads_the_job_as_current(self):
        queue = self.conn.root()["queue"]
        job = self._claimed(queue)
        self.tm.commit()
        queue.check_lease(job.id, job.lease_token)
        self.assertIn(job._p_oid, self.conn._readCurrent)

    def test_aborted_enqueue_leaves_no_job(self):
        queue = self.conn.root()["queue"]
        job_id = self._enqueue(queue, dedup_key="form").id
        self.tm.abort()
        self.assertNotIn(job_id, queue)
        self.assertEqual(len(queue), 0)
        self.assertNotEqual(self._enqueue(queue, dedup_key="form").id, job_id)


class DueIndexTests(QueueTestCase):
    """Claims take keys from the front of a long due index (see indexes.rotate)."""

    setUp = PersistenceTests.setUp
    tearDown = PersistenceTests.tearDown
    _reopen = PersistenceTests._reopen

    def _internal_nodes(self, index):
        """The index's root and, in a three-level tree, its BTree children."""
        state = index.__getstate__()
        children = state[0][::2] if state and len(state) == 2 else ()
        return [index, *(child for child in children if isinstance(child, type(index)))]

    def _claim_one_at_a_time(self, queue, count, now):
        """Claim ``count`` jobs, one commit each; return them and how many
        of those claims rewrote an internal node of the due index."""
        claimed, rewrote = [], 0
        for _ in range(count):
            claimed.extend(queue.claim("w1", now=now))
            rewrote += any(node._p_changed for node in self._internal_nodes(queue._due))
            self.tm.commit()
        return claimed, rewrote

    def test_claims_leave_the_index_nodes_alone(self):
        # Deleting the first key of a bucket that is not the index's first
        # rewrites the parent's separator key (a whole internal node). Only
        # the claim that empties a front bucket may write a parent node.
        for jobs in (400, 8000):  # a two-level and a three-level tree
            queue = self.conn.root()["queue"] = self._makeOne()
            for i in range(jobs):
                self._enqueue(queue, now=T0 + i)
            self.tm.commit()
            self.assertEqual(len(self._internal_nodes(queue._due)) > 1, jobs == 8000)
            claimed, rewrote = self._claim_one_at_a_time(queue, 200, T0 + jobs)
            self.assertEqual(len(claimed), 200)
            self.assertLess(rewrote, 200 / 5, jobs)
            self.assertEqual(queue._due.minKey(), ())

    def test_claim_order_holds_across_many_front_buckets(self):
        queue = self.conn.root()["queue"]
        jobs = [self._enqueue(queue, now=T0 + i, priority=i % 3, not_before=T0 + 500 - i % 7)
                for i in range(300)]
        self.tm.commit()
        queue.cancel(jobs[100].id, now=T0 + 300)
        expected = sorted((job for job in jobs if job.state == QUEUED),
                          key=lambda job: (-job.priority, job.not_before, job.created))
        claimed, _ = self._claim_one_at_a_time(queue, 250, T0 + 1000)
        claimed += queue.claim("w2", limit=100, now=T0 + 1000)
        self.tm.commit()
        self.assertEqual(claimed, expected)
        self.assertEqual(list(queue._due), [()])
        self.assertEqual(queue.stats()[QUEUED], 0)
        self.assertEqual(self._reopen().stats()[RUNNING], 299)

"""A worker's memory upkeep and heartbeat pacing: no Zope, no processes."""

import threading
import unittest

from collective.asyncreports.worker.heartbeat import HEARTBEAT_MAX_SECONDS
from collective.asyncreports.worker.heartbeat import beat_interval
from collective.asyncreports.worker.memory import EveryNJobs
from collective.asyncreports.worker.memory import over_memory
from collective.asyncreports.worker.memory import rss_megabytes


class EveryNJobsTests(unittest.TestCase):
    def test_says_so_each_time_a_multiple_is_passed(self):
        every = EveryNJobs(100)
        self.assertEqual([every.add(n) for n in (60, 39, 1, 64, 64, 0)],
                         [False, False, True, False, True, False])

    def test_one_large_batch_counts_once(self):
        self.assertTrue(EveryNJobs(100).add(250))

    def test_threads_adding_at_once_lose_no_job(self):
        every = EveryNJobs(7)
        passed = []

        def add_many():
            passed.append(sum(every.add(1) for _ in range(700)))

        threads = [threading.Thread(target=add_many) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        self.assertEqual(every.count, 2800)
        self.assertEqual(sum(passed), 400)


class MemoryTests(unittest.TestCase):
    def test_this_process_uses_some_memory(self):
        self.assertGreater(rss_megabytes(), 1)

    def test_over_memory_only_with_a_limit_that_is_passed(self):
        self.assertFalse(over_memory(None))
        self.assertFalse(over_memory(10**6))
        self.assertTrue(over_memory(1))


class BeatIntervalTests(unittest.TestCase):
    def test_three_beats_a_lease(self):
        self.assertEqual(beat_interval(30), 10)

    def test_bounds(self):
        self.assertEqual(beat_interval(0.1), 0.5)  # not a storm of commits
        self.assertEqual(beat_interval(3600), HEARTBEAT_MAX_SECONDS)  # Workers tab stays current

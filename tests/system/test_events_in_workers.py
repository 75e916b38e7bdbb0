"""Job events in a real worker process, with a subscriber from an add-on's ZCML
(tests/addons/eventmarks): it marks the job in the commit that fires it."""

import functools
import unittest
from unittest import mock

from tests import processes


def with_eventmarks(instance_class, *args, extra_packages=(), **options):
    return instance_class(*args, extra_packages=[*extra_packages, "eventmarks"], **options)


class EventsInWorkersTests(unittest.TestCase):
    def setUp(self):
        instance = functools.partial(with_eventmarks, processes.Instance)
        with mock.patch.object(processes, "Instance", instance):
            self.system = processes.System()
        self.addCleanup(self.system.close)

    def marks(self, job_id):
        with self.system.queue() as queue:
            return getattr(queue.job_queue().get(job_id), "event_marks", ())

    def set_raise_on(self, name):
        with self.system.queue() as queue:
            queue.events_raise_on = name

    def test_a_job_is_marked_started_and_finished_by_its_worker(self):
        worker = self.system.start_worker()
        job_id = self.system.submit("noop")
        self.system.wait_for_state(job_id, "done")
        self.assertEqual(self.marks(job_id), ("JobStarted", "JobFinished"))
        self.assertEqual(self.system.stop_worker(worker), 0)

    def test_a_finished_subscriber_that_raises_fails_the_job_and_the_worker_goes_on(self):
        self.set_raise_on("JobFinished")
        worker = self.system.start_worker()
        job_id = self.system.submit("noop")
        job = self.system.wait_for_state(job_id, "done", "failed")
        self.assertEqual((job["state"], job["attempts"]), ("failed", 1))
        self.assertIn("the JobFinished subscriber broke on purpose", job["error_message"])
        log = self.system.stored_data(job["error_path"]).decode()
        self.assertIn("the JobFinished subscriber broke on purpose", log)
        self.assertEqual(self.marks(job_id), ("JobStarted", "JobFailed"))
        self.assertEqual([name for name in self.system.result_ids() if name.startswith(job_id)],
                         [f"{job_id}-error.txt"])
        self.set_raise_on(None)
        second = self.system.submit("noop")
        self.system.wait_for_state(second, "done")
        self.assertEqual(self.system.stop_worker(worker), 0)
        self.assertEqual(self.system.job(job_id)["state"], "failed")  # it never ran again

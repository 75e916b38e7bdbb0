"""Progress and cancelling running reports with a real ZEO server and a real worker.

The reports (tests/addons/apireports) use ``api.current_job()``: ``steps``
calls ``progress()`` at every step, ``spin`` is a busy loop that never does.
This process watches the job over a ZEO connection of its own, as any UI does.
"""

import statistics
import time
import unittest

from tests.processes import System


CANCEL_WITHIN_SECONDS = 2.0


class RunningReportTests(unittest.TestCase):
    def setUp(self):
        self.system = System(lease_seconds=6, addons=["apireports"])
        self.addCleanup(self.system.close)
        self.worker = self.system.start_worker()
        self.system.wait_for_log(self.worker, "serving", timeout=60)

    def progress(self, job_id):
        with self.system.queue() as queue:
            jobs = queue.job_queue()
            job = jobs.get(job_id)
            return job.state, jobs.progress_of(job)

    def wait_running(self, job_id):
        return self.system.wait_for(
            lambda: (job := self.system.job(job_id))["run_started"] and job, 30,
            f"job {job_id} to run")

    def cancel_and_time(self, job_id):
        """Cancel a running job; return the seconds from the committed request to
        ``cancelled`` as this ZEO client sees it."""
        with self.system.queue() as queue:
            queue.job_queue().cancel(job_id, actor="test")
        requested = time.monotonic()
        while time.monotonic() - requested < 10:
            job = self.system.job(job_id)
            if job["state"] != "running":
                return time.monotonic() - requested, job
            time.sleep(0.02)
        self.fail(f"job {job_id} still runs 10 s after its cancel")

    def test_progress_is_seen_in_the_job_while_it_runs(self):
        job_id = self.system.submit("steps", {"seconds": 4.0, "steps": 40})
        self.wait_running(job_id)
        seen = set()
        while len(seen) < 2:
            state, progress = self.progress(job_id)
            self.assertEqual(state, "running", f"ended before two updates were seen: {seen}")
            if progress.percent:
                seen.add(progress)
            time.sleep(0.05)
        for percent, message in seen:
            step = int(message.split()[1])
            self.assertEqual((message, percent), (f"step {step} of 40", step * 100 // 40))
        self.system.wait_for_state(job_id, "done", timeout=30)
        self.assertEqual(self.progress(job_id)[1].percent, 100)

    def test_cancels_stop_running_reports_within_2_s_and_the_worker_goes_on(self):
        seconds = []
        for report in ("steps", "spin", "steps", "spin", "steps", "spin"):
            job_id = self.system.submit(report, {"seconds": 60.0, "steps": 60_000})
            self.wait_running(job_id)
            time.sleep(0.5)  # well inside its report
            took, job = self.cancel_and_time(job_id)
            self.assertEqual((job["state"], job["result_path"]), ("cancelled", None), report)
            self.assertEqual(job["history"][-1]["event"], "cancelled")
            self.assertLess(took, CANCEL_WITHIN_SECONDS, report)
            seconds.append(took)
        self.assertEqual(self.system.result_ids(), [])
        after = self.system.submit("noop")
        self.assertEqual(self.system.wait_for_state(after, "done", timeout=30)["attempts"], 1)
        self.assertIsNone(self.worker.poll())  # the same worker, still serving
        print(f"\ncancel latency over {len(seconds)} cancels: "
              f"median {statistics.median(seconds) * 1000:.0f} ms, "
              f"max {max(seconds) * 1000:.0f} ms", end=" ")

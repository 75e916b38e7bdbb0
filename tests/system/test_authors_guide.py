"""The test add-on written from the report authors' guide (tests/addons/authorsguide) in a
real worker over a real ZEO server: its progress moves, a cancel stops it, CSV and
XLSX come back readable, and its subscriber logs what finished."""

import csv
import io
import time
import unittest

import openpyxl

from tests.processes import System
from tests.processes import pdf_text


class AuthorsGuideInAWorkerTests(unittest.TestCase):
    def setUp(self):
        self.system = System(lease_seconds=6, addons=["authorsguide"])
        self.addCleanup(self.system.close)
        self.worker = self.system.start_worker()
        self.system.wait_for_log(self.worker, "serving", timeout=60)

    def submit(self, fmt="pdf", **params):
        return self.system.submit("orders-by-region", params, format=fmt)

    def progress(self, job_id):
        with self.system.queue() as queue:
            jobs = queue.job_queue()
            job = jobs.get(job_id)
            return job.state, jobs.progress_of(job)

    def test_progress_moves_with_its_message_then_a_cancel_stops_it(self):
        job_id = self.submit(regions=8, seconds=60.0)
        seen = set()
        deadline = time.monotonic() + 40
        while len(seen) < 2 and time.monotonic() < deadline:
            state, (percent, message) = self.progress(job_id)
            self.assertIn(state, ("queued", "running"))
            if message:
                seen.add((percent, message))
            time.sleep(0.1)
        self.assertEqual(len(seen), 2, f"progress seen: {seen}")
        for percent, message in seen:
            number = int(message.split()[1])  # "region 2 of 8"
            self.assertEqual((message, percent), (f"region {number} of 8", (number - 1) * 100 // 8))
        with self.system.queue() as queue:
            queue.job_queue().cancel(job_id, actor="admin")
        requested = time.monotonic()
        job = self.system.wait_for_state(job_id, "cancelled", "done", "failed", timeout=10)
        self.assertEqual((job["state"], job["result_path"]), ("cancelled", None))
        self.assertLess(time.monotonic() - requested, 2.0)
        # The worker goes on: the next job is done, and its subscriber ran in the worker.
        after = self.submit("pdf", regions=5)
        done = self.system.wait_for_state(after, "done", "failed", timeout=60)
        self.assertEqual(done["state"], "done", done["error_message"])
        text = pdf_text(self.system.stored_data(done["result_path"]))
        for expected in ("Orders per region", "Zürich", "Total", "150"):
            self.assertIn(expected, text)
        with self.system.queue() as queue:
            self.assertEqual(queue.authorsguide_log,
                             ((after, done["result_path"].rsplit("/", 1)[-1]),))

    def test_csv_and_xlsx_results_read_back(self):
        csv_job, xlsx_job = self.submit("csv", regions=3), self.submit("xlsx", regions=3)
        for job_id in (csv_job, xlsx_job):
            job = self.system.wait_for_state(job_id, "done", "failed", timeout=60)
            self.assertEqual(job["state"], "done", job["error_message"])
        data = self.system.stored_data(self.system.job(csv_job)["result_path"])
        rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
        self.assertEqual([row[:2] for row in rows], [["Region", "Orders"], ["North", "10"],
                                                     ["South", "20"], ["East", "30"]])
        data = self.system.stored_data(self.system.job(xlsx_job)["result_path"])
        sheet = openpyxl.load_workbook(io.BytesIO(data)).worksheets[0]
        self.assertEqual([row[:2] for row in sheet.iter_rows(min_row=2, values_only=True)],
                         [("North", 10), ("South", 20), ("East", 30), ("Total", 60)])

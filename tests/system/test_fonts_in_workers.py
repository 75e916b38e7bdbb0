"""PDF fonts through a real ZEO server and worker process (tests/unit/test_fonts.py: the rest)."""

import os
import tempfile
import unittest
from pathlib import Path

from OFS.Folder import manage_addFolder

from collective.asyncreports.rendering import fonts
from tests.processes import System
from tests.processes import pdf_text
from tests.unit.test_fonts import SAMPLES
from tests.unit.test_fonts import pdf_fonts


class WorkerTests(unittest.TestCase):
    """Through a real ZEO server and worker: titles in Greek and CJK, and no fonts."""

    TITLES = {"greek": SAMPLES["Greek"], "cjk": "東京 서울 Zürich"}

    def setUp(self):
        self.system = System()
        self.addCleanup(self.system.close)
        with self.system.queue() as queue:
            app = queue.getPhysicalRoot()
            manage_addFolder(app, "docs", "Documents")
            for name, title in self.TITLES.items():
                manage_addFolder(app.docs, name, title)

    def run_inventory(self, count=1):
        system = self.system
        jobs = [system.submit("object-inventory", {"depth": 1, "max_items": 10}, path="/docs")
                for _ in range(count)]
        worker = system.start_worker("--once")
        self.assertEqual(worker.wait(120), 0, system.worker_log(worker))
        pdfs = []
        for job_id in jobs:
            job = system.job(job_id)
            self.assertEqual(job["state"], "done", job)
            pdfs.append(system.stored_data(job["result_path"]))
        return pdfs, system.worker_log(worker)

    def test_worker_embeds_fonts_that_show_greek_and_cjk_titles(self):
        (pdf,), log = self.run_inventory()
        text = pdf_text(pdf)
        for title in self.TITLES.values():
            self.assertIn(title, text)
        for name, descriptor in pdf_fonts(pdf).items():
            self.assertIn("/FontFile2", descriptor, name)
        self.assertNotIn("PDF fonts not found", log)

    def test_worker_without_fonts_warns_once_and_still_renders(self):
        empty = tempfile.mkdtemp(prefix="nofonts-")
        self.addCleanup(os.rmdir, empty)
        conf = Path(self.system.instance.zope_conf)
        conf.write_text(conf.read_text() + (
            f"\n<product-config {fonts.PRODUCT}>\n  {fonts.CONFIG_KEY} {empty}\n"
            "</product-config>\n"))
        pdfs, log = self.run_inventory(count=3)
        self.assertEqual(log.count("PDF fonts not found"), 1, log)
        for pdf in pdfs:
            self.assertIn("Object inventory", pdf_text(pdf))
            self.assertIn("Zürich", pdf_text(pdf))

"""Result formats with real processes: a ZEO server, Zope over HTTP and a real
``asyncreports worker`` process making an XLSX and a CSV."""

import csv
import datetime
import io
import urllib.parse

import openpyxl

from tests.system import test_end_to_end


class FormatTests(test_end_to_end.EndToEndTests):
    """Reuses the end-to-end helpers (HTTP, the CLI, ``worker --once``), not its tests."""

    def fetch(self, job_id, user="alice"):
        job = self.show(job_id)
        self.assertEqual(job["state"], "done", job["error_message"])
        path = urllib.parse.urlsplit(job["result_url"]).path
        status, data, headers = self.http(path, user)
        self.assertEqual(status, 200)
        return path, data, headers

    def test_a_worker_makes_an_xlsx_only_its_owner_reads(self):
        job_id = self.submit_over_http(
            "alice", path="/docs", format="xlsx",
            **{"param.depth": "2", "param.max_items": "100"})
        self.assertEqual(self.show(job_id)["format"], "xlsx")
        log = self.run_worker_once()
        self.assertRegex(log, rf"job {job_id} done in [0-9.]+s: result /asyncreports/results/"
                              rf"{job_id}-object-inventory-\d{{8}}-\d{{6}}\.xlsx")
        path, data, headers = self.fetch(job_id)
        self.assertEqual(headers["Content-Type"],
                         "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
        book = openpyxl.load_workbook(io.BytesIO(data))
        sheet = book["Objects"]  # after "Objects per meta type"
        self.assertEqual(sheet.freeze_panes, "A2")
        self.assertEqual([cell.value for cell in sheet[1]],
                         ["Id", "Meta type", "Title", "Last modified (UTC)", "Size"])
        self.assertTrue(all(cell.font.b for cell in sheet[1]))
        rows = {row[0].value: row for row in sheet.iter_rows(min_row=2)}
        minutes = rows["minutes/2026-01.txt"]
        self.assertEqual((minutes[2].value, minutes[4].value), ("January minutes", 1234))
        self.assertIsInstance(minutes[3].value, datetime.datetime)
        for intruder in ("carol", "bob", None):
            status, body, _ = self.http(path, intruder)
            self.assertIn(status, (401, 403), intruder)
            self.assertFalse(body.startswith(b"PK"), intruder)

    def test_the_command_line_queues_a_csv(self):
        result = self.cli("submit", "object-inventory", "--path", "/docs", "--user", "alice",
                          "--param", "depth=2", "--format", "csv")
        job_id = result.stdout.strip()
        self.run_worker_once()
        path, data, headers = self.fetch(job_id)
        self.assertTrue(path.endswith(".csv"))
        self.assertEqual(headers["Content-Type"].split(";")[0], "text/csv")
        self.assertTrue(data.startswith(b"\xef\xbb\xbf"))
        rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
        self.assertIn(["agenda.txt", "File", "Agenda"], [row[:3] for row in rows])

    def test_the_command_line_refuses_a_format_with_one_line(self):
        result = self.cli("submit", "object-inventory", "--path", "/docs", "--user", "alice",
                          "--format", "docx", check=False)
        self.assertEqual(result.returncode, 2)
        self.assertIn("there is no result format 'docx'", result.stderr)
        self.assertNotIn("Traceback", result.stderr)
        # (Zope's own start-up logs its lines before it.)
        self.assertEqual(result.stderr.strip().splitlines()[-1],
                         "asyncreports: error: format: there is no result format 'docx'; "
                         "this report offers pdf, csv, xlsx")


# Only this module's tests: the end-to-end ones run in their own module.
for _name in [name for name in vars(test_end_to_end.EndToEndTests) if name.startswith("test_")]:
    setattr(FormatTests, _name, None)

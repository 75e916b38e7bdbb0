"""Plain Zope, no Plone: PDFs in English, the ZMI tabs in the browser's language."""

import re
import unittest

import transaction

from collective.asyncreports import testing
from collective.asyncreports.worker import runner
from tests.processes import pdf_text


WORKER = "i18n-test-worker"
ENGLISH_MONTHS = ("January|February|March|April|May|June|July|August|September|October|"
                  "November|December")


class PlainZopeReportLanguageTests(unittest.TestCase):
    layer = testing.FUNCTIONAL_TESTING

    def setUp(self):
        self.app = self.layer["app"]
        self.jobs = self.app[testing.QUEUE_ID].job_queue()

    def test_the_pdf_is_english_with_the_date_in_english_words(self):
        job = self.jobs.enqueue("object-inventory", "/docs", {}, owner_id=testing.REPORTER,
                                queue_path="/asyncreports")
        transaction.commit()
        (claimed,) = self.jobs.claim(WORKER)
        transaction.commit()
        outcome = runner.JobRunner(self.layer["zodbDB"], step_backoff=0).run(
            "/asyncreports", job.id, claimed.lease_token)
        transaction.begin()
        job = self.jobs.get(job.id)
        self.assertEqual((outcome, job.state), (runner.DONE, "done"), job.error_message)
        text = pdf_text(bytes(self.app.unrestrictedTraverse(job.result_path).data))
        for english in ("Object inventory", "Objects per meta type", "Meta type", "Total size",
                        "Total", "Last modified (UTC)", "Objects listed: 2.", "Page 1 of 1"):
            self.assertIn(english, text)
        self.assertRegex(text, rf"Generated ({ENGLISH_MONTHS}) \d{{1,2}}, \d{{4}} "
                               r"\d{1,2}:\d\d:\d\d [AP]M UTC")


class ZMILanguageTests(unittest.TestCase):
    """The ZMI tabs follow the browser's Accept-Language (Zope's own negotiation)."""

    layer = testing.FUNCTIONAL_TESTING

    def open(self, tab, language):
        browser = testing.browser(self.layer["app"], testing.MANAGER)
        browser.addHeader("Accept-Language", language)
        browser.open(f"{self.layer['app'].absolute_url()}/{testing.QUEUE_ID}/{tab}")
        return browser.contents

    def test_submit_tab_in_german(self):
        contents = self.open("manage_submitForm?report=object-inventory", "de")
        for german in ("Zielpfad", "Objektinventar", "Tiefe", "Höchstzahl der Objekte",
                       'value="Bericht einreihen"'):
            self.assertIn(german, contents)
        self.assertNotIn(">Target path<", contents)

    def test_queue_tab_in_spanish_with_state_names(self):
        self.app = self.layer["app"]
        self.app[testing.QUEUE_ID].job_queue().enqueue(
            "object-inventory", "/docs", {}, owner_id=testing.MANAGER,
            queue_path="/asyncreports")
        transaction.commit()
        contents = self.open("manage_queue", "es")
        for spanish in ("Estado", "Propietario", 'value="Filtrar"', "Purgar trabajos antiguos"):
            self.assertIn(spanish, contents)
        self.assertIsNotNone(re.search(r'data-field="state">\s*en cola\s*<', contents))

    def test_without_accept_language_the_zmi_stays_english(self):
        contents = self.open("manage_submitForm?report=object-inventory", "")
        self.assertIn("Target path", contents)
        self.assertIn("Object inventory", contents)

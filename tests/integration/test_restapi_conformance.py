"""Real responses of the REST API conform to the OpenAPI document it serves.

Each response's status must be documented for its operation, its body valid
against the documented schema (JSON Schema 2020-12, as OpenAPI 3.1 says,
with jsonschema and its ``date-time`` format check), its Content-Type the
documented one. schemathesis checks the same against a live system
(tests/contract/run_schemathesis.py); this runs in the test suite.
"""

import time
from datetime import datetime

import jsonschema
import referencing
from referencing.jsonschema import DRAFT202012

from tests.integration.test_restapi import INVENTORY
from tests.integration.test_restapi import REST_EAGER_TESTING
from tests.integration.test_restapi import RestTestCase
from tests.integration.test_restapi_schedules import WEEKLY


DOCUMENT_URI = "urn:asyncreports:openapi"
# jsonschema checks date-time only with rfc3339-validator installed; this is
# the rule without it: ISO 8601 with a time zone, as RFC 3339 wants.
FORMATS = jsonschema.FormatChecker()


@FORMATS.checks("date-time", raises=ValueError)
def is_date_time(value):
    return not isinstance(value, str) or datetime.fromisoformat(value).tzinfo is not None


class ConformingTestCase(RestTestCase):

    def setUp(self):
        super().setUp()
        self.document = self.anonymous.get("@reports-openapi").json()
        resource = referencing.Resource.from_contents(self.document,
                                                      default_specification=DRAFT202012)
        self.registry = referencing.Registry().with_resource(DOCUMENT_URI, resource)

    def assert_conforms(self, response, path, method):
        """``response`` is documented for ``method`` on ``path`` and valid."""
        operation = self.document["paths"][path][method]
        documented = operation["responses"]
        status = str(response.status_code)
        self.assertIn(status, documented, f"{method.upper()} {path}: {response.text[:500]}")
        content = documented[status].get("content")
        if content is None:
            self.assertEqual(response.content, b"")
            return None
        self.assertEqual(response.headers["Content-Type"], "application/json")
        # The schema by its place in the document: its $refs resolve there.
        validator = jsonschema.Draft202012Validator(
            {"$ref": f"{DOCUMENT_URI}#/paths/{escape(path)}/{method}/responses/{status}"
                     "/content/application~1json/schema"},
            registry=self.registry, format_checker=FORMATS)
        body = response.json()
        errors = sorted(validator.iter_errors(body), key=lambda error: list(error.path))
        self.assertEqual([f"{list(error.path)}: {error.message}" for error in errors], [],
                         f"{method.upper()} {path} {status}")
        return body


class ConformanceTests(ConformingTestCase):

    def test_report_types(self):
        self.assert_conforms(self.editor.get("docs/@report-types"), "/@report-types", "get")
        self.assert_conforms(self.anonymous.get("@report-types"), "/@report-types", "get")

    def test_queueing_and_listing(self):
        created = self.assert_conforms(self.editor.post("docs/@reports", json=INVENTORY),
                                       "/@reports", "post")
        again = self.assert_conforms(self.editor.post("docs/@reports", json=INVENTORY),
                                     "/@reports", "post")
        self.assertEqual(again["id"], created["id"])
        for response in (self.editor.post("docs/@reports", json={"report": "nope"}),
                         self.editor.post("docs/@reports", data={"report": "x"}),
                         self.editor.post("docs/@reports", json=dict(INVENTORY, priority=9)),
                         self.anonymous.post("docs/@reports", json=INVENTORY)):
            with self.subTest(status=response.status_code):
                self.assert_conforms(response, "/@reports", "post")
        listing = self.assert_conforms(self.editor.get("@reports", params={"b_size": 1}),
                                       "/@reports", "get")
        self.assertEqual(listing["items_total"], 1)
        self.assert_conforms(self.editor.get("@reports", params={"state": "x"}),
                             "/@reports", "get")

    def test_one_job_through_its_life(self):
        job = self.editor.post("docs/@reports", json=INVENTORY).json()
        one = f"@reports/{job['id']}"
        self.assert_conforms(self.editor.get(one), "/@reports/{id}", "get")
        self.assert_conforms(self.other.get(one), "/@reports/{id}", "get")
        self.assert_conforms(self.editor.delete(one), "/@reports/{id}", "delete")  # 409
        self.assert_conforms(self.editor.post(f"{one}/retry"), "/@reports/{id}/retry", "post")
        cancelled = self.assert_conforms(self.editor.post(f"{one}/cancel"),
                                         "/@reports/{id}/cancel", "post")
        self.assertEqual(cancelled["state"], "cancelled")
        self.assert_conforms(self.editor.post(f"{one}/cancel"), "/@reports/{id}/cancel", "post")
        self.assert_conforms(self.manager.post(f"{one}/retry"), "/@reports/{id}/retry", "post")
        self.manager.post(f"{one}/cancel")
        again = self.assert_conforms(self.editor.post(f"{one}/run-again"),
                                     "/@reports/{id}/run-again", "post")
        self.assert_conforms(self.editor.post(f"@reports/{again['id']}/run-again"),
                             "/@reports/{id}/run-again", "post")  # 200, with its note
        self.assert_conforms(self.editor.delete(one), "/@reports/{id}", "delete")  # 204
        self.assert_conforms(self.editor.get(one), "/@reports/{id}", "get")  # 404

    def test_manager_operations(self):
        self.assert_conforms(self.manager.get("@report-workers"), "/@report-workers", "get")
        self.assert_conforms(self.editor.get("@report-workers"), "/@report-workers", "get")
        for response in (self.manager.post("@reports/purge", json={"older_than_days": 0}),
                         self.manager.post("@reports/purge", json={}),
                         self.manager.post("@reports/purge", headers={
                             "Content-Type": "multipart/form-data"}),
                         self.editor.post("@reports/purge", json={"older_than_days": 0})):
            with self.subTest(status=response.status_code):
                self.assert_conforms(response, "/@reports/purge", "post")

    def test_the_document_itself(self):
        self.assert_conforms(self.anonymous.get("@reports-openapi"), "/@reports-openapi", "get")


class ScheduleConformanceTests(ConformingTestCase):

    def test_a_schedule_through_its_life(self):
        schedules, one = "/@report-schedules", "/@report-schedules/{id}"
        created = self.assert_conforms(self.editor.post("docs/@report-schedules", json=WEEKLY),
                                       schedules, "post")
        for response in (self.editor.post("docs/@report-schedules",
                                          json=dict(WEEKLY, cron="x", timezone="Nowhere")),
                         self.editor.post("docs/@report-schedules", data={"cron": "x"}),
                         self.member.post("docs/@report-schedules", json=WEEKLY),
                         self.anonymous.post("docs/@report-schedules", json=WEEKLY)):
            with self.subTest(status=response.status_code):
                self.assert_conforms(response, schedules, "post")
        for session in (self.editor, self.manager, self.anonymous):
            self.assert_conforms(session.get("@report-schedules", params={"b_size": 1}),
                                 schedules, "get")
        url = f"@report-schedules/{created['id']}"
        for session in (self.editor, self.other):
            self.assert_conforms(session.get(url), one, "get")
        self.assert_conforms(self.editor.patch(url, json={"cron": "0 7 * * *"}), one, "patch")
        self.assert_conforms(self.editor.patch(url, json={"cron": "0 77 * * *"}), one, "patch")
        self.assert_conforms(self.editor.patch(url, data={"cron": "x"}), one, "patch")
        paused = self.assert_conforms(self.editor.post(f"{url}/pause"), f"{one}/pause", "post")
        self.assertIsNotNone(paused["paused_reason"])
        self.assert_conforms(self.editor.post(f"{url}/resume"), f"{one}/resume", "post")
        job = self.assert_conforms(self.editor.post(f"{url}/run-now"), f"{one}/run-now", "post")
        self.assert_conforms(self.editor.post(f"{url}/run-now"), f"{one}/run-now", "post")
        ran = self.assert_conforms(self.editor.get(url), one, "get")
        self.assertEqual(ran["last_job"]["id"], job["id"])
        for action in ("keep", "unkeep"):
            self.assert_conforms(self.editor.post(f"@reports/{job['id']}/{action}"),
                                 f"/@reports/{{id}}/{action}", "post")
            self.assert_conforms(self.other.post(f"@reports/{job['id']}/{action}"),
                                 f"/@reports/{{id}}/{action}", "post")
        self.assert_conforms(self.other.delete(url), one, "delete")
        self.assert_conforms(self.editor.delete(url), one, "delete")  # 204
        self.assert_conforms(self.editor.get(url), one, "get")  # 404
        self.assert_conforms(self.editor.post(f"{url}/pause"), f"{one}/pause", "post")  # 404


class FinishedJobConformanceTests(ConformingTestCase):
    """A done job, with its result (the eager layer runs it at commit)."""

    layer = REST_EAGER_TESTING

    def finished(self, payload):
        job = self.editor.post("docs/@reports", json=payload).json()
        deadline = time.monotonic() + 60
        while job["state"] not in ("done", "failed", "cancelled"):
            self.assertLess(time.monotonic(), deadline, job)
            time.sleep(0.2)
            job = self.editor.get(job["@id"]).json()
        return job

    def test_a_done_job_with_its_result(self):
        done = self.finished(INVENTORY)
        self.assertEqual(done["state"], "done", done)
        for session in (self.editor, self.manager):
            shown = self.assert_conforms(session.get(done["@id"]), "/@reports/{id}", "get")
            self.assertEqual(shown["result"]["content-type"], "application/pdf")
        self.assert_conforms(self.editor.get("@reports"), "/@reports", "get")

def escape(path):
    """``path`` as one JSON pointer token."""
    return path.replace("~", "~0").replace("/", "~1")

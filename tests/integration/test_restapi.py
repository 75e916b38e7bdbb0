"""The REST API (issue 14) over HTTP: every endpoint, and who may see and do what.

A real WSGI server in front of the Plone test site, driven with requests
as plone.restapi's own tests do (``RelativeSession``). Jobs stay queued
here; the eager layer runs them as they are committed, for results.
"""

import io
import time
import unittest

import requests
import transaction
from plone import api
from plone.app.testing import SITE_OWNER_NAME
from plone.app.testing import SITE_OWNER_PASSWORD
from plone.app.testing import FunctionalTesting
from plone.testing.zope import WSGI_SERVER_FIXTURE
from pypdf import PdfReader

from collective.asyncreports.plone.queue import QUEUE_ID
from collective.asyncreports.plone.testing import EAGER_FIXTURE
from collective.asyncreports.plone.testing import EDITOR
from collective.asyncreports.plone.testing import FIXTURE
from collective.asyncreports.plone.testing import MEMBER
from collective.asyncreports.plone.testing import OTHER_EDITOR
from collective.asyncreports.plone.testing import SITE_ADMIN
from collective.asyncreports.restapi.openapi import openapi_document
from collective.asyncreports.testing import PASSWORD


REST_FUNCTIONAL_TESTING = FunctionalTesting(
    bases=(FIXTURE, WSGI_SERVER_FIXTURE), name="AsyncReportsPlone:REST")
REST_EAGER_TESTING = FunctionalTesting(
    bases=(EAGER_FIXTURE, WSGI_SERVER_FIXTURE), name="AsyncReportsPlone:RESTEager")



class RelativeSession(requests.Session):
    """plone.restapi.testing's session, relative to the site's URL (that module
    needs plone.app.robotframework, which Plone does not install)."""

    def __init__(self, base_url, test):
        super().__init__()
        self.base_url = base_url.rstrip("/") + "/"
        test.addCleanup(self.close)

    def request(self, method, url, **kwargs):
        if not url.startswith(("http://", "https://")):
            url = self.base_url + url.lstrip("/")
        return super().request(method, url, **kwargs)


INVENTORY = {"report": "content-inventory", "parameters": {"max_items": 50}}


class RestTestCase(unittest.TestCase):
    layer = REST_FUNCTIONAL_TESTING

    def setUp(self):
        self.portal = self.layer["portal"]
        self.portal_url = self.portal.absolute_url()
        self.editor = self.session(EDITOR)
        self.other = self.session(OTHER_EDITOR)
        self.member = self.session(MEMBER)
        self.manager = self.session(SITE_ADMIN)
        self.anonymous = self.session(None)

    def session(self, user):
        session = RelativeSession(self.portal_url, test=self)
        session.headers["Accept"] = "application/json"
        if user is not None:
            session.auth = (user, SITE_OWNER_PASSWORD if user == SITE_OWNER_NAME else PASSWORD)
        return session

    def queue_inventory(self, session=None, **extra):
        response = (session or self.editor).post("docs/@reports", json=dict(INVENTORY, **extra))
        self.assertEqual(response.status_code, 201, response.text)
        return response.json()

    def jobs(self):
        return self.portal[QUEUE_ID].job_queue()


class ReportTypesTests(RestTestCase):

    def test_editor_gets_the_types_with_json_schema_of_their_parameters(self):
        response = self.editor.get("docs/@report-types")
        self.assertEqual(response.status_code, 200, response.text)
        types = {item["name"]: item for item in response.json()["items"]}
        inventory = types["content-inventory"]
        self.assertEqual(inventory["title"], "Content inventory")
        self.assertEqual([fmt["name"] for fmt in inventory["formats"]], ["pdf", "csv", "xlsx"])
        field = inventory["schema"]["properties"]["max_items"]
        self.assertEqual((field["type"], field["minimum"], field["maximum"], field["default"]),
                         ("integer", 1, 100000, 2000))
        self.assertEqual(inventory["schema"]["required"], ["max_items"])

    def test_types_not_available_on_the_context_are_left_out(self):
        names = [item["name"] for item in self.editor.get("docs/welcome/@report-types")
                 .json()["items"]]
        self.assertNotIn("content-inventory", names)

    def test_member_without_queue_report_gets_no_types(self):
        response = self.member.get("@report-types")
        self.assertEqual(response.json().get("items"), [], response.text)


class QueueReportTests(RestTestCase):

    def test_post_gives_201_the_job_and_its_location(self):
        response = self.editor.post("docs/@reports", json=dict(INVENTORY, format="csv"))
        self.assertEqual(response.status_code, 201, response.text)
        job = response.json()
        self.assertEqual(response.headers["Location"], job["@id"])
        self.assertEqual(job["@id"], f"{self.portal_url}/@reports/{job['id']}")
        self.assertEqual((job["state"], job["owner"], job["format"], job["path"]),
                         ("queued", EDITOR, "csv", "/plone/docs"))
        self.assertEqual(job["parameters"], {"max_items": 50})
        self.assertRegex(job["created"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertIsNone(job["result"])
        transaction.begin()
        self.assertIn(job["id"], self.jobs())

    def test_bad_parameters_are_a_400_with_a_message_per_field(self):
        response = self.editor.post("docs/@reports", json={
            "report": "content-inventory", "parameters": {"max_items": 0, "colour": "red"}})
        self.assertEqual(response.status_code, 400)
        error = response.json()
        self.assertEqual(error["type"], "BadRequest")
        fields = {each["field"]: each["message"] for each in error["errors"]}
        self.assertIn("max_items", fields)
        self.assertIn("unknown parameter", fields["colour"])

    def test_bad_input_is_a_400_never_a_500(self):
        for payload in ({"report": "nope"}, {"report": ["content-inventory"]}, {},
                        {"report": "content-inventory", "parameters": []},
                        {"report": "content-inventory", "format": "docx"},
                        {"report": "content-inventory", "priority": "high"},
                        {"report": "content-inventory", "extra": 1}):
            with self.subTest(payload=payload):
                response = self.editor.post("docs/@reports", json=payload)
                self.assertEqual(response.status_code, 400, response.text)
                self.assertIn("message", response.json())
        response = self.editor.post("docs/@reports", data=b"{not json",
                                    headers={"Content-Type": "application/json"})
        self.assertEqual(response.status_code, 400)

    def test_idempotency_key_returns_the_first_job(self):
        headers = {"Idempotency-Key": "order-42"}
        first = self.editor.post("docs/@reports", json=INVENTORY, headers=headers)
        again = self.editor.post("docs/@reports", json=INVENTORY, headers=headers)
        self.assertEqual((first.status_code, again.status_code), (201, 200))
        self.assertEqual(first.json()["id"], again.json()["id"])
        # Another user's same key is theirs alone.
        other = self.other.post("docs/@reports", json=INVENTORY, headers=headers)
        self.assertNotEqual(other.json()["id"], first.json()["id"])

    def test_member_without_queue_report_gets_401(self):
        response = self.member.post("docs/@reports", json=INVENTORY)
        self.assertEqual(response.status_code, 401)

    def test_anonymous_gets_401(self):
        self.assertEqual(self.anonymous.post("docs/@reports", json=INVENTORY).status_code, 401)
        self.assertEqual(self.anonymous.get("@reports").status_code, 401)

    def test_only_managers_raise_priority(self):
        self.assertEqual(self.editor.post("docs/@reports",
                                          json=dict(INVENTORY, priority=5)).status_code, 401)
        self.assertEqual(self.editor.post("docs/@reports",
                                          json=dict(INVENTORY, priority=-1)).status_code, 201)
        job = self.queue_inventory(self.manager, priority=5)
        self.assertEqual(job["priority"], 5)

    def test_get_is_never_a_state_change(self):
        self.assertEqual(self.editor.get("@reports/purge").status_code, 404)
        response = self.editor.get("docs/@reports", params={"report": "content-inventory"})
        self.assertEqual(response.status_code, 200)
        transaction.begin()
        self.assertEqual(len(self.jobs()), 0)


class ListingTests(RestTestCase):

    def test_users_see_their_own_jobs_newest_first_managers_all(self):
        first = self.queue_inventory()
        second = self.queue_inventory(format="xlsx")
        theirs = self.queue_inventory(self.other)
        mine = self.editor.get("@reports").json()
        self.assertEqual([job["id"] for job in mine["items"]], [second["id"], first["id"]])
        self.assertEqual(mine["items_total"], 2)
        every = self.manager.get("@reports").json()
        self.assertEqual({job["id"] for job in every["items"]},
                         {first["id"], second["id"], theirs["id"]})
        only = self.manager.get("@reports", params={"owner": OTHER_EDITOR}).json()
        self.assertEqual([job["id"] for job in only["items"]], [theirs["id"]])

    def test_filters_and_their_bad_values(self):
        self.queue_inventory()
        self.assertEqual(self.editor.get("@reports", params={"state": "done"})
                         .json()["items_total"], 0)
        self.assertEqual(self.editor.get("@reports", params={"report": "content-inventory"})
                         .json()["items_total"], 1)
        for params in ({"state": "nope"}, {"report": "nope"}, {"b_size": "0"},
                       {"b_start": "-1"}, {"b_size": "x"}):
            with self.subTest(params=params):
                self.assertEqual(self.editor.get("@reports", params=params).status_code, 400)

    def test_members_may_not_list_other_peoples_jobs(self):
        self.queue_inventory(self.other)
        response = self.editor.get("@reports", params={"owner": OTHER_EDITOR})
        self.assertEqual(response.status_code, 401)

    def test_batching(self):
        # Different parameters: an identical job would be the earlier one.
        ids = [self.queue_inventory(parameters={"max_items": 50 + n})["id"] for n in range(3)]
        page = self.editor.get("@reports", params={"b_size": 2}).json()
        self.assertEqual([job["id"] for job in page["items"]], ids[::-1][:2])
        self.assertEqual(page["items_total"], 3)
        rest = self.editor.get(page["batching"]["next"]).json()
        self.assertEqual([job["id"] for job in rest["items"]], [ids[0]])

    def test_an_items_jobs_and_the_expandable_element(self):
        on_docs = self.queue_inventory()
        self.editor.post("docs/news/@reports", json=INVENTORY)
        listed = self.editor.get("docs/@reports").json()
        self.assertEqual([job["id"] for job in listed["items"]], [on_docs["id"]])
        content = self.editor.get("docs", params={"expand": "reports"})
        self.assertEqual(content.status_code, 200, content.text[:3000])
        content = content.json()
        expanded = content["@components"]["reports"]
        self.assertEqual([job["id"] for job in expanded["items"]], [on_docs["id"]])
        plain = self.editor.get("docs").json()["@components"]["reports"]
        self.assertEqual(plain, {"@id": f"{self.portal_url}/docs/@reports"})


class OneJobTests(RestTestCase):

    def test_owner_and_manager_see_a_job_others_do_not(self):
        job = self.queue_inventory()
        url = f"@reports/{job['id']}"
        shown = self.editor.get(url).json()
        self.assertEqual(shown["id"], job["id"])
        self.assertEqual(shown["position"], 0)
        self.assertEqual(shown["history"][0]["event"], "queued")
        self.assertEqual(self.manager.get(url).status_code, 200)
        self.assertIn(self.other.get(url).status_code, (401, 404))
        self.assertEqual(self.anonymous.get(url).status_code, 401)
        self.assertEqual(self.editor.get("@reports/no-such-job").status_code, 404)

    def test_cancel_by_owner_retry_by_manager_only(self):
        job = self.queue_inventory()
        url = f"@reports/{job['id']}"
        self.assertIn(self.other.post(f"{url}/cancel").status_code, (401, 404))
        cancelled = self.editor.post(f"{url}/cancel")
        self.assertEqual(cancelled.status_code, 200, cancelled.text)
        self.assertEqual(cancelled.json()["state"], "cancelled")
        self.assertEqual(self.editor.post(f"{url}/cancel").status_code, 409)
        self.assertEqual(self.editor.post(f"{url}/retry").status_code, 401)
        retried = self.manager.post(f"{url}/retry")
        self.assertEqual(retried.json()["state"], "queued")
        self.assertEqual(self.editor.get(url).status_code, 200)

    def test_run_again_queues_a_new_job(self):
        job = self.queue_inventory()
        self.editor.post(f"@reports/{job['id']}/cancel")
        again = self.editor.post(f"@reports/{job['id']}/run-again")
        self.assertEqual(again.status_code, 201, again.text)
        self.assertNotEqual(again.json()["id"], job["id"])
        self.assertEqual(again.json()["parameters"], job["parameters"])
        self.assertEqual(again.headers["Location"], again.json()["@id"])

    def test_run_again_of_a_waiting_job_gives_that_job_with_a_note(self):
        job = self.queue_inventory()
        again = self.editor.post(f"@reports/{job['id']}/run-again")
        self.assertEqual(again.status_code, 200, again.text)
        self.assertEqual(again.json()["id"], job["id"])
        self.assertTrue(again.json()["note"])
        self.assertNotIn("Location", again.headers)

    def test_an_identical_post_gives_the_waiting_job_with_a_note(self):
        job = self.queue_inventory()
        same = self.editor.post("docs/@reports", json=INVENTORY)
        self.assertEqual(same.status_code, 200, same.text)
        self.assertEqual(same.json()["id"], job["id"])
        self.assertTrue(same.json()["note"])
        self.assertNotIn("note", job)

    def test_delete_finished_jobs_only_the_owners_or_a_managers(self):
        job = self.queue_inventory()
        url = f"@reports/{job['id']}"
        self.assertEqual(self.editor.delete(url).status_code, 409)  # still queued
        self.editor.post(f"{url}/cancel")
        self.assertIn(self.other.delete(url).status_code, (401, 404))
        self.assertEqual(self.editor.delete(url).status_code, 204)
        self.assertEqual(self.editor.get(url).status_code, 404)
        theirs = self.queue_inventory(self.other)
        self.other.post(f"@reports/{theirs['id']}/cancel")
        self.assertEqual(self.manager.delete(f"@reports/{theirs['id']}").status_code, 204)

    def test_purge_is_for_managers(self):
        job = self.queue_inventory()
        self.editor.post(f"@reports/{job['id']}/cancel")
        self.assertEqual(self.editor.post("@reports/purge", json={"older_than_days": 0})
                         .status_code, 401)
        self.assertEqual(self.manager.post("@reports/purge", json={"older_than_days": -1})
                         .status_code, 400)
        purged = self.manager.post("@reports/purge", json={"older_than_days": 0})
        self.assertEqual(purged.status_code, 200, purged.text)
        self.assertEqual(purged.json()["purged"], [job["id"]])

    def test_keep_and_unkeep_by_the_owner_or_a_manager(self):
        job = self.queue_inventory()
        url = f"@reports/{job['id']}"
        self.assertIs(job["keep"], False)
        self.assertIn(self.other.post(f"{url}/keep").status_code, (401, 404))
        self.assertEqual(self.anonymous.post(f"{url}/keep").status_code, 401)
        kept = self.editor.post(f"{url}/keep")
        self.assertEqual(kept.status_code, 200, kept.text)
        self.assertIs(kept.json()["keep"], True)
        self.assertIs(self.editor.get(url).json()["keep"], True)
        newest = kept.json()["history"][0]  # newest first, as on the job's page
        self.assertEqual((newest["event"], newest["actor"]), ("kept", "editor"))
        self.assertIn(self.other.post(f"{url}/unkeep").status_code, (401, 404))
        unkept = self.manager.post(f"{url}/unkeep")
        self.assertEqual(unkept.status_code, 200, unkept.text)
        self.assertIs(unkept.json()["keep"], False)
        transaction.begin()
        self.assertFalse(self.jobs().get(job["id"]).keep)
        self.assertEqual(self.editor.get(f"{url}/keep").status_code, 404)  # GET changes nothing

    def test_unknown_sub_resources_are_404(self):
        job = self.queue_inventory()
        self.assertEqual(self.editor.post(f"@reports/{job['id']}/explode").status_code, 404)
        self.assertEqual(self.editor.post(f"docs/@reports/{job['id']}/cancel").status_code, 404)
        self.assertEqual(self.editor.delete("@reports").status_code, 404)


class WorkersAndSettingsTests(RestTestCase):

    def test_workers_are_for_managers(self):
        self.assertEqual(self.manager.get("@report-workers").json()["items"], [])
        self.assertEqual(self.editor.get("@report-workers").status_code, 401)

    def test_control_panel_get_and_patch(self):
        panel = self.manager.get("@controlpanels/asyncreports")
        self.assertEqual(panel.status_code, 200, panel.text)
        data = panel.json()
        self.assertEqual(data["title"], "Async reports")
        self.assertIn("results_folder", data["schema"]["properties"])
        self.assertEqual(data["data"]["results_folder"], "/reports")
        listed = [each["@id"].rsplit("/", 1)[-1]
                  for each in self.manager.get("@controlpanels").json()]
        self.assertIn("asyncreports", listed)
        response = self.manager.patch("@controlpanels/asyncreports",
                                      json={"notify_submitter": True})
        self.assertEqual(response.status_code, 204, response.text)
        transaction.begin()
        self.assertTrue(api.portal.get_registry_record("collective.asyncreports.notify_submitter"))
        self.assertEqual(self.editor.get("@controlpanels/asyncreports").status_code, 401)

    def test_openapi_document_is_served_with_this_site_as_server(self):
        response = self.anonymous.get("@reports-openapi")
        self.assertEqual(response.status_code, 200)
        document = response.json()
        self.assertEqual(document["openapi"], "3.1.0")
        self.assertEqual(document["servers"][0]["url"], self.portal_url)
        self.assertEqual(openapi_document("x")["paths"].keys(), document["paths"].keys())


class ResultTests(RestTestCase):
    """Jobs run as they are committed: results, their links and who may fetch them."""

    layer = REST_EAGER_TESTING

    def wait_until_final(self, session, url, seconds=60):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            job = session.get(url).json()
            if job["state"] in ("done", "failed", "cancelled"):
                return job
            time.sleep(0.2)
        self.fail(f"{url} did not finish")

    def test_result_is_described_and_downloadable_by_its_owner_only(self):
        job = self.queue_inventory()
        done = self.wait_until_final(self.editor, job["@id"])
        self.assertEqual(done["state"], "done", done)
        result = done["result"]
        self.assertEqual(result["content-type"], "application/pdf")
        self.assertGreater(result["size"], 1000)
        pdf = self.editor.get(result["download"])
        self.assertEqual(pdf.status_code, 200)
        text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
        self.assertIn("Staff handbook", text)
        self.assertEqual(len(pdf.content), result["size"])
        self.assertIn(self.other.get(result["download"]).status_code, (401, 404))
        self.assertIn(self.other.get(job["@id"]).status_code, (401, 404))
        self.assertEqual(self.anonymous.get(result["download"]).status_code, 401)
        self.assertEqual(self.manager.get(job["@id"]).json()["result"]["size"], result["size"])

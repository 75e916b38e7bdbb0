"""Hostile requests to the REST API, as schemathesis found them, over real HTTP.

Unknown HTTP methods (``QUERY``), form bodies where JSON is expected,
``multipart/form-data`` without a boundary, Zope's ``:int`` field names and
unknown charsets: each used to be a 500 (or 503) from Zope before any
service ran (docs/reference/rest.rst). Now they are 405, 415 and 400 in
plone.restapi's error JSON, no traceback for anyone, and nothing is queued.
"""

import transaction
from plone.app.testing import SITE_OWNER_NAME

from tests.integration.test_restapi import INVENTORY
from tests.integration.test_restapi import RestTestCase as BaseTestCase


SITE_ENDPOINTS = {"@report-types": "GET", "@reports": "GET, POST, DELETE",
                  "@report-schedules": "GET, POST, PATCH, DELETE",
                  "@report-workers": "GET", "@reports-openapi": "GET"}
NO_BOUNDARY = {"Content-Type": "multipart/form-data"}


class RestTestCase(BaseTestCase):

    def job_count(self):
        transaction.begin()  # see what the server's requests committed
        return len(self.jobs())


class UnsupportedMethodTests(RestTestCase):

    def assert_405(self, response, allow):
        self.assertEqual(response.status_code, 405, response.text)
        self.assertEqual(response.headers["Allow"], allow)
        self.assertEqual(response.headers["Content-Type"], "application/json")
        error = response.json()
        self.assertEqual(error["type"], "MethodNotAllowed")
        self.assertIn(allow, error["message"])
        self.assertNotIn("traceback", error)

    def test_query_and_unknown_verbs_give_405_with_allow(self):
        for session in (self.editor, self.manager):
            for method in ("QUERY", "FOO"):
                for name, allow in SITE_ENDPOINTS.items():
                    with self.subTest(user=session.auth[0], method=method, name=name):
                        self.assert_405(session.request(method, name), allow)

    def test_methods_plone_rest_knows_but_an_endpoint_does_not_serve(self):
        self.assert_405(self.editor.put("@report-types", json={}), "GET")
        self.assert_405(self.editor.patch("@reports", json={}), "GET, POST, DELETE")
        self.assert_405(self.manager.delete("@report-workers"), "GET")
        self.assert_405(self.editor.post("@reports-openapi"), "GET")

    def test_allow_is_what_the_context_has(self):
        # DELETE @reports/{id} is the site's only; an item offers GET and POST.
        self.assert_405(self.editor.request("QUERY", "docs/@reports"), "GET, POST")
        self.assert_405(self.editor.request("QUERY", "docs/@report-types"), "GET")

    def test_without_accept_json_too(self):
        response = self.editor.request("QUERY", "@reports", headers={"Accept": "*/*"})
        self.assert_405(response, "GET, POST, DELETE")

    def test_below_an_endpoint_is_404(self):
        job = self.queue_inventory()
        for method in ("QUERY", "PUT", "PATCH"):
            with self.subTest(method=method):
                response = self.editor.request(method, f"@reports/{job['id']}")
                self.assertEqual(response.status_code, 404, response.text)

    def test_a_browser_asking_for_html_still_gets_404(self):
        response = self.editor.get("@reports", headers={"Accept": "text/html"})
        self.assertEqual(response.status_code, 404)


class BodyTests(RestTestCase):

    def assert_error(self, response, status, kind):
        self.assertEqual(response.status_code, status, response.text)
        self.assertEqual(response.headers["Content-Type"], "application/json")
        error = response.json()
        self.assertEqual(error["type"], kind)
        self.assertTrue(error["message"])
        self.assertNotIn("traceback", error)
        self.assertNotIn("boundary", error["message"])  # no KeyError text
        return error

    def test_multipart_without_a_boundary_is_400_everywhere(self):
        job = self.queue_inventory()
        for path in ("docs/@reports", "@reports/purge", f"@reports/{job['id']}/cancel",
                     f"@reports/{job['id']}/retry", f"@reports/{job['id']}/run-again"):
            for session in (self.editor, self.manager):
                with self.subTest(path=path, user=session.auth[0]):
                    self.assert_error(session.post(path, headers=NO_BOUNDARY),
                                      400, "BadRequest")
        self.assertEqual(self.editor.get(job["@id"]).json()["state"], "queued")
        self.assertEqual(self.job_count(), 1)

    def test_form_bodies_where_json_is_expected_are_415(self):
        form = {"report": "content-inventory", "parameters": "{}"}
        self.assert_error(self.editor.post("docs/@reports", data=form),
                          415, "UnsupportedMediaType")
        self.assert_error(self.editor.post("docs/@reports", files={"report": ("r", b"x")}),
                          415, "UnsupportedMediaType")
        self.assert_error(self.manager.post("@reports/purge", data={"older_than_days": "1"}),
                          415, "UnsupportedMediaType")
        self.assert_error(self.editor.post("docs/@reports", data=b'{"report": "x"}',
                                           headers={"Content-Type": "text/plain"}),
                          415, "UnsupportedMediaType")
        self.assertEqual(self.job_count(), 0)

    def test_json_with_a_suffix_type_or_charset_is_json(self):
        response = self.editor.post(
            "docs/@reports", data=b'{"report": "content-inventory", "parameters": '
                                  b'{"max_items": 9}}',
            headers={"Content-Type": "application/merge-patch+json; charset=utf-8"})
        self.assertEqual(response.status_code, 201, response.text)

    def test_a_body_where_none_is_needed_is_ignored(self):
        job = self.queue_inventory()
        response = self.editor.post(f"@reports/{job['id']}/cancel", files={"x": ("x", b"1")})
        self.assertEqual(response.status_code, 200, response.text)
        self.assertEqual(response.json()["state"], "cancelled")

    def test_zope_field_converters_and_unknown_charsets_are_400(self):
        self.assert_error(self.editor.get("@reports", params={"b_size:int": "many"}),
                          400, "BadRequest")
        self.assert_error(self.manager.post("@reports/purge",
                                            data={"older_than_days:int": "soon"}),
                          400, "BadRequest")
        self.assert_error(self.editor.post(
            "docs/@reports", data=b"report=x",
            headers={"Content-Type": "application/x-www-form-urlencoded; charset=nonsense"}),
            400, "BadRequest")
        self.assertEqual(self.job_count(), 0)

    def test_json_that_is_no_object_is_400(self):
        for raw in (b"[1]", b"\xff\xfe", b"null", b'"text"'):
            with self.subTest(raw=raw):
                self.assert_error(self.editor.post(
                    "docs/@reports", data=raw, headers={"Content-Type": "application/json"}),
                    400, "BadRequest")


class NoTracebackTests(RestTestCase):
    """plone.rest shows users with Manage portal the traceback of an error;
    our endpoints show nobody."""

    def setUp(self):
        super().setUp()
        self.owner = self.session(SITE_OWNER_NAME)  # Manager: Manage portal

    def test_managers_errors_have_no_traceback(self):
        for response in (self.owner.get("@reports/no-such-job"),
                         self.owner.post("@reports/no-such-job/cancel"),
                         self.owner.get("@reports", params={"b_size": "0"}),
                         self.owner.post("@reports", headers=NO_BOUNDARY),
                         self.owner.request("QUERY", "@reports")):
            with self.subTest(url=response.url, status=response.status_code):
                self.assertGreaterEqual(response.status_code, 400)
                self.assertNotIn("traceback", response.json())
                self.assertNotIn('File "', response.text)

    def test_plone_restapi_itself_still_shows_managers_a_traceback(self):
        # The rule is ours, for our endpoints: plone.restapi's own are unchanged.
        response = self.owner.get("@search", params={"b_size": "x"})  # its own 500
        self.assertIn("traceback", response.json())


class IdenticalPostTests(RestTestCase):

    def test_a_refused_body_queues_nothing_then_json_does(self):
        self.editor.post("docs/@reports", data={"report": "content-inventory"})
        self.assertEqual(self.job_count(), 0)
        self.queue_inventory()
        self.assertEqual(self.editor.post("docs/@reports", json=INVENTORY).status_code, 200)
        self.assertEqual(self.job_count(), 1)

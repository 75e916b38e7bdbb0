"""Bad input over real HTTP: every class gets a clear 4xx page, no 500, no change.

Issue 11, item 3. Each test sends what a browser, a script or an attacker can
send to a ZMI tab, a form action or a Plone view: wrong types (ZPublisher's
``:list``, ``:record``, ``:int``, ``:tokens`` converters), unknown values,
numbers out of range, huge values, broken encodings, missing values. The
answer must be a 4xx page saying what was wrong (escaped, no traceback), and
the queue, its settings and its jobs must be as they were.
"""

import re
import unittest
from urllib.parse import quote

import transaction
from plone.testing.zope import login
from plone.testing.zope import logout

from collective.asyncreports import testing
from collective.asyncreports import validation
from collective.asyncreports.plone import testing as plone_testing
from collective.asyncreports.plone.queue import QUEUE_ID
from collective.asyncreports.submission import submit


QUEUE_URL = "http://nohost/asyncreports"
MEGABYTE = "x" * 1_000_000


class HTTPCase(unittest.TestCase):
    """Helpers: answers as (status, body) from a browser that handles errors like Zope."""

    def open_browser(self, user):
        browser = testing.browser(self.layer["app"], user)
        browser.handleErrors = True  # Zope's own error handling, as in production
        browser.raiseHttpErrors = False
        return browser

    def answer(self, user, url, data=None):
        """GET ``url`` (POST ``data`` when given); return (status code, body)."""
        browser = self.open_browser(user)
        if data is None:
            browser.open(url)
        else:
            browser.post(url, data)
        return int(browser.headers["status"].split()[0]), browser.contents

    def assertRefused(self, answer, message, status=400):
        code, body = answer
        self.assertEqual(code, status, body[:2000])
        self.assertIn(message, body)
        self.assertNotIn("Traceback", body)


class ZMICase(HTTPCase):
    layer = testing.FUNCTIONAL_TESTING

    def setUp(self):
        self.app = self.layer["app"]
        self.queue = self.app[testing.QUEUE_ID]
        self.jobs = self.queue.job_queue()

    def token(self, user):
        browser = self.open_browser(user)
        browser.open(QUEUE_URL + "/manage_queue")
        return re.search(r'name="_authenticator" value="([^"]+)"', browser.contents).group(1)

    def post(self, user, method, query):
        """POST a raw form body (so ZPublisher converters can be sent) with the user's token."""
        return self.answer(user, f"{QUEUE_URL}/{method}",
                           f"_authenticator={self.token(user)}&{query}")

    def submit_raw(self, query, user=testing.REPORTER):
        return self.post(user, "manage_submitReport", query)

    def finished_jobs(self, count=2):
        login(self.app.acl_users, testing.REPORTER)
        # Different depths: an identical submission would return the first job.
        ids = [submit(self.queue, "object-inventory", "/docs", {"depth": str(depth)}).id
               for depth in range(1, count + 1)]
        logout()
        for job_id in ids:
            self.jobs.cancel(job_id, actor="test")
        transaction.commit()
        return ids


class TargetPathTests(ZMICase):
    """Paths that end at an attribute, a method, a view or the request."""

    def test_paths_that_end_at_no_object_are_refused_with_a_reason(self):
        cases = {
            "/docs/title": "not at an object",  # a string attribute
            "/docs/agenda.txt/data": "not at an object",  # bytes
            "/docs/objectIds": "not at an object",  # a method
            "/docs/manage_main": "",  # a DTML method: refused (acquisition or no object)
            "/asyncreports/manage_queue": "not at an object",  # a page template
            "/REQUEST": "not at an object",
            "/docs/REQUEST": "",
            "/docs/@@view": "is not allowed",
            "/docs/++resource++x": "is not allowed",
        }
        for path, message in cases.items():
            self.assertRefused(
                self.submit_raw(f"report=object-inventory&path={quote(path)}"),
                message or "target path", )
        transaction.begin()
        self.assertEqual(len(self.jobs), 0)

    def test_the_python_api_refuses_them_too(self):
        from collective.asyncreports.errors import InvalidPath

        login(self.app.acl_users, testing.MANAGER)
        self.addCleanup(logout)
        for path in ("/docs/title", "/docs/objectIds", "/REQUEST", "/docs/agenda.txt/data"):
            with self.assertRaises(InvalidPath, msg=path) as caught:
                submit(self.queue, "object-inventory", path, {})
            self.assertIn("not at an object", str(caught.exception))


class FieldTypeTests(ZMICase):
    """Lists, records and converted values where one text value is expected."""

    def test_submit_fields_sent_as_lists_records_or_numbers_are_refused(self):
        base = "report=object-inventory&path=/docs"
        cases = {
            "report:list=a&report:list=b&path=/docs": "report: expected one text value",
            "report.x:record=1&path=/docs": "report: expected one text value, not a record",
            "report:int=1&path=/docs": "report: expected one text value, not a int",
            "report:tokens=a b&path=/docs": "report: expected one text value",
            "report=object-inventory&path:list=/docs": "target path: expected one text value",
            "report=object-inventory&path.x:record=/docs": "target path: expected one text",
            f"{base}&submission_id:list=a&submission_id:list=b": "submission_id: expected one",
            f"{base}&submission_id.x:record=a": "submission_id: expected one text value",
            f"{base}&submission_id:int=7": "submission_id: expected one text value",
            f"{base}&param.depth.x:record=1": "must be given as text",
            f"{base}&param.depth:int=3": "must be given as text",
            f"{base}&param.depth.x:records=3": "must be given as text",
            f"{base}&param.depth:lines=1%0A2": "must be given as text",
        }
        for query, message in cases.items():
            self.assertRefused(self.submit_raw(query), message)
        transaction.begin()
        self.assertEqual(len(self.jobs), 0)
        self.assertEqual(len(self.jobs._dedup), 0, "no list or record became a dedup key")

    def test_the_submit_form_refuses_such_values_in_its_url(self):
        for query in ("report:list=a&report:list=b", "report.x:record=1", "path:list=/docs",
                      "submission_id:list=a"):
            self.assertRefused(
                self.answer(testing.REPORTER, f"{QUEUE_URL}/manage_submitForm?{query}"),
                "expected one text value")

    def test_job_ids_sent_as_records_or_numbers_are_refused(self):
        (job_id, _) = self.finished_jobs()
        for method in ("manage_cancelJobs", "manage_retryJobs", "manage_purgeJobs"):
            for query in (f"job_ids.x:record={job_id}", "job_ids:int=1",
                          f"job_ids:list={'y' * 100}"):
                user = testing.REPORTER if method == "manage_cancelJobs" else testing.MANAGER
                self.assertRefused(self.post(user, method, query), "job_ids:")
        transaction.begin()
        self.assertEqual(self.jobs.get(job_id).state, "cancelled")

    def test_settings_sent_as_lists_are_refused_and_nothing_is_saved(self):
        before = self.jobs.lease_seconds
        code, body = self.post(testing.MANAGER, "manage_editSettings",
                               "lease_seconds:list=60&lease_seconds:list=70&max_attempts=3"
                               "&backoff_seconds=1&backoff_max=2&retention_days=1"
                               "&server_url:list=http://a")
        self.assertEqual(code, 200)  # the Settings tab again, with the problems
        self.assertIn("expected one text value, not a list of values", body)
        transaction.begin()
        self.assertEqual(self.jobs.lease_seconds, before)


class ListingTests(ZMICase):
    """Unknown state or paging values in the Queue tab's URLs, as a mere reporter."""

    def test_unknown_states_are_a_clear_400_for_any_reporter(self):
        for url in ("manage_queue?state=bogus", "manage_queueRows?state=bogus",
                    "manage_queue?state:list=queued&state:list=done",
                    "manage_queue?state:int=1", "manage_queue?state=%00",
                    "manage_queue?state=%F0%9F%98%80",
                    "manage_queue?state=%D7%A9%D7%9C%D7%95%D7%9D"):
            self.assertRefused(self.answer(testing.REPORTER, f"{QUEUE_URL}/{url}"), "state:")

    def test_the_message_is_escaped(self):
        code, body = self.answer(testing.REPORTER,
                                 f"{QUEUE_URL}/manage_queue?state=%3Cscript%3Ealert(1)%3C/script%3E")
        self.assertEqual(code, 400)
        self.assertNotIn("<script>alert(1)", body)
        self.assertIn("&lt;script&gt;", body)

    def test_bad_page_offsets_are_refused(self):
        for value in ("-5", "abc", "99999999999999999999999", "1.5"):
            self.assertRefused(
                self.answer(testing.REPORTER, f"{QUEUE_URL}/manage_queue?b_start={value}"),
                "b_start:")
        self.assertRefused(
            self.answer(testing.REPORTER, f"{QUEUE_URL}/manage_queueRows?b_start:list=1"),
            "b_start: expected one text value")

    def test_good_values_still_work(self):
        for url in ("manage_queue?state=cancelled", "manage_queue?state=",
                    "manage_queue?b_start=20", "manage_queue?b_start:int=0",
                    "manage_queueRows?state=queued"):
            code, _ = self.answer(testing.REPORTER, f"{QUEUE_URL}/{url}")
            self.assertEqual(code, 200, url)


class PurgeTests(ZMICase):
    """Out-of-range ages: a negative age would purge every finished job."""

    def test_a_negative_age_is_refused_and_nothing_is_purged(self):
        ids = self.finished_jobs()
        for days in ("-1", "-100000", str(validation.MAX_DAYS + 1), "1e3", "ten"):
            self.assertRefused(
                self.post(testing.MANAGER, "manage_purgeJobs", f"older_than_days={days}"),
                "older_than_days:")
        self.assertRefused(
            self.post(testing.MANAGER, "manage_purgeJobs", "older_than_days:list=1"),
            "older_than_days: expected one text value")
        transaction.begin()
        self.assertEqual([job_id in self.jobs for job_id in ids], [True, True])

    def test_the_queue_method_refuses_a_negative_age_too(self):
        ids = self.finished_jobs()
        login(self.app.acl_users, testing.MANAGER)
        self.addCleanup(logout)
        with self.assertRaises(validation.BadInput):
            self.queue.purge(older_than=-1)
        self.assertEqual([job_id in self.jobs for job_id in ids], [True, True])

    def test_zero_days_still_purges_every_finished_job(self):
        ids = self.finished_jobs()
        code, body = self.post(testing.MANAGER, "manage_purgeJobs", "older_than_days=0")
        self.assertEqual(code, 200)
        self.assertIn("Purged 2 job(s)", body)
        transaction.begin()
        self.assertFalse(any(job_id in self.jobs for job_id in ids))


class RequiredParameterTests(ZMICase):
    """A required parameter left empty is refused, not replaced by its default."""

    def test_an_empty_required_parameter_is_refused_with_its_name(self):
        for blank in ("", "%20%20"):
            self.assertRefused(
                self.submit_raw(f"report=object-inventory&path=/docs&param.depth={blank}"
                                "&param.max_items=10"),
                "is required: it was left empty")
        transaction.begin()
        self.assertEqual(len(self.jobs), 0)

    def test_a_parameter_not_sent_at_all_takes_its_default(self):
        code, _ = self.submit_raw("report=object-inventory&path=/docs&param.max_items=10")
        self.assertEqual(code, 200)
        transaction.begin()
        (job,), _ = self.jobs.list_jobs()
        self.assertEqual(job.params, {"depth": 1, "max_items": 10})


class SizeAndEncodingTests(ZMICase):
    """Huge values, broken UTF-8, NUL characters, right-to-left text and emoji."""

    def test_megabyte_values_are_refused(self):
        cases = {
            f"report={MEGABYTE}&path=/docs": "report: is too long",
            f"report=object-inventory&path=/{MEGABYTE}": "too long",
            f"report=object-inventory&path=/docs&submission_id={MEGABYTE}": "submission_id:",
            f"report=object-inventory&path=/docs&param.depth={MEGABYTE}": "too long",
        }
        for query, message in cases.items():
            self.assertRefused(self.submit_raw(query), message)
        self.assertRefused(
            self.answer(testing.REPORTER, f"{QUEUE_URL}/manage_queue?state={MEGABYTE}"),
            "state: is too long")
        transaction.begin()
        self.assertEqual(len(self.jobs), 0)

    def test_broken_utf8_and_nul_are_refused(self):
        cases = {
            "report=object-inventory&path=/docs%FF%FE": "not valid UTF-8",
            "report=object-inventory&path=/docs%00": "NUL",
            "report=object-inventory%FF&path=/docs": "report: is not valid UTF-8",
            "report=object-inventory&path=/docs&param.depth=1%00": "NUL",
            "report=object-inventory&path=/docs&param.depth=%C3%28": "not valid UTF-8",
        }
        for query, message in cases.items():
            self.assertRefused(self.submit_raw(query), message)
        transaction.begin()
        self.assertEqual(len(self.jobs), 0)

    def test_right_to_left_text_and_emoji_get_a_clear_answer(self):
        for segment in ("%D7%A9%D7%9C%D7%95%D7%9D", "%F0%9F%93%84", "%E2%80%AEtxt.exe"):
            self.assertRefused(
                self.submit_raw(f"report=object-inventory&path=/docs/{segment}"),
                "does not exist")
        self.assertRefused(self.submit_raw("report=object-inventory&path=/docs"
                                           "&param.depth=%F0%9F%93%84"), "whole number")


class MissingValueTests(ZMICase):
    def test_a_submit_without_a_report_is_refused(self):
        self.assertRefused(self.submit_raw("path=/docs"), "no report type")
        transaction.begin()
        self.assertEqual(len(self.jobs), 0)

    def test_settings_left_empty_are_refused_and_nothing_is_saved(self):
        code, body = self.post(testing.MANAGER, "manage_editSettings",
                               "lease_seconds=&max_attempts=3&server_url=")
        self.assertEqual(code, 200)
        self.assertIn("a whole number is required", body)
        code, body = self.post(testing.MANAGER, "manage_editSettings",
                               "lease_seconds=99999999999999&max_attempts=3&backoff_seconds=1"
                               "&backoff_max=2&retention_days=1")
        self.assertIn("must be at most", body)
        transaction.begin()
        self.assertEqual(self.jobs.lease_seconds, 300)


class AddFormTests(ZMICase):
    ADD = "http://nohost/manage_addProduct/collective.asyncreports/manage_addAsyncReportQueue"

    def add(self, query):
        browser = self.open_browser(testing.MANAGER)
        browser.open("http://nohost/manage_addProduct/collective.asyncreports/"
                     "manage_addAsyncReportQueueForm")
        token = browser.getControl(name="_authenticator").value
        browser.post(self.ADD, f"_authenticator={token}&{query}")
        return int(browser.headers["status"].split()[0]), browser.contents

    def test_bad_ids_and_titles_are_refused(self):
        for query in ("id:list=a&id:list=b", "id.x:record=a", "id=ok&title:list=a",
                      f"id={MEGABYTE}", "id=bad%00id", "id=bad id/with slash", "id=aq_parent"):
            code, body = self.add(query)
            self.assertEqual(code, 400, query)
            self.assertNotIn("Traceback", body)
        transaction.begin()
        self.assertEqual(
            [o for o in self.app.objectIds() if o not in ("acl_users", "asyncreports", "docs",
                                                          "Control_Panel", "temp_folder",
                                                          "session_data_manager",
                                                          "browser_id_manager",
                                                          "error_log", "virtual_hosting")],
            [])


class PloneBadInputTests(HTTPCase):
    """The Plone views: filters, paging, ids, the Generate report form, the control panel."""

    layer = plone_testing.FUNCTIONAL_TESTING

    def setUp(self):
        self.portal = self.layer["portal"]
        self.url = self.portal.absolute_url()
        self.jobs = self.portal[QUEUE_ID].job_queue()

    def finished_job(self):
        job = self.jobs.enqueue("content-inventory", "/plone/docs", {},
                                owner_id=plone_testing.EDITOR,
                                owner_folder="/plone/acl_users",
                                queue_path="/plone/" + QUEUE_ID)
        self.jobs.cancel(job.id, actor="test")
        transaction.commit()
        return job.id

    def test_queue_view_filters_are_checked(self):
        cases = {
            "state=bogus": "state: must be one of",
            "state:list=queued&state:list=done": "state: expected one text value",
            "owner:list=a&owner:list=b": "owner: expected one text value",
            "owner.x:record=a": "owner: expected one text value, not a record",
            f"owner={MEGABYTE[:5000]}": "owner: is too long",
            "report=no-such-report": "report: must be one of",
            "b_start=-1": "b_start: must be at least 0",
            "b_start=x": "b_start: must be a whole number",
            "state=%3Cb%3Ebold%3C/b%3E": "&lt;b&gt;bold",
        }
        for query, message in cases.items():
            self.assertRefused(
                self.answer(plone_testing.SITE_ADMIN, f"{self.url}/@@asyncreports-jobs?{query}"),
                message)

    def test_purging_by_a_negative_age_is_refused_in_plone(self):
        job_id = self.finished_job()
        browser = self.open_browser(plone_testing.SITE_ADMIN)
        browser.open(f"{self.url}/@@asyncreports-jobs")
        token = browser.getControl(name="_authenticator", index=0).value
        for query in ("older_than_days=-1", "older_than_days:list=1", "job_ids.x:record=1"):
            browser.post(f"{self.url}/@@asyncreports-jobs",
                         f"_authenticator={token}&purge=1&{query}")
            self.assertEqual(browser.headers["status"].split()[0], "400", query)
            self.assertIn("asyncreports-bad-input", browser.contents)
        transaction.begin()
        self.assertIn(job_id, self.jobs)

    def test_my_reports_and_the_status_endpoint_check_their_parameters(self):
        cases = {
            "@@my-reports?b_start:list=1": "b_start: expected one text value",
            "@@my-reports?job.x:record=1": "job: expected one text value",
            "@@my-reports?b_start=%FF": "b_start: is not valid UTF-8",
            "@@asyncreports-status?ids:list=a": "ids: expected one text value",
            "@@asyncreports-status?ids=" + ",".join(["a"] * 101): "ids: at most 100",
            f"@@asyncreports-status?ids={MEGABYTE}": "ids: is too long",
        }
        for query, message in cases.items():
            self.assertRefused(self.answer(plone_testing.EDITOR, f"{self.url}/{query}"), message)

    def test_generate_report_checks_the_chosen_report(self):
        for query, message in (("report:list=a&report:list=b", "report: expected one text"),
                               ("report=%FF", "report: is not valid UTF-8"),
                               (f"report={MEGABYTE[:300]}", "report: is too long")):
            self.assertRefused(
                self.answer(plone_testing.EDITOR, f"{self.url}/docs/@@generate-report?{query}"),
                message)

    def test_generate_report_parameters_sent_as_lists_queue_nothing(self):
        browser = self.open_browser(plone_testing.EDITOR)
        browser.open(f"{self.url}/docs/@@generate-report?report=content-inventory")
        form = browser.getForm(id="form")
        data = "&".join(f"{quote(c.name)}={quote(str(c.value))}" for c in
                        (form.getControl(name=n) for n in ("_authenticator",
                                                           "form.widgets.submission_id")))
        for trick in ("form.widgets.param.max_items:list=1&form.widgets.param.max_items:list=2",
                      "form.widgets.param.max_items.x:record=1",
                      "form.widgets.param.max_items=",
                      f"form.widgets.param.max_items={MEGABYTE[:20000]}"):
            browser.post(f"{self.url}/docs/@@generate-report?report=content-inventory",
                         f"{data}&form.buttons.queue=Queue&{trick}")
            status = int(browser.headers["status"].split()[0])
            self.assertIn(status, (200, 400), trick)  # the form with its errors, or a 400
            self.assertNotIn("Traceback", browser.contents)
        transaction.begin()
        self.assertEqual(len(self.jobs), 0)

    def test_the_bad_input_page_is_shown_to_managers_without_a_traceback(self):
        code, body = self.answer(plone_testing.SITE_ADMIN,
                                 f"{self.url}/@@asyncreports-jobs?state=bogus")
        self.assertEqual(code, 400)
        self.assertIn("Bad request", body)
        self.assertNotIn("Traceback", body)
        self.assertNotIn(".py", body)

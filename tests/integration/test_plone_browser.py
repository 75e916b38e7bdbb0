"""Control panel, Generate report and My reports through zope.testbrowser."""

import json
import unittest

import transaction
from plone import api

from collective.asyncreports import testing as base_testing
from collective.asyncreports.plone import testing
from collective.asyncreports.plone.queue import QUEUE_ID


PREFIX = "collective.asyncreports."


class BrowserTestCase(unittest.TestCase):
    layer = testing.FUNCTIONAL_TESTING

    def setUp(self):
        self.app = self.layer["app"]
        self.portal = self.layer["portal"]
        self.portal_url = self.portal.absolute_url()
        self.jobs = self.portal[QUEUE_ID].job_queue()

    def browser(self, user_id=None):
        return base_testing.browser(self.app, user_id)

    def assertRefused(self, url, user_id=None):
        """Plone answers Unauthorized with a login or insufficient-privileges page."""
        browser = self.browser(user_id)
        browser.handleErrors = True
        browser.raiseHttpErrors = False
        browser.open(url)
        self.assertTrue(
            browser.headers["status"].startswith(("401", "403"))
            or "/insufficient-privileges" in browser.url
            or "/login" in browser.url,
            (url, user_id, browser.headers["status"], browser.url))

    def enqueue(self, owner=testing.EDITOR):
        job = self.jobs.enqueue(
            "content-inventory", "/plone/docs", {}, owner_id=owner,
            owner_folder="/plone/acl_users", queue_path="/plone/" + QUEUE_ID)
        transaction.commit()
        return job


class ControlPanelTests(BrowserTestCase):
    def test_configlet_listed_in_site_setup(self):
        browser = self.browser(testing.SITE_ADMIN)
        browser.open(self.portal_url + "/@@overview-controlpanel")
        self.assertIn("@@asyncreports-controlpanel", browser.contents)

    def test_settings_form_saves_and_syncs_the_queue(self):
        browser = self.browser(testing.SITE_ADMIN)
        browser.open(self.portal_url + "/@@asyncreports-controlpanel")
        browser.getControl(name="form.widgets.lease_seconds").value = "120"
        browser.getControl(name="form.widgets.server_url").value = "https://intra.example.org"
        browser.getControl(name="form.buttons.save").click()
        self.assertIn("Changes saved", browser.contents)
        transaction.begin()
        self.assertEqual(api.portal.get_registry_record(PREFIX + "lease_seconds"), 120)
        self.assertEqual(self.jobs.lease_seconds, 120)
        self.assertEqual(self.portal[QUEUE_ID].effective_server_url(),
                         "https://intra.example.org")

    def test_settings_form_refuses_a_longest_backoff_below_the_backoff(self):
        browser = self.browser(testing.SITE_ADMIN)
        browser.open(self.portal_url + "/@@asyncreports-controlpanel")
        browser.getControl(name="form.widgets.backoff_seconds").value = "600"
        browser.getControl(name="form.widgets.backoff_max").value = "60"
        browser.getControl(name="form.buttons.save").click()
        self.assertIn("Longest backoff (seconds): must not be below the backoff",
                      browser.contents)
        self.assertNotIn("Changes saved", browser.contents)
        transaction.begin()
        self.assertEqual(api.portal.get_registry_record(PREFIX + "backoff_max"), 3600)
        self.assertEqual(self.jobs.backoff_max, 3600)

    def test_editors_and_members_may_not_manage(self):
        for user_id in (testing.EDITOR, testing.MEMBER):
            for view in ("asyncreports-controlpanel", "asyncreports-jobs",
                         "asyncreports-workers"):
                self.assertRefused(f"{self.portal_url}/@@{view}", user_id)

    def test_queue_view_lists_and_filters_jobs(self):
        mine, theirs = self.enqueue(), self.enqueue(testing.OTHER_EDITOR)
        browser = self.browser(testing.SITE_ADMIN)
        browser.open(self.portal_url + "/@@asyncreports-jobs")
        self.assertIn(mine.id, browser.contents)
        self.assertIn(theirs.id, browser.contents)
        browser.open(self.portal_url + f"/@@asyncreports-jobs?owner={testing.OTHER_EDITOR}")
        self.assertNotIn(mine.id, browser.contents)
        self.assertIn(theirs.id, browser.contents)
        browser.open(self.portal_url + "/@@asyncreports-jobs?state=done")
        self.assertNotIn(mine.id, browser.contents)

    def test_cancel_is_a_post_with_the_authenticator(self):
        job = self.enqueue()
        browser = self.browser(testing.SITE_ADMIN)
        browser.open(self.portal_url + "/@@asyncreports-jobs")
        browser.getControl(name="job_ids:list").getControl(value=job.id).selected = True
        browser.getControl(name="cancel").click()
        self.assertIn("Cancelled 1 job(s).", browser.contents)
        transaction.begin()
        self.assertEqual(self.jobs.get(job.id).state, "cancelled")
        # retry puts it back
        browser.getControl(name="job_ids:list").getControl(value=job.id).selected = True
        browser.getControl(name="retry").click()
        transaction.begin()
        self.assertEqual(self.jobs.get(job.id).state, "queued")

    def test_get_writes_and_missing_tokens_are_refused(self):
        job = self.enqueue()
        browser = self.browser(testing.SITE_ADMIN)
        # A GET only lists, whatever it asks for.
        browser.open(self.portal_url + f"/@@asyncreports-jobs?cancel=1&job_ids={job.id}")
        transaction.begin()
        self.assertEqual(self.jobs.get(job.id).state, "queued")
        with self.assertRaises(Exception) as caught:
            browser.post(self.portal_url + "/@@asyncreports-jobs",
                         f"cancel=1&job_ids={job.id}")
        self.assertIn("Forbidden", type(caught.exception).__name__)
        transaction.begin()
        self.assertEqual(self.jobs.get(job.id).state, "queued")

    def test_purge_removes_finished_jobs(self):
        job = self.enqueue()
        self.jobs.cancel(job.id)
        transaction.commit()
        browser = self.browser(testing.SITE_ADMIN)
        browser.open(self.portal_url + "/@@asyncreports-jobs")
        browser.getControl(name="job_ids:list").getControl(value=job.id).selected = True
        browser.getControl(name="purge").click()
        self.assertIn("Purged 1 job(s)", browser.contents)
        transaction.begin()
        self.assertNotIn(job.id, self.jobs)

    def test_workers_view(self):
        self.jobs.heartbeat("worker-1", hostname="host-a", pid=42,
                            current_jobs=["job-a", "job-b", "job-c", "job-d"])
        transaction.commit()
        browser = self.browser(testing.SITE_ADMIN)
        browser.open(self.portal_url + "/@@asyncreports-workers")
        self.assertIn("worker-1", browser.contents)
        self.assertIn("host-a / 42", browser.contents)
        self.assertIn("alive", browser.contents)
        self.assertIn("job-a, job-b, job-c and 1 more", browser.contents)


class GenerateReportTests(BrowserTestCase):
    def open_form(self, user_id=testing.EDITOR, path="docs"):
        browser = self.browser(user_id)
        browser.open(f"{self.portal_url}/{path}/@@generate-report")
        return browser

    def test_action_in_the_actions_menu_for_queuers_only(self):
        browser = self.browser(testing.EDITOR)
        browser.open(self.portal_url + "/docs")
        self.assertIn("@@generate-report", browser.contents)
        member = self.browser(testing.MEMBER)
        member.open(self.portal_url + "/docs/welcome")
        self.assertNotIn("@@generate-report", member.contents)

    def test_only_available_reports_are_listed(self):
        browser = self.open_form()
        self.assertIn("Content inventory", browser.contents)
        self.assertIn("Folder summary", browser.contents)
        # For Managers only in a Plone site (test_rich_reports).
        self.assertNotIn("Object inventory", browser.contents)
        page = self.open_form(path="docs/welcome")
        self.assertNotIn("Folder summary", page.contents)
        self.assertNotIn("Content inventory", page.contents)

    def test_reports_that_need_more_permission_are_not_offered(self):
        # "Wait and report" is for those who manage the queue, not for Editors.
        browser = self.open_form()
        self.assertIn("Content inventory", browser.contents)
        self.assertNotIn("Wait and report", browser.contents)

    def test_validation_errors_are_shown_and_nothing_is_queued(self):
        browser = self.open_form()
        browser.getLink("Content inventory").click()
        browser.getControl(name="form.widgets.param.max_items").value = "0"
        browser.getControl(name="form.buttons.queue").click()
        self.assertIn("There were some errors", browser.contents)
        transaction.begin()
        self.assertEqual(len(self.jobs), 0)

    def test_submitting_queues_a_job_and_shows_my_reports(self):
        browser = self.open_form()
        browser.getLink("Content inventory").click()
        browser.getControl(name="form.widgets.param.max_items").value = "50"
        browser.getControl(name="form.buttons.queue").click()
        transaction.begin()
        (job,), total = self.jobs.list_jobs()
        self.assertEqual((job.report, job.path, job.owner_id, job.params),
                         ("content-inventory", "/plone/docs", testing.EDITOR,
                          {"max_items": 50}))
        self.assertIn("/@@my-reports", browser.url)
        self.assertIn("is queued", browser.contents)
        self.assertIn("0 ahead of you", browser.contents)

    def queue_inventory(self, max_items):
        browser = self.open_form()
        browser.getLink("Content inventory").click()
        browser.getControl(name="form.widgets.param.max_items").value = str(max_items)
        browser.handleErrors = True
        browser.raiseHttpErrors = False
        browser.getControl(name="form.buttons.queue").click()
        return browser

    def test_the_same_report_again_shows_the_waiting_job_not_a_second(self):
        self.queue_inventory(50)
        again = self.queue_inventory(50)
        transaction.begin()
        (job,), _ = self.jobs.list_jobs()
        self.assertIn(f"Job {job.id} with the same report, target, parameters and format is "
                      "queued already: no second one was queued.", again.contents)
        self.queue_inventory(60)  # other parameters: another job
        transaction.begin()
        self.assertEqual(len(self.jobs), 2)

    def test_past_the_cap_of_waiting_jobs_generate_report_says_so(self):
        api.portal.set_registry_record(PREFIX + "max_queued_per_user", 2)
        transaction.commit()
        self.queue_inventory(10)
        self.queue_inventory(20)
        refused = self.queue_inventory(30)
        self.assertIn("You have 2 jobs waiting; wait for some to finish or cancel them.",
                      refused.contents)
        self.assertNotIn("Traceback", refused.contents)
        transaction.begin()
        self.assertEqual(len(self.jobs), 2)

    def test_an_editor_through_sharing_may_queue_there_and_only_there(self):
        """A local role (Sharing) grants what a site-wide role grants, where it is given."""
        news = self.portal.docs.news
        news.manage_setLocalRoles(testing.MEMBER, ["Editor"])
        news.reindexObjectSecurity()
        transaction.commit()
        browser = self.browser(testing.MEMBER)
        browser.open(self.portal_url + "/docs/news")
        self.assertIn("@@generate-report", browser.contents)
        browser = self.open_form(testing.MEMBER, path="docs/news")
        browser.getLink("Content inventory").click()
        browser.getControl(name="form.widgets.param.max_items").value = "50"
        browser.getControl(name="form.buttons.queue").click()
        transaction.begin()
        (job,), total = self.jobs.list_jobs()
        self.assertEqual((job.report, job.path, job.owner_id),
                         ("content-inventory", "/plone/docs/news", testing.MEMBER))
        self.assertRefused(self.portal_url + "/docs/@@generate-report", testing.MEMBER)

    def test_members_may_not_queue(self):
        self.assertRefused(self.portal_url + "/docs/@@generate-report", testing.MEMBER)

    def test_submitting_by_get_is_refused(self):
        browser = self.browser(testing.EDITOR)
        with self.assertRaises(Exception) as caught:
            browser.open(
                self.portal_url + "/docs/@@generate-report?report=folder-summary"
                "&form.buttons.queue=1")
        self.assertIn(type(caught.exception).__name__, ("MethodNotAllowed", "Forbidden"))
        transaction.begin()
        self.assertEqual(len(self.jobs), 0)


class MyReportsTests(BrowserTestCase):
    def test_lists_only_my_jobs_with_position(self):
        first = self.enqueue()
        second = self.enqueue()
        other = self.enqueue(testing.OTHER_EDITOR)
        browser = self.browser(testing.EDITOR)
        browser.open(self.portal_url + "/@@my-reports")
        self.assertIn(first.id, browser.contents)
        self.assertIn(second.id, browser.contents)
        self.assertNotIn(other.id, browser.contents)
        self.assertIn("1 ahead of you", browser.contents)
        self.assertIn("progress-bar", browser.contents)

    def test_status_json_shows_only_own_jobs(self):
        mine, theirs = self.enqueue(), self.enqueue(testing.OTHER_EDITOR)
        browser = self.browser(testing.EDITOR)
        browser.open(self.portal_url + f"/@@asyncreports-status?ids={mine.id},{theirs.id}")
        data = json.loads(browser.contents)
        self.assertEqual([row["id"] for row in data["jobs"]], [mine.id])
        self.assertTrue(data["active"])

    def test_anonymous_is_refused(self):
        self.assertRefused(self.portal_url + "/@@my-reports")



"""A job's page refreshes itself while the job runs: the fragments its script reads
(the ZMI's manage_jobParts, Plone's @@asyncreports-job-parts), with the page's own checks."""

import re
import unittest

import transaction
from zExceptions import NotFound
from zExceptions import Unauthorized

from collective.asyncreports import testing
from collective.asyncreports.plone import testing as plone_testing
from tests.integration.test_ui_plone import PloneUITestCase


QUEUE_URL = "http://nohost/asyncreports"
PARTS_URL = QUEUE_URL + "/manage_jobParts?job_id="
PARTS = ("asyncreports-job-summary", "asyncreports-job-buttons", "asyncreports-job-history")


def running_with_progress(jobs, job_id, percent, message):
    """Claim ``job_id`` for worker w1 and report its progress as a heartbeat would."""
    (claimed,) = jobs.claim("w1")
    assert claimed.id == job_id, claimed.id
    jobs.heartbeat("w1", current_jobs=[job_id],
                   progress=[(job_id, claimed.lease_token, percent, message)])
    return claimed


class ZMIJobPartsTests(unittest.TestCase):
    layer = testing.FUNCTIONAL_TESTING

    def setUp(self):
        self.app = self.layer["app"]
        self.jobs = self.app[testing.QUEUE_ID].job_queue()
        self.job_id = self.jobs.enqueue(
            "object-inventory", "/docs", {}, owner_id=testing.REPORTER,
            owner_folder="/acl_users", queue_path="/" + testing.QUEUE_ID).id
        transaction.commit()

    def open(self, user, url):
        browser = testing.browser(self.app, user)
        browser.open(url)
        return browser

    def parts(self, user=testing.REPORTER):
        return self.open(user, PARTS_URL + self.job_id)

    def test_owner_gets_the_parts_alone_not_cached_without_the_token(self):
        browser = self.parts()
        self.assertTrue(browser.headers["Content-Type"].startswith("text/html"))
        self.assertEqual(browser.headers["Cache-Control"], "no-store")
        page = browser.contents
        self.assertNotIn("<html", page)
        self.assertNotIn("_authenticator", page, "the form token stays in the page")
        self.assertNotIn("<script", page)
        for part in PARTS:
            self.assertEqual(page.count(f'id="{part}"'), 1, part)
        self.assertIn('data-active="1"', page)
        self.assertIn('value="cancel"', page)
        self.assertIn(testing.REPORTER, page, "the history says who queued it")

    def test_progress_and_its_message_as_the_worker_reported_them_escaped(self):
        running_with_progress(self.jobs, self.job_id, 40, "<b>step</b> 2 of 5")
        transaction.commit()
        page = self.parts().contents
        self.assertRegex(page, r'<progress max="100" class="[^"]*" value="40">40%</progress>')
        self.assertIn("&lt;b&gt;step&lt;/b&gt; 2 of 5", page)
        self.assertNotIn("<b>step", page)
        # The state says the same as the bar, not the job's stored 0%.
        self.assertRegex(page, r'data-field="state">running\s+40%')

    def test_other_users_and_anonymous_are_refused_managers_see_it(self):
        for user in (testing.OTHER_REPORTER, testing.BYSTANDER, None):
            with self.assertRaises(Unauthorized, msg=user):
                self.parts(user)
        self.assertIn('id="asyncreports-job-summary"', self.parts(testing.MANAGER).contents)

    def test_unknown_job_is_not_found(self):
        with self.assertRaises(NotFound):
            self.open(testing.REPORTER, PARTS_URL + "nope")

    def test_post_is_refused(self):
        from zExceptions import Forbidden

        browser = testing.browser(self.app, testing.REPORTER)
        with self.assertRaises((Forbidden, NotFound)):
            browser.post(QUEUE_URL + "/manage_jobParts", {"job_id": self.job_id})

    def test_an_ended_job_says_stop_and_shows_its_result(self):
        claimed = running_with_progress(self.jobs, self.job_id, 90, "almost")
        self.jobs.finish(self.job_id, claimed.lease_token,
                         f"/{testing.QUEUE_ID}/results/{self.job_id}.pdf")
        transaction.commit()
        page = self.parts().contents
        self.assertIn('data-active="0"', page)
        self.assertIn(f"results/{self.job_id}.pdf", page)
        self.assertNotIn('value="cancel"', page, "nothing left to cancel")
        self.assertIn("finished", page)

    def test_reading_it_writes_nothing(self):
        transaction.begin()
        before = self.app._p_jar.db().lastTransaction()
        self.parts()
        self.parts(testing.MANAGER)
        transaction.begin()
        self.assertEqual(self.app._p_jar.db().lastTransaction(), before)

    def test_page_has_the_parts_and_the_script_while_active_none_once_ended(self):
        page = self.open(testing.REPORTER, f"{QUEUE_URL}/manage_job?job_id={self.job_id}")
        url = re.search(r'data-refresh-url="([^"]+)"', page.contents).group(1)
        self.assertEqual(url, PARTS_URL + self.job_id)
        parts = re.search(r'data-refresh-parts="([^"]+)"', page.contents).group(1)
        self.assertEqual(tuple(parts.split()), PARTS)
        for part in PARTS:
            self.assertIn(f'id="{part}"', page.contents)
        # The buttons' form keeps its token; the part inside it holds none.
        self.assertRegex(page.contents, r'(?s)name="_authenticator" value="[0-9a-f]+" />'
                                        r'\s*<input type="hidden" name="job_id"[^>]*>'
                                        r'\s*<div id="asyncreports-job-buttons"')
        self.jobs.cancel(self.job_id, actor=testing.MANAGER)
        transaction.commit()
        page = self.open(testing.REPORTER, f"{QUEUE_URL}/manage_job?job_id={self.job_id}")
        self.assertIn('data-active="0"', page.contents)
        self.assertNotIn("asyncreports-refresh", page.contents)


class PloneJobPartsTests(PloneUITestCase):
    PARTS = PARTS[:1] + ("asyncreports-job-details",) + PARTS[1:]

    def setUp(self):
        super().setUp()
        self.job_id = self.enqueue().id
        self.url = f"{self.portal_url}/@@asyncreports-job-parts?job={self.job_id}"

    def parts(self, user=plone_testing.EDITOR):
        browser = self.browser(user)
        browser.open(self.url)
        return browser

    def test_owner_gets_the_parts_alone_not_cached_without_the_token(self):
        browser = self.parts()
        self.assertTrue(browser.headers["Content-Type"].startswith("text/html"))
        self.assertEqual(browser.headers["Cache-Control"], "no-store")
        page = browser.contents
        self.assertNotIn("documentFirstHeading", page, "no page around the parts")
        self.assertNotIn("<form", page, "the form and its token stay in the page")
        self.assertNotIn("_authenticator", page)
        for part in self.PARTS:
            self.assertEqual(page.count(f'id="{part}"'), 1, part)
        self.assertIn('data-active="1"', page)
        self.assertIn(f'data-refresh-url="{self.url}"', page)
        self.assertIn('value="cancel"', page)
        self.assertIn(plone_testing.EDITOR, page, "the history says who queued it")

    def test_progress_times_and_attempts_as_the_worker_reported_them_escaped(self):
        running_with_progress(self.jobs, self.job_id, 60, "<i>page</i> 3 of 5")
        transaction.commit()
        page = self.parts().contents
        self.assertRegex(page, r'aria-valuenow="60"')
        self.assertIn("width: 60%", page)
        self.assertIn("&lt;i&gt;page&lt;/i&gt; 3 of 5", page)
        self.assertNotIn("<i>page", page)
        self.assertIn('data-field="attempts">1/3<', page)
        self.assertIn(">Started</dt>", page)
        self.assertIn("claimed", page, "the history has the claim")

    def test_other_members_and_anonymous_are_refused_managers_see_it(self):
        for user in (plone_testing.OTHER_EDITOR, plone_testing.MEMBER, None):
            self.assertRefusedAt(*self.refused(self.browser(user), self.url))
        page = self.parts(plone_testing.SITE_ADMIN).contents
        self.assertIn('id="asyncreports-job-summary"', page)

    def test_unknown_or_hostile_job_ids(self):
        browser = self.browser(plone_testing.EDITOR)
        url = f"{self.portal_url}/@@asyncreports-job-parts?job="
        self.assertEqual(self.refused(browser, url + "nope")[0], "404")
        self.assertEqual(self.refused(browser, url + "f" * 100)[0], "400")

    def test_an_ended_job_says_stop_and_shows_its_error_summary(self):
        (claimed,) = self.jobs.claim("w1")
        self.jobs.fail(self.job_id, claimed.lease_token, "the report broke",
                       error_path=f"/plone/reports/{self.job_id}-error.txt")
        transaction.commit()
        page = self.parts().contents
        self.assertIn('data-active="0"', page)
        self.assertIn("the report broke", page)
        self.assertIn(">Finished</dt>", page)
        self.assertNotIn('value="cancel"', page, "nothing left to cancel")
        self.assertNotIn('value="retry"', page, "Retry is for managers")
        self.assertIn('value="retry"', self.parts(plone_testing.SITE_ADMIN).contents)

    def test_reading_it_writes_nothing(self):
        transaction.begin()
        before = self.app._p_jar.db().lastTransaction()
        self.parts()
        self.parts(plone_testing.SITE_ADMIN)
        transaction.begin()
        self.assertEqual(self.app._p_jar.db().lastTransaction(), before)

    def test_job_page_has_the_parts_and_loads_the_script(self):
        page = self.job_page(plone_testing.EDITOR, self.job_id).contents
        for part in self.PARTS:
            self.assertEqual(page.count(f'id="{part}"'), 1, part)
        parts = re.search(r'data-refresh-parts="([^"]+)"', page).group(1)
        self.assertEqual(tuple(parts.split()), self.PARTS)
        self.assertIn("++resource++collective.asyncreports/asyncreports.js", page)
        # The buttons' form keeps its token; the part inside it holds none.
        self.assertRegex(page, r'(?s)<form id="asyncreports-job-actions".*?_authenticator'
                               r'.*?<div class="formControls"\s+id="asyncreports-job-buttons"')

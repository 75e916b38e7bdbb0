"""The Queue tab refreshes itself: manage_queueRows, the fragment its script reads."""

import re
import unittest

import transaction

from collective.asyncreports import testing


QUEUE_URL = "http://nohost/asyncreports"
ROWS_URL = QUEUE_URL + "/manage_queueRows"


class QueueRowsTests(unittest.TestCase):
    layer = testing.FUNCTIONAL_TESTING

    def setUp(self):
        self.app = self.layer["app"]
        self.jobs = self.app[testing.QUEUE_ID].job_queue()
        self.alice_job = self.enqueue(testing.REPORTER)
        self.carol_job = self.enqueue(testing.OTHER_REPORTER)
        transaction.commit()

    def enqueue(self, owner):
        return self.jobs.enqueue(
            "object-inventory", "/docs", {}, owner_id=owner, owner_folder="/acl_users",
            queue_path="/" + testing.QUEUE_ID).id

    def browser(self, user=None):
        return testing.browser(self.app, user)

    def rows(self, user, query=""):
        browser = self.browser(user)
        browser.open(ROWS_URL + query)
        return browser

    def test_anonymous_and_bystanders_are_refused(self):
        from zExceptions import Unauthorized

        for user in (None, testing.BYSTANDER):
            with self.assertRaises(Unauthorized, msg=user):
                self.browser(user).open(ROWS_URL)

    def test_post_is_refused(self):
        from zExceptions import Forbidden
        from zExceptions import NotFound

        with self.assertRaises((Forbidden, NotFound)):
            self.browser(testing.MANAGER).post(ROWS_URL, {"state": "queued"})

    def test_fragment_is_the_job_table_alone_not_cached(self):
        browser = self.rows(testing.MANAGER)
        self.assertTrue(browser.headers["Content-Type"].startswith("text/html"))
        self.assertEqual(browser.headers["Cache-Control"], "no-store")
        page = browser.contents
        self.assertNotIn("<html", page)
        self.assertNotIn("_authenticator", page, "the form token stays in the page")
        self.assertIn('id="asyncreports-jobs"', page)
        self.assertIn('data-active="1"', page)
        self.assertIn('name="job_ids:list"', page)
        self.assertIn('id="asyncreports-stats"', page)
        self.assertIn("queued: 2", page)

    def test_reporters_get_only_their_own_rows_and_no_counts(self):
        page = self.rows(testing.REPORTER).contents
        self.assertIn(self.alice_job, page)
        self.assertNotIn(self.carol_job, page)
        self.assertNotIn("asyncreports-stats", page)
        self.assertNotIn("manage_retryJobs", page)
        page = self.rows(testing.MANAGER).contents
        self.assertIn(self.alice_job, page)
        self.assertIn(self.carol_job, page)
        self.assertIn("manage_retryJobs", page)

    def test_same_filter_as_the_tab_and_inactive_once_finished(self):
        self.jobs.cancel(self.carol_job, actor=testing.MANAGER)
        transaction.commit()
        page = self.rows(testing.MANAGER, "?state=cancelled").contents
        self.assertIn(self.carol_job, page)
        self.assertNotIn(self.alice_job, page)
        self.assertIn('data-active="0"', page, "nothing there to wait for")
        self.assertIn('data-active="1"', self.rows(testing.MANAGER).contents)

    def test_reading_it_writes_nothing(self):
        transaction.begin()
        before = self.app._p_jar.db().lastTransaction()
        self.rows(testing.MANAGER)
        self.rows(testing.REPORTER)
        transaction.begin()
        self.assertEqual(self.app._p_jar.db().lastTransaction(), before)

    def test_queue_tab_has_the_table_the_script_and_its_url(self):
        browser = self.browser(testing.MANAGER)
        browser.open(QUEUE_URL + "/manage_queue?state=queued")
        page = browser.contents
        self.assertIn('id="asyncreports-refresh"', page)
        url = re.search(r'data-refresh-url="([^"]+)"', page).group(1)
        self.assertEqual(url, ROWS_URL + "?state=queued")
        # The ZMI's one refresh script (macros.zpt), told which parts to replace.
        parts = re.search(r'data-refresh-parts="([^"]+)"', page).group(1)
        self.assertEqual(parts, "asyncreports-jobs asyncreports-stats")
        # The table is inside the POST form with its token, as before.
        self.assertRegex(page, r'(?s)<form method="post" action="http://nohost/asyncreports">'
                               r'\s*<input type="hidden" name="_authenticator" value="[0-9a-f]+"'
                               r' />\s*<div id="asyncreports-jobs"')
        self.assertEqual(set(browser.getControl(name="job_ids:list").options),
                         {self.alice_job, self.carol_job})
        fragment = self.rows(testing.MANAGER, "?state=queued").contents
        for job_id in (self.alice_job, self.carol_job):
            self.assertIn(job_id, fragment)

"""Plone's views read like Plone: report titles, the site's time zone, a job page,
My reports with filters, deleting and running again."""

import json
import os
import re

import transaction
from plone import api

import collective.asyncreports
from collective.asyncreports.plone import testing
from collective.asyncreports.plone.queue import QUEUE_ID
from tests.integration.test_plone_browser import BrowserTestCase


TIME = re.compile(r'<time datetime="([0-9T:Z-]+)"\s+title="([^"]+ UTC)"\s*>([^<]+)</time>')


class PloneUITestCase(BrowserTestCase):
    def refused(self, browser, url, data=None):
        """Open (or POST ``data`` to) ``url``; the HTTP status, Plone's error pages shown."""
        browser.handleErrors = True
        browser.raiseHttpErrors = False
        if data is None:
            browser.open(url)
        else:
            browser.post(url, data)
        return browser.headers["status"].split()[0], browser.url

    def token(self, browser, form_id):
        return browser.getForm(id=form_id).getControl(name="_authenticator").value

    def assertRefusedAt(self, status, url):
        """Plone shows Unauthorized as a login or insufficient-privileges page."""
        self.assertTrue(status in ("401", "403") or "insufficient-privileges" in url
                        or "login" in url, (status, url))

    def job_page(self, user, job_id):
        browser = self.browser(user)
        browser.open(f"{self.portal_url}/@@asyncreports-job?job={job_id}")
        return browser


class TitlesAndTimesTests(PloneUITestCase):
    def test_my_reports_shows_titles_local_times_and_links_job_pages(self):
        job = self.enqueue()
        browser = self.browser(testing.EDITOR)
        browser.open(self.portal_url + "/@@my-reports")
        self.assertIn(">Content inventory</a>", browser.contents)
        self.assertIn(f"@@asyncreports-job?job={job.id}", browser.contents)
        self.assertTrue(TIME.search(browser.contents), browser.contents)

    def test_times_are_in_the_sites_time_zone(self):
        api.portal.set_registry_record("plone.portal_timezone", "Asia/Tokyo")
        transaction.commit()
        self.enqueue()
        browser = self.browser(testing.EDITOR)
        browser.open(self.portal_url + "/@@my-reports")
        iso, utc, local = TIME.search(browser.contents).groups()
        self.assertIn("Asia/Tokyo", local)
        self.assertEqual(utc, iso.replace("T", " ").replace("Z", " UTC"))

    def test_queue_view_shows_titles_and_times(self):
        job = self.enqueue()
        browser = self.browser(testing.SITE_ADMIN)
        browser.open(self.portal_url + "/@@asyncreports-jobs")
        self.assertIn("Content inventory", browser.contents)
        self.assertIn(f"@@asyncreports-job?job={job.id}", browser.contents)
        self.assertTrue(TIME.search(browser.contents))

    def test_status_json_keeps_the_name_and_adds_the_title(self):
        job = self.enqueue()
        browser = self.browser(testing.EDITOR)
        browser.open(f"{self.portal_url}/@@asyncreports-status?ids={job.id}")
        row = json.loads(browser.contents)["jobs"][0]
        self.assertEqual((row["report"], row["title"]), ("content-inventory", "Content inventory"))
        self.assertTrue(row["created"]["iso"].endswith("Z"))


class JobPageTests(PloneUITestCase):
    def test_owner_sees_the_job_with_its_history_and_actions(self):
        job = self.enqueue()
        browser = self.job_page(testing.EDITOR, job.id)
        self.assertIn("Content inventory", browser.contents)
        self.assertIn("History", browser.contents)
        self.assertTrue(TIME.search(browser.contents))
        self.assertIn('value="cancel"', browser.contents)
        self.assertIn('value="run_again"', browser.contents)
        self.assertNotIn('value="retry"', browser.contents)

    def test_error_summary_trimmed_for_owners_full_log_for_managers(self):
        job = self.enqueue()
        (claimed,) = self.jobs.claim("w1")
        server_path = os.path.join(os.path.dirname(collective.asyncreports.__file__), "x.py")
        self.jobs.fail(job.id, claimed.lease_token, f"no such file {server_path}",
                       error_path=f"/plone/reports/{job.id}-error.txt")
        transaction.commit()
        owner = self.job_page(testing.EDITOR, job.id)
        self.assertIn("no such file", owner.contents)
        self.assertNotIn(os.path.dirname(collective.asyncreports.__file__), owner.contents)
        self.assertIn("no such file collective/asyncreports/x.py", owner.contents)
        self.assertNotIn("@@asyncreports-error-log", owner.contents)
        manager = self.job_page(testing.SITE_ADMIN, job.id)
        self.assertIn(server_path, manager.contents)
        self.assertIn(f"@@asyncreports-error-log?job={job.id}", manager.contents)

    def test_another_users_job_page_is_refused(self):
        job = self.enqueue(owner=testing.OTHER_EDITOR)
        self.assertRefusedAt(*self.refused(
            self.browser(testing.EDITOR), f"{self.portal_url}/@@asyncreports-job?job={job.id}"))
        self.assertRefusedAt(*self.refused(
            self.browser(), f"{self.portal_url}/@@asyncreports-job?job={job.id}"))
        browser = self.job_page(testing.SITE_ADMIN, job.id)
        self.assertIn(testing.OTHER_EDITOR, browser.contents)
        self.assertIn('value="cancel"', browser.contents)

    def test_unknown_or_hostile_job_ids(self):
        browser = self.browser(testing.EDITOR)
        status, _ = self.refused(browser, f"{self.portal_url}/@@asyncreports-job?job=nope")
        self.assertEqual(status, "404")
        for query in ("job:list=a&job:list=b", "job=" + "f" * 100, "job=%00"):
            status, _ = self.refused(browser, f"{self.portal_url}/@@asyncreports-job?{query}")
            self.assertEqual(status, "400", query)

    def test_cancel_and_retry_are_posts_with_the_authenticator(self):
        job = self.enqueue()
        browser = self.job_page(testing.EDITOR, job.id)
        browser.getControl(name="action", index=0).click()  # Cancel
        self.assertIn("Cancelled 1 job(s).", browser.contents)
        transaction.begin()
        self.assertEqual(self.jobs.get(job.id).state, "cancelled")
        self.assertNotIn('value="retry"', browser.contents)
        browser = self.job_page(testing.SITE_ADMIN, job.id)
        browser.getForm(id="asyncreports-job-actions").submit(label="Retry")
        transaction.begin()
        self.assertEqual(self.jobs.get(job.id).state, "queued")

    def test_get_and_missing_token_change_nothing(self):
        job = self.enqueue()
        browser = self.browser(testing.EDITOR)
        browser.open(f"{self.portal_url}/@@asyncreports-job?job={job.id}&action=cancel")
        transaction.begin()
        self.assertEqual(self.jobs.get(job.id).state, "queued")
        status, _ = self.refused(browser, f"{self.portal_url}/@@asyncreports-job",
                                 f"job={job.id}&action=cancel")
        self.assertEqual(status, "403")
        transaction.begin()
        self.assertEqual(self.jobs.get(job.id).state, "queued")

    def test_owner_may_not_retry_by_a_direct_post(self):
        job = self.enqueue()
        self.jobs.cancel(job.id)
        transaction.commit()
        browser = self.job_page(testing.EDITOR, job.id)
        token = self.token(browser, "asyncreports-job-actions")
        self.assertRefusedAt(*self.refused(browser, f"{self.portal_url}/@@asyncreports-job",
                                         f"_authenticator={token}&job={job.id}&action=retry"))
        transaction.begin()
        self.assertEqual(self.jobs.get(job.id).state, "cancelled")

    def test_run_again_queues_a_new_job_through_every_check(self):
        job = self.enqueue(owner=testing.OTHER_EDITOR)
        browser = self.job_page(testing.SITE_ADMIN, job.id)
        browser.getForm(id="asyncreports-job-actions").submit(label="Run again")
        transaction.begin()
        self.assertEqual(len(self.jobs), 2)
        new_id = re.search(r"job=([0-9a-f]+)", browser.url).group(1)
        new = self.jobs.get(new_id)
        self.assertEqual((new.report, new.path, new.owner_id),
                         ("content-inventory", "/plone/docs", testing.SITE_ADMIN))
        self.assertIn(f"a new run of job {job.id}", browser.contents)


class MyReportsTests(PloneUITestCase):
    def test_filters_by_state_and_report(self):
        queued = self.enqueue()
        summary = self.jobs.enqueue(
            "folder-summary", "/plone/docs", {}, owner_id=testing.EDITOR,
            owner_folder="/plone/acl_users", queue_path="/plone/" + QUEUE_ID)
        cancelled = self.enqueue()
        self.jobs.cancel(cancelled.id)
        transaction.commit()
        browser = self.browser(testing.EDITOR)
        browser.open(self.portal_url + "/@@my-reports?state=cancelled")
        self.assertIn(cancelled.id, browser.contents)
        self.assertNotIn(queued.id, browser.contents)
        browser.open(self.portal_url + "/@@my-reports?report=folder-summary")
        self.assertIn(summary.id, browser.contents)
        self.assertNotIn(queued.id, browser.contents)
        browser.open(self.portal_url + "/@@my-reports?state=done")
        self.assertIn("None of your jobs matches", browser.contents)

    def test_hostile_filters_are_a_400(self):
        browser = self.browser(testing.EDITOR)
        for query in ("state=nope", "report=nope", "report:list=a&report:list=b",
                      "state.x:record=1"):
            status, _ = self.refused(browser, f"{self.portal_url}/@@my-reports?{query}")
            self.assertEqual(status, "400", query)

    def test_delete_own_finished_jobs_with_their_results(self):
        done = self.enqueue()
        running = self.enqueue()
        self.jobs.cancel(done.id)
        transaction.commit()
        browser = self.browser(testing.EDITOR)
        browser.open(self.portal_url + "/@@my-reports")
        self.assertEqual(len(browser.getControl(name="job_ids:list").controls), 1)
        browser.getControl(name="job_ids:list").getControl(value=done.id).selected = True
        browser.getControl(name="delete").click()
        self.assertIn("Deleted 1 job(s)", browser.contents)
        transaction.begin()
        self.assertNotIn(done.id, self.jobs)
        self.assertIn(running.id, self.jobs)

    def test_delete_refuses_unfinished_and_other_users_jobs(self):
        active = self.enqueue()
        theirs = self.enqueue(owner=testing.OTHER_EDITOR)
        self.jobs.cancel(theirs.id)
        transaction.commit()
        browser = self.browser(testing.EDITOR)
        browser.open(self.portal_url + "/@@my-reports")
        token = self.token(browser, "asyncreports-my-jobs")
        browser.post(self.portal_url + "/@@my-reports",
                     f"_authenticator={token}&delete=1&job_ids:list={active.id}")
        self.assertIn("not finished yet", browser.contents)
        self.assertRefusedAt(*self.refused(
            browser, self.portal_url + "/@@my-reports",
            f"_authenticator={token}&delete=1&job_ids:list={theirs.id}"))
        transaction.begin()
        self.assertIn(active.id, self.jobs)
        self.assertIn(theirs.id, self.jobs)

    def test_delete_is_a_post_with_the_authenticator(self):
        job = self.enqueue()
        self.jobs.cancel(job.id)
        transaction.commit()
        browser = self.browser(testing.EDITOR)
        browser.open(f"{self.portal_url}/@@my-reports?delete=1&job_ids:list={job.id}")
        status, _ = self.refused(browser, self.portal_url + "/@@my-reports",
                                 f"delete=1&job_ids:list={job.id}")
        self.assertEqual(status, "403")
        transaction.begin()
        self.assertIn(job.id, self.jobs)

    def test_run_again_from_my_reports(self):
        job = self.enqueue()
        browser = self.browser(testing.EDITOR)
        browser.open(self.portal_url + "/@@my-reports")
        browser.getControl(name="run_again").click()
        transaction.begin()
        self.assertEqual(len(self.jobs), 2)
        self.assertIn(f"a new run of job {job.id}", browser.contents)
        self.assertIn("table-info", browser.contents)  # the new job is highlighted

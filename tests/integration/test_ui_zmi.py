"""The ZMI queue reads like a UI: report titles, local times, a job page, filters."""

import os
import re

import transaction
from zExceptions import Forbidden
from zExceptions import NotFound
from zExceptions import Unauthorized

import collective.asyncreports
from collective.asyncreports import testing
from collective.asyncreports.rows import report_title
from tests.integration.test_zmi import ZMITestCase


QUEUE_URL = "http://nohost/asyncreports"
SERVER_PATH = os.path.join(os.path.dirname(collective.asyncreports.__file__), "x.py")
TIME = re.compile(
    r'<time datetime="(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)" title="([^"]+ UTC)">([^<]+)</time>')


class ZMIUITestCase(ZMITestCase):
    def enqueue(self, owner=testing.REPORTER, report="object-inventory", params=None):
        job = self.jobs.enqueue(report, "/docs", {"depth": 2} if params is None else params,
                                owner_id=owner, owner_folder="/acl_users",
                                queue_path="/" + testing.QUEUE_ID)
        transaction.commit()
        return job

    def token(self, browser):
        return re.search(r'name="_authenticator" value="([0-9a-f]+)"', browser.contents).group(1)

    def job_action(self, user, job_id, action):
        browser = self.browser(user)
        browser.open(f"{QUEUE_URL}/manage_job?job_id={job_id}")
        browser.post(f"{QUEUE_URL}/manage_jobAction",
                     {"_authenticator": self.token(browser), "job_id": job_id,
                      "action": action})
        transaction.begin()
        return browser


class TitlesAndTimesTests(ZMIUITestCase):
    def test_queue_tab_shows_the_report_title_and_links_the_job_page(self):
        job = self.enqueue()
        browser = self.browser(testing.REPORTER)
        browser.open(QUEUE_URL + "/manage_queue")
        self.assertIn(">Object inventory</td>", browser.contents)
        self.assertIn(f'manage_job?job_id={job.id}"', browser.contents)

    def test_unknown_report_falls_back_to_its_name(self):
        self.assertEqual(report_title("no-such-report"), "no-such-report")
        self.assertEqual(report_title("object-inventory"), "Object inventory")

    def test_times_are_local_with_utc_on_hover(self):
        self.enqueue()
        browser = self.browser(testing.REPORTER)
        browser.open(QUEUE_URL + "/manage_queue")
        found = TIME.findall(browser.contents)
        self.assertTrue(found, browser.contents)
        iso, utc, local = found[0]
        self.assertEqual(utc, iso.replace("T", " ").replace("Z", " UTC"))
        self.assertTrue(local.strip())

    def test_refreshed_rows_keep_titles_and_times(self):
        self.enqueue()
        browser = self.browser(testing.REPORTER)
        browser.open(QUEUE_URL + "/manage_queueRows")
        self.assertIn("Object inventory", browser.contents)
        self.assertTrue(TIME.search(browser.contents))


class JobPageTests(ZMIUITestCase):
    def test_owner_sees_parameters_history_and_actions(self):
        job = self.enqueue()
        browser = self.browser(testing.REPORTER)
        browser.open(f"{QUEUE_URL}/manage_job?job_id={job.id}")
        contents = browser.contents
        self.assertIn("Object inventory", contents)
        self.assertIn('<th title="depth">Depth</th><td>2</td>', contents)
        self.assertIn("queued", contents)
        self.assertTrue(TIME.search(contents))
        self.assertIn('value="cancel"', contents)
        self.assertIn('value="run_again"', contents)
        self.assertNotIn('value="retry"', contents)

    def test_error_summary_trimmed_for_owners_whole_for_managers(self):
        job = self.enqueue()
        (claimed,) = self.jobs.claim("w1")
        self.jobs.fail(job.id, claimed.lease_token, f"no such file {SERVER_PATH}",
                       error_path=f"/{testing.QUEUE_ID}/results/{job.id}-error.txt")
        transaction.commit()
        url = f"{QUEUE_URL}/manage_job?job_id={job.id}"
        owner = self.browser(testing.REPORTER)
        owner.open(url)
        self.assertIn("no such file", owner.contents)
        self.assertNotIn(os.path.dirname(collective.asyncreports.__file__), owner.contents)
        self.assertIn("no such file collective/asyncreports/x.py", owner.contents)
        self.assertNotIn("manage_errorLog", owner.contents)
        manager = self.browser(testing.MANAGER)
        manager.open(url)
        self.assertIn(SERVER_PATH, manager.contents)
        self.assertIn(f"manage_errorLog?job_id={job.id}", manager.contents)
        self.assertIn('value="retry"', manager.contents)

    def test_another_users_job_page_is_refused_managers_see_it(self):
        job = self.enqueue(owner=testing.OTHER_REPORTER)
        with self.assertRaises(Unauthorized):
            self.browser(testing.REPORTER).open(f"{QUEUE_URL}/manage_job?job_id={job.id}")
        browser = self.browser(testing.MANAGER)
        browser.open(f"{QUEUE_URL}/manage_job?job_id={job.id}")
        self.assertIn(testing.OTHER_REPORTER, browser.contents)

    def test_unknown_job_is_not_found_and_bystanders_are_refused(self):
        with self.assertRaises(NotFound):
            self.browser(testing.REPORTER).open(f"{QUEUE_URL}/manage_job?job_id=nope")
        job = self.enqueue()
        with self.assertRaises(Unauthorized):
            self.browser(testing.BYSTANDER).open(f"{QUEUE_URL}/manage_job?job_id={job.id}")

    def test_cancel_from_the_job_page(self):
        job = self.enqueue()
        browser = self.job_action(testing.REPORTER, job.id, "cancel")
        self.assertIn(f"manage_job?job_id={job.id}", browser.url)
        self.assertIn("Cancelled 1 job(s).", browser.contents)
        self.assertEqual(self.jobs.get(job.id).state, "cancelled")

    def test_retry_is_for_managers(self):
        job = self.enqueue()
        self.jobs.cancel(job.id)
        transaction.commit()
        with self.assertRaises(Unauthorized):
            self.job_action(testing.REPORTER, job.id, "retry")
        self.assertEqual(self.jobs.get(job.id).state, "cancelled")
        self.job_action(testing.MANAGER, job.id, "retry")
        self.assertEqual(self.jobs.get(job.id).state, "queued")

    def test_run_again_queues_a_new_job_as_the_current_user(self):
        job = self.enqueue(owner=testing.OTHER_REPORTER, params={"depth": 3})
        browser = self.job_action(testing.MANAGER, job.id, "run_again")
        self.assertEqual(len(self.jobs), 2)
        new_id = re.search(r"job_id=([0-9a-f]+)", browser.url).group(1)
        new = self.jobs.get(new_id)
        self.assertNotEqual(new.id, job.id)
        self.assertEqual((new.report, new.path, new.owner_id, new.params["depth"]),
                         ("object-inventory", "/docs", testing.MANAGER, 3))

    def test_run_again_of_another_users_job_is_refused(self):
        job = self.enqueue(owner=testing.OTHER_REPORTER)
        browser = self.browser(testing.REPORTER)
        browser.open(QUEUE_URL + "/manage_queue")
        with self.assertRaises(Unauthorized):
            browser.post(f"{QUEUE_URL}/manage_jobAction",
                         {"_authenticator": self.token(browser), "job_id": job.id,
                          "action": "run_again"})
        transaction.begin()
        self.assertEqual(len(self.jobs), 1)

    def test_job_actions_refuse_get_and_missing_token(self):
        job = self.enqueue()
        browser = self.browser(testing.REPORTER)
        with self.assertRaises((Forbidden, NotFound)):
            browser.open(f"{QUEUE_URL}/manage_jobAction?job_id={job.id}&action=cancel")
        with self.assertRaises(Forbidden):
            browser.post(f"{QUEUE_URL}/manage_jobAction", {"job_id": job.id, "action": "cancel"})
        transaction.begin()
        self.assertEqual(self.jobs.get(job.id).state, "queued")

    def test_unknown_action_is_a_400(self):
        job = self.enqueue()
        browser = self.browser(testing.REPORTER)
        browser.open(f"{QUEUE_URL}/manage_job?job_id={job.id}")
        browser.handleErrors = True
        browser.raiseHttpErrors = False
        browser.post(f"{QUEUE_URL}/manage_jobAction",
                     {"_authenticator": self.token(browser), "job_id": job.id,
                      "action": "explode"})
        self.assertEqual(browser.headers["status"].split()[0], "400")


class FilterTests(ZMIUITestCase):
    def test_report_owner_and_job_id_filters(self):
        mine = self.enqueue()
        other = self.enqueue(owner=testing.OTHER_REPORTER)
        waiting = self.enqueue(report="wait-and-report", params={})
        browser = self.browser(testing.MANAGER)
        browser.open(QUEUE_URL + "/manage_queue?report=object-inventory")
        self.assertIn(mine.id, browser.contents)
        self.assertNotIn(waiting.id, browser.contents)
        browser.open(QUEUE_URL + f"/manage_queue?owner={testing.OTHER_REPORTER}")
        self.assertIn(other.id, browser.contents)
        self.assertNotIn(mine.id, browser.contents)
        browser.open(QUEUE_URL + f"/manage_queue?job={other.id}")
        self.assertIn(other.id, browser.contents)
        self.assertNotIn(mine.id, browser.contents)

    def test_job_id_search_finds_only_the_users_own(self):
        other = self.enqueue(owner=testing.OTHER_REPORTER)
        browser = self.browser(testing.REPORTER)
        browser.open(QUEUE_URL + f"/manage_queue?job={other.id}")
        self.assertNotIn(f"job_id={other.id}", browser.contents)
        self.assertIn("No jobs.", browser.contents)

    def test_hostile_filter_values_are_a_400(self):
        browser = self.browser(testing.MANAGER)
        browser.handleErrors = True
        browser.raiseHttpErrors = False
        for query in ("report=nope", "report:list=a&report:list=b", "owner:list=a",
                      "job=" + "f" * 100, "owner=%00", "job.x:record=1", "state=nope"):
            for view in ("manage_queue", "manage_queueRows"):
                browser.open(f"{QUEUE_URL}/{view}?{query}")
                self.assertEqual(browser.headers["status"].split()[0], "400", (view, query))

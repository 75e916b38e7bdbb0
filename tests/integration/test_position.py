"""The UI tells the truth about waiting jobs (issue 11, item 6).

- A job claimed in a batch but not started is shown as waiting, claimed by
  its worker, not as "running 0%".
- "N ahead of you" counts what really runs first: due jobs before it in its
  queue, jobs waiting in queues the workers claim from first, and it says
  why a job with nothing ahead still waits (jobs running, no worker).
"""

import json
import unittest

import transaction
from plone.testing.zope import login
from plone.testing.zope import logout

from collective.asyncreports import testing
from collective.asyncreports.plone import testing as plone_testing
from collective.asyncreports.plone.queue import QUEUE_ID
from collective.asyncreports.queue import JobQueue
from collective.asyncreports.queue.position import standing
from collective.asyncreports.submission import submit
from collective.asyncreports.zmi.queue import manage_addAsyncReportQueue


T0 = 1_800_000_000.0


def enqueue(jobs, owner="alice", now=T0):
    return jobs.enqueue("object-inventory", "/docs", {}, owner_id=owner, now=now)


class StandingTests(unittest.TestCase):
    """The rule, on plain JobQueues."""

    def setUp(self):
        self.jobs = JobQueue()
        self.jobs.heartbeat("w1", now=T0)

    def test_jobs_claimed_in_a_batch_wait_until_their_worker_starts_them(self):
        batch = [enqueue(self.jobs, now=T0 + n) for n in range(3)]
        self.jobs.claim("w1", limit=3, now=T0 + 10)
        # The first job of a batch runs at once: its claim marks it started.
        where = standing(batch[0], self.jobs, now=T0 + 10)
        self.assertEqual((where["label"], where["text"]), ("running", "0%"))
        for job in batch[1:]:
            where = standing(job, self.jobs, now=T0 + 10)
            self.assertEqual((where["phase"], where["label"]), ("claimed", "waiting"))
            self.assertEqual(where["text"], "claimed by worker w1, not started")
        # The worker's heartbeat says which jobs of the batch have begun.
        self.jobs.heartbeat("w1", now=T0 + 11, current_jobs=[job.id for job in batch],
                            started_jobs=[batch[0].id, batch[1].id])
        self.assertEqual(standing(batch[1], self.jobs, now=T0 + 11)["label"], "running")
        self.assertEqual(standing(batch[2], self.jobs, now=T0 + 11)["phase"], "claimed")

    def test_a_mark_of_an_earlier_attempt_does_not_count(self):
        job = enqueue(self.jobs)
        (claimed,) = self.jobs.claim("w1", now=T0 + 1)
        self.assertTrue(job.started_running)
        self.jobs.hand_back(job.id, claimed.lease_token, "not started", now=T0 + 2)
        self.jobs.claim("w1", now=T0 + 3, start_first=False)
        self.assertFalse(job.started_running)
        self.assertEqual(standing(job, self.jobs, now=T0 + 3)["phase"], "claimed")

    def test_jobs_waiting_in_queues_served_first_are_ahead(self):
        first = JobQueue()
        for n in range(5):
            enqueue(first, owner="bob", now=T0 + n)
        mine = enqueue(self.jobs, now=T0 + 100)
        where = standing(mine, self.jobs, others_first=[first], now=T0 + 200)
        self.assertEqual((where["ahead"], where["ahead_here"], where["ahead_elsewhere"]),
                         (5, 0, 5))
        self.assertEqual(where["label"], "queued")
        self.assertEqual(where["text"], "5 ahead of you (5 in queues served first)")
        # A queue the workers claim from after this one is not ahead.
        where = standing(mine, self.jobs, others=[first], now=T0 + 200)
        self.assertEqual(where["text"], "0 ahead of you")

    def test_nothing_ahead_but_a_running_job_elsewhere_says_why_it_waits(self):
        other = JobQueue()
        enqueue(other, owner="bob")
        other.claim("w1", now=T0 + 1)
        mine = enqueue(self.jobs, now=T0 + 2)
        where = standing(mine, self.jobs, others=[other], now=T0 + 3)
        self.assertEqual(where["text"], "0 ahead of you; 1 job running now")

    def test_without_a_live_worker_it_says_so(self):
        mine = enqueue(self.jobs)
        where = standing(mine, self.jobs, now=T0 + self.jobs.lease_seconds + 1)
        self.assertEqual(where["text"], "0 ahead of you; no worker is running")

    def test_a_job_waiting_for_its_retry_says_until_when(self):
        job = enqueue(self.jobs)
        (claimed,) = self.jobs.claim("w1", now=T0 + 1)
        self.jobs.backoff_seconds = 60
        self.jobs.release(job.id, claimed.lease_token, "transient", now=T0 + 2)
        self.assertEqual(standing(job, self.jobs, now=T0 + 3)["phase"], "scheduled")
        self.assertIn("due again at", standing(job, self.jobs, now=T0 + 3)["text"])


class ZMIStandingTests(unittest.TestCase):
    """The Queue tab over HTTP, as a reporter."""

    layer = testing.FUNCTIONAL_TESTING

    def setUp(self):
        self.app = self.layer["app"]
        self.queue = self.app[testing.QUEUE_ID]
        self.jobs = self.queue.job_queue()

    def queue_tab(self, user=testing.REPORTER):
        browser = testing.browser(self.app, user)
        browser.open("http://nohost/asyncreports/manage_queue")
        return browser.contents

    def submit(self, queue, user=testing.REPORTER, depth=1):
        # Jobs alike but for their depth: identical ones would be one job.
        login(self.app.acl_users, user)
        job = submit(queue, "object-inventory", "/docs", {"depth": str(depth)})
        logout()
        transaction.commit()
        return job

    def test_a_claimed_job_shows_as_waiting_until_started(self):
        jobs = [self.submit(self.queue, depth=depth) for depth in (1, 2)]
        self.jobs.heartbeat("host:1:w")
        self.jobs.claim("host:1:w", limit=2, start_first=False)
        transaction.commit()
        page = self.queue_tab()
        self.assertEqual(page.count("claimed by worker host:1:w, not started"), 2)
        self.assertEqual(page.count('<td data-field="state">waiting</td>'), 2)
        self.assertNotIn('<td data-field="state">running</td>', page)
        self.jobs.heartbeat("host:1:w", started_jobs=[jobs[0].id])
        transaction.commit()
        page = self.queue_tab()
        self.assertEqual(page.count('<td data-field="state">running</td>'), 1)
        self.assertEqual(page.count("not started"), 1)

    def test_jobs_of_a_queue_served_first_count_ahead(self):
        # Workers claim from queues in path order: /aaa before /asyncreports.
        first = manage_addAsyncReportQueue(self.app, "aaa")
        first.manage_permission("collective.asyncreports: Queue report",
                                ["Manager", testing.REPORTER_ROLE], acquire=0)
        transaction.commit()
        for depth in (1, 2, 3):
            self.submit(first, testing.OTHER_REPORTER, depth=depth)
        self.submit(self.queue)
        self.jobs.heartbeat("host:1:w")
        transaction.commit()
        self.assertIn("3 ahead of you (3 in queues served first)", self.queue_tab())


class PloneStandingTests(unittest.TestCase):
    layer = plone_testing.FUNCTIONAL_TESTING

    def test_my_reports_and_the_status_json_tell_where_the_job_stands(self):
        portal = self.layer["portal"]
        jobs = portal[QUEUE_ID].job_queue()
        made = [jobs.enqueue("content-inventory", "/plone/docs", {},
                             owner_id=plone_testing.EDITOR, owner_folder="/plone/acl_users",
                             queue_path="/plone/" + QUEUE_ID) for _ in range(3)]
        jobs.heartbeat("host:2:w")
        jobs.claim("host:2:w", limit=2, start_first=False)
        transaction.commit()
        browser = testing.browser(self.layer["app"], plone_testing.EDITOR)
        browser.open(portal.absolute_url() + "/@@my-reports")
        self.assertEqual(browser.contents.count("claimed by worker host:2:w, not started"), 2)
        self.assertIn("(0 ahead of you; 2 jobs running now)", browser.contents)
        ids = ",".join(job.id for job in made)
        browser.open(portal.absolute_url() + f"/@@asyncreports-status?ids={ids}")
        rows = json.loads(browser.contents)["jobs"]
        self.assertEqual(sorted((row["state_label"], row["state_text"]) for row in rows), [
            ("queued", "0 ahead of you; 2 jobs running now"),
            ("waiting", "claimed by worker host:2:w, not started"),
            ("waiting", "claimed by worker host:2:w, not started")])

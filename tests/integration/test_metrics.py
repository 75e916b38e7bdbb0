"""The queue's metrics: Prometheus text read back with prometheus_client's parsers."""

import io
import time
import unittest
from types import SimpleNamespace

import transaction
from prometheus_client.openmetrics import parser as openmetrics_parser
from prometheus_client.parser import text_string_to_metric_families
from ZODB import DB
from ZODB.MappingStorage import MappingStorage
from zope.testbrowser.browser import HTTPError

from collective.asyncreports import metrics
from collective.asyncreports import testing
from collective.asyncreports.cli.commands import command_metrics
from collective.asyncreports.permissions import ViewMetrics
from collective.asyncreports.plone import testing as plone_testing
from collective.asyncreports.queue import JobQueue


openmetrics_families = openmetrics_parser.text_string_to_metric_families
T0 = 1_700_000_000.0
SCRAPER = "scraper"


def samples(text, parse=text_string_to_metric_families):
    """{(sample name, frozenset of labels): value} of an exposition text."""
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in parse(text) for sample in family.samples}


def run_jobs(jobs, count, report="object-inventory", fail_every=0, waited=2.0, ran=7.0):
    """``count`` jobs queued at T0, each started ``waited`` s later and ended ``ran`` s after."""
    for number in range(count):
        job = jobs.enqueue(report, "/docs", {}, "alice", now=T0)
        [claimed] = jobs.claim("w1", now=T0 + waited)
        if fail_every and number % fail_every == 0:
            jobs.fail(claimed.id, claimed.lease_token, "boom", now=T0 + waited + ran)
        else:
            jobs.finish(claimed.id, claimed.lease_token, f"/r/{job.id}", now=T0 + waited + ran)


class MetricsTextTests(unittest.TestCase):
    def test_states_reports_histograms_workers_and_schedules(self):
        jobs = JobQueue(max_attempts=1)
        jobs.heartbeat("w1", hostname="host-a", pid=1, now=T0 + 10)
        run_jobs(jobs, 4, fail_every=4)
        jobs.enqueue("folder-summary", "/docs", {}, "bob", now=T0 + 20)
        text, content_type = metrics.exposition_text([("/asyncreports", jobs)], now=T0 + 30)
        self.assertTrue(content_type.startswith("text/plain; version="))
        found = samples(text.decode())
        queue = ("queue", "/asyncreports")

        def value(name, **labels):
            return found[(name, frozenset(dict([queue], **labels).items()))]

        self.assertEqual(value("asyncreports_jobs", state="done"), 3)
        self.assertEqual(value("asyncreports_jobs", state="failed"), 1)
        self.assertEqual(value("asyncreports_jobs", state="queued"), 1)
        self.assertEqual(value("asyncreports_jobs_by_report", state="queued",
                               report="folder-summary"), 1)
        self.assertEqual(value("asyncreports_jobs_by_report", state="done",
                               report="object-inventory"), 3)
        report = {"report": "object-inventory"}
        self.assertEqual(value("asyncreports_job_wait_seconds_bucket", le="1.0", **report), 0)
        self.assertEqual(value("asyncreports_job_wait_seconds_bucket", le="5.0", **report), 4)
        self.assertEqual(value("asyncreports_job_wait_seconds_sum", **report), 8.0)
        self.assertEqual(value("asyncreports_job_run_seconds_bucket", le="5.0", **report), 0)
        self.assertEqual(value("asyncreports_job_run_seconds_bucket", le="15.0", **report), 4)
        self.assertEqual(value("asyncreports_job_run_seconds_count", **report), 4)
        self.assertEqual(value("asyncreports_job_attempts_bucket", le="1.0", **report), 4)
        self.assertEqual(value("asyncreports_oldest_due_job_wait_seconds"), 10.0)
        self.assertEqual(value("asyncreports_workers", status="alive"), 1)
        self.assertEqual(value("asyncreports_worker_last_heartbeat_timestamp_seconds",
                               worker="w1", host="host-a"), T0 + 10)
        self.assertEqual(value("asyncreports_schedules_overdue"), 0)
        # Read back with the OpenMetrics parser too.
        text, content_type = metrics.exposition_text([("/asyncreports", jobs)], True, now=T0 + 30)
        self.assertTrue(content_type.startswith("application/openmetrics-text"))
        self.assertTrue(text.endswith(b"# EOF\n"))
        self.assertEqual(samples(text.decode(), openmetrics_families)[
            ("asyncreports_jobs", frozenset({queue, ("state", "done")}))], 3)

    def test_overdue_schedules_are_counted(self):
        from collective.asyncreports.queue.schedules import Schedule
        from collective.asyncreports.queue.schedules import stored_book

        jobs = JobQueue()
        stored_book(jobs).add(Schedule("s1", "object-inventory", "/docs", {}, "alice",
                                       "* * * * *", "UTC", now=T0))
        text, _ = metrics.exposition_text([("/q", jobs)], now=T0 + 600)
        self.assertEqual(samples(text.decode())[
            ("asyncreports_schedules_overdue", frozenset({("queue", "/q")}))], 1)

    def test_a_scrape_of_10000_jobs_is_bounded(self):
        db = DB(MappingStorage())
        connection = db.open()
        jobs = connection.root()["jobs"] = JobQueue()
        run_jobs(jobs, 10_000)
        transaction.commit()
        connection.close()
        db.cacheMinimize()
        connection = db.open()  # a cold cache, as a new scrape in a big queue
        started = time.perf_counter()
        text, _ = metrics.exposition_text([("/q", connection.root()["jobs"])], now=T0 + 30)
        elapsed = time.perf_counter() - started
        connection.close()
        db.close()
        found = samples(text.decode())
        self.assertEqual(found[("asyncreports_jobs",
                                frozenset({("queue", "/q"), ("state", "done")}))], 10_000)
        self.assertEqual(found[("asyncreports_job_run_seconds_count",
                                frozenset({("queue", "/q"), ("report", "object-inventory")}))],
                         metrics.RECENT)
        print(f"\n  scrape of 10,000 done jobs (cold cache): {elapsed:.3f} s")
        self.assertLess(elapsed, 2.0)


class MetricsEndpointTests(unittest.TestCase):
    layer = testing.FUNCTIONAL_TESTING

    def setUp(self):
        app = self.layer["app"]
        app._addRole("MetricsReader")
        app.acl_users._doAddUser(SCRAPER, testing.PASSWORD, ["MetricsReader"], [])
        self.queue = app[testing.QUEUE_ID]
        self.queue.manage_permission(ViewMetrics, ["Manager", "MetricsReader"], acquire=0)
        job = self.queue.job_queue().enqueue("object-inventory", "/docs", {}, testing.REPORTER)
        self.job_id = job.id
        transaction.commit()
        self.url = self.queue.absolute_url()

    def browser(self, user=None):
        browser = testing.browser(self.layer["app"], user)
        browser.handleErrors = True  # refusals as the HTTP status a scraper sees
        return browser

    def test_a_user_with_only_view_metrics_scrapes(self):
        browser = self.browser(SCRAPER)
        browser.open(f"{self.url}/metrics")
        self.assertTrue(browser.headers["Content-Type"].startswith("text/plain; version="))
        self.assertEqual(browser.headers["Cache-Control"], "no-store")
        found = samples(browser.contents)
        self.assertEqual(found[("asyncreports_jobs", frozenset(
            {("queue", "/asyncreports"), ("state", "queued")}))], 1)
        self.assertNotIn(self.job_id, browser.contents)  # counts, no job or owner
        self.assertNotIn(testing.REPORTER, browser.contents)
        browser.addHeader("Accept", "application/openmetrics-text; version=1.0.0")
        browser.open(f"{self.url}/metrics")
        self.assertTrue(browser.headers["Content-Type"].startswith("application/openmetrics-text"))
        self.assertTrue(list(openmetrics_families(browser.contents)))

    def test_the_scrape_user_sees_nothing_else(self):
        browser = self.browser(SCRAPER)
        for view in ("manage_queue", f"manage_job?job_id={self.job_id}", "manage_workers",
                     "manage_settingsForm", "manage_submitForm", "manage_main", "results"):
            with self.assertRaises(HTTPError, msg=view) as caught:
                browser.open(f"{self.url}/{view}")
            self.assertIn(caught.exception.code, (401, 403), view)

    def test_others_are_refused_and_a_post_is_not_allowed(self):
        for user in (None, testing.BYSTANDER, testing.REPORTER):
            with self.assertRaises(HTTPError, msg=user) as caught:
                self.browser(user).open(f"{self.url}/metrics")
            self.assertIn(caught.exception.code, (401, 403), user)
        browser = self.browser(testing.MANAGER)
        browser.open(f"{self.url}/metrics")  # Manager has it by default
        with self.assertRaises(HTTPError) as caught:
            browser.post(f"{self.url}/metrics", "")
        # Published for GET and HEAD only (zpublish): Zope answers other methods with 404.
        self.assertEqual(caught.exception.code, 404)

    def test_the_cli_prints_the_same_text(self):
        app = self.layer["app"]
        for openmetrics, parse in ((False, text_string_to_metric_families),
                                   (True, openmetrics_families)):
            out = io.StringIO()
            args = SimpleNamespace(queue=["/asyncreports"], openmetrics=openmetrics)
            self.assertEqual(command_metrics(app, args, out), 0)
            found = samples(out.getvalue(), parse)
            self.assertEqual(found[("asyncreports_jobs", frozenset(
                {("queue", "/asyncreports"), ("state", "queued")}))], 1)


class PloneMetricsTests(unittest.TestCase):
    layer = plone_testing.FUNCTIONAL_TESTING

    def test_a_site_administrator_scrapes_the_sites_queue_a_member_may_not(self):
        url = f"{self.layer['portal'].absolute_url()}/portal_asyncreports/metrics"
        browser = testing.browser(self.layer["app"], plone_testing.SITE_ADMIN)
        browser.handleErrors = True
        browser.open(url)
        self.assertIn("asyncreports_jobs", [family.name for family in
                                            text_string_to_metric_families(browser.contents)])
        member = testing.browser(self.layer["app"], plone_testing.MEMBER)
        member.handleErrors = True
        try:
            member.open(url)
        except HTTPError as refused:
            self.assertIn(refused.code, (401, 403))
        else:  # Plone answers Unauthorized with its login form
            self.assertRegex(member.url, "require_login|insufficient-privileges")
            self.assertNotIn("asyncreports_jobs", member.contents)

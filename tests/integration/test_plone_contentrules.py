"""Content rules on "Report finished" and "Report failed", run by the worker."""

import time
import unittest
from unittest import mock

import transaction
from Acquisition import aq_base
from plone.app.contentrules import api as rules
from plone.app.contentrules.actions.mail import MailAction
from plone.app.contentrules.conditions.portaltype import PortalTypeCondition
from plone.app.contentrules.rule import Rule
from plone.contentrules.engine.interfaces import IRuleStorage
from zope.component import getUtility
from zope.component.hooks import setSite
from zope.schema.interfaces import IVocabularyFactory

from collective.asyncreports.events import IJobFailed
from collective.asyncreports.events import IJobFinished
from collective.asyncreports.plone import testing
from collective.asyncreports.worker import queue_steps
from collective.asyncreports.worker.session import Session
from tests.integration.test_plone_results import BrokenReport
from tests.integration.test_plone_results import PloneRunnerTests


class ContentRuleTests(unittest.TestCase):
    """The runner in-process: the rules run in the commit that ends the job."""

    layer = testing.FUNCTIONAL_TESTING
    enqueue = PloneRunnerTests.enqueue
    run_job = PloneRunnerTests.run_job
    stored = PloneRunnerTests.stored

    def setUp(self):
        PloneRunnerTests.setUp(self)
        setSite(self.portal)
        self.sent = []
        sent = self.sent

        def send(mailhost, message, mto=None, mfrom=None, subject=None, **options):
            sent.append({"to": mto, "from": mfrom, "subject": subject, "body": message})

        patcher = mock.patch.object(aq_base(self.portal.MailHost).__class__, "send", send)
        patcher.start()
        self.addCleanup(patcher.stop)

    def add_rule(self, rule_id, event, subject):
        rule = Rule()
        rule.title = f"Mail on {event.__name__}"
        rule.event = event
        condition = PortalTypeCondition()
        condition.check_types = {"File"}
        rule.conditions.append(condition)
        action = MailAction()
        action.source = "reports@example.org"
        action.recipients = "boss@example.org"
        action.subject = subject
        action.message = "See ${url}"
        rule.actions.append(action)
        getUtility(IRuleStorage)[rule_id] = rule
        rules.assign_rule(self.portal, rule_id, bubbles=True)
        transaction.commit()

    def test_the_triggers_are_offered_in_site_setup(self):
        vocabulary = getUtility(IVocabularyFactory, "plone.contentrules.events")(self.portal)
        titles = {term.title: term.value for term in vocabulary}
        self.assertIs(titles["Report finished"], IJobFinished)
        self.assertIs(titles["Report failed"], IJobFailed)

    def test_a_report_finished_rule_mails_the_result_file(self):
        self.add_rule("report-ready", IJobFinished, "Ready: ${title}")
        self.add_rule("report-broke", IJobFailed, "Failed: ${title}")
        outcome, job = self.run_job(self.enqueue())
        self.assertEqual(job.state, "done", job.error_message)
        result = self.stored(job.result_path)
        (mail,) = self.sent
        self.assertEqual(mail["to"], "boss@example.org")
        self.assertEqual(mail["subject"], f"Ready: {result.Title()}")
        # The worker's URL of the File: the site's public one.
        url = self.queue.public_url(job.result_path)
        self.assertTrue(url.startswith(f"{testing.SERVER_URL}/reports/"))
        self.assertIn(f"See {url}", mail["body"])

    def test_a_report_failed_rule_mails_the_error_log(self):
        from zope.component import getGlobalSiteManager

        from collective.asyncreports.reports.interfaces import IReportType

        registry = getGlobalSiteManager()
        broken = BrokenReport()
        registry.registerUtility(broken, IReportType, "broken")
        self.addCleanup(registry.unregisterUtility, broken, IReportType, "broken")
        self.add_rule("report-ready", IJobFinished, "Ready: ${title}")
        self.add_rule("report-broke", IJobFailed, "Failed: ${title}")
        outcome, job = self.run_job(self.enqueue(report="broken"))
        self.assertEqual(job.state, "failed")
        error_log = self.stored(job.error_path)
        self.assertEqual([mail["subject"] for mail in self.sent],
                         [f"Failed: {error_log.Title()}"])

    def test_a_job_abandoned_by_a_reaper_runs_the_report_failed_rule(self):
        self.add_rule("report-broke", IJobFailed, "Failed: ${title}")
        job = self.jobs.get(self.enqueue())
        job.max_attempts = 1
        self.jobs.claim("dead-worker")[0].lease_expires = time.time() - 1  # no heartbeat ever
        transaction.commit()
        with Session(self.layer["zodbDB"]) as session:
            queue_steps.reap_lost_leases(session, "plone-reaper", [self.queue_path], {})
        setSite(self.portal)
        transaction.begin()
        self.assertEqual(job.state, "failed")
        error_log = self.stored(job.error_path)
        self.assertEqual([mail["subject"] for mail in self.sent],
                         [f"Failed: {error_log.Title()}"])

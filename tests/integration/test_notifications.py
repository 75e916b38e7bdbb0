"""Mail to the owner after a job's end commits, through a real SMTP server on 127.0.0.1."""

import csv
import io
import logging
import unittest

import pypdf
import transaction
from OFS.Image import manage_addFile
from plone import api as plone_api
from plone.testing import zope
from Products.MailHost.MailHost import MailHost
from transaction import TransactionManager
from ZODB.POSException import ConflictError

from collective.asyncreports import api
from collective.asyncreports import events
from collective.asyncreports import notifications
from collective.asyncreports import testing
from collective.asyncreports.plone import testing as plone_testing
from collective.asyncreports.submission import submit
from tests.smtp import SMTPServer
from tests.smtp import free_port


FALLBACK = "reports-desk@example.org"
SENDER = "reports@example.org"


class NotificationTests(unittest.TestCase):
    layer = testing.EAGER_FUNCTIONAL_TESTING

    def setUp(self):
        self.smtp = SMTPServer().start()
        self.addCleanup(self.smtp.stop)
        self.app = self.layer["app"]
        self.queue = self.app[testing.QUEUE_ID]
        self.app._setObject("MailHost", MailHost("MailHost", smtp_host="127.0.0.1",
                                                 smtp_port=self.smtp.port))
        self.jobs = self.queue.job_queue()
        self.jobs.notify_submitter = True
        self.jobs.mail_from = SENDER
        # Plain Zope users have no email property: the fallback address gets it.
        self.jobs.notify_address = FALLBACK
        self.jobs.attach_limit_mb = 1
        transaction.commit()

    def run_job(self, user, report, params=None, format=None):
        zope.login(self.app["acl_users"], user)
        job = submit(self.queue, report, "/docs", params or {}, format=format)
        transaction.commit()  # the eager fixture runs it now, as a worker would
        transaction.begin()
        return self.jobs.get(job.id)

    def test_a_finished_report_mails_its_owner_a_link_and_the_pdf(self):
        job = self.run_job(testing.REPORTER, "object-inventory")
        self.assertEqual(job.state, "done", job.error_message)
        [(recipients, message)] = self.smtp.wait_for(1)
        self.assertEqual(recipients, [FALLBACK])
        self.assertEqual(message["From"], SENDER)
        self.assertIn("Your report is ready: Object inventory of /docs", message["Subject"])
        body = message.get_body(("plain",)).get_content()
        self.assertIn(f"http://reports.example.com{job.result_path}", body)
        self.assertIn(job.id, body)
        [attachment] = message.iter_attachments()
        self.assertEqual(attachment.get_content_type(), "application/pdf")
        self.assertEqual(attachment.get_filename(), job.result_path.rsplit("/", 1)[-1])
        text = pypdf.PdfReader(io.BytesIO(attachment.get_content())).pages[0].extract_text()
        self.assertIn("Object inventory", text)

    def test_a_csv_result_is_attached_as_csv(self):
        job = self.run_job(testing.REPORTER, "object-inventory", format="csv")
        self.assertEqual(job.state, "done", job.error_message)
        [(_, message)] = self.smtp.wait_for(1)
        [attachment] = message.iter_attachments()
        self.assertEqual(attachment.get_content_type(), "text/csv")
        self.assertTrue(attachment.get_filename().endswith(".csv"))
        rows = list(csv.reader(io.StringIO(attachment.get_content())))
        self.assertIn("agenda.txt", str(rows))

    def test_no_attachment_when_the_limit_is_zero_only_the_link(self):
        self.jobs.attach_limit_mb = 0
        transaction.commit()
        job = self.run_job(testing.REPORTER, "object-inventory")
        [(_, message)] = self.smtp.wait_for(1)
        self.assertEqual(list(message.iter_attachments()), [])
        self.assertIn(job.result_path, message.get_content())

    def test_a_result_above_the_limit_is_linked_not_attached(self):
        job = self.run_job(testing.REPORTER, "object-inventory")
        self.smtp.wait_for(1)
        manage_addFile(self.app, "big.pdf", b"%PDF" + b"x" * (1024 * 1024 + 1),
                       "Big", "application/pdf")
        message, server = notifications.compose(
            self.queue, job, self.app["big.pdf"], True, notifications.SETTINGS.of(self.jobs))
        self.assertEqual(list(message.iter_attachments()), [])
        self.assertEqual((server.host, server.port), ("127.0.0.1", self.smtp.port))
        # One byte less than a megabyte over: the limit itself is attached.
        self.app["big.pdf"].update_data(b"x" * (1024 * 1024))
        message, _ = notifications.compose(
            self.queue, job, self.app["big.pdf"], True, notifications.SETTINGS.of(self.jobs))
        self.assertEqual(len(list(message.iter_attachments())), 1)

    def test_a_failed_report_mails_the_error_text_without_traceback(self):
        job = self.run_job(testing.MANAGER, "wait-and-report", {"seconds": "0", "fail": "on"})
        self.assertEqual(job.state, "failed")
        [(recipients, message)] = self.smtp.wait_for(1)
        self.assertEqual(recipients, [FALLBACK])
        self.assertIn("Your report failed", message["Subject"])
        body = message.get_content()
        self.assertIn("failed on purpose after waiting 0", body)
        self.assertIn(f"http://reports.example.com{job.error_path}", body)
        self.assertNotIn("Traceback", body)
        self.assertNotIn('File "', body)
        self.assertNotIn("site-packages", body)
        self.assertEqual(list(message.iter_attachments()), [])

    def test_mail_server_down_the_job_is_done_and_a_warning_logged(self):
        self.app.MailHost.smtp_port = free_port()  # nobody listens there
        transaction.commit()
        with self.assertLogs("collective.asyncreports", logging.WARNING) as logged:
            job = self.run_job(testing.REPORTER, "object-inventory")
        self.assertEqual(job.state, "done", job.error_message)
        self.assertEqual(self.smtp.messages, [])
        [line] = [line for line in logged.output if "notification" in line]
        self.assertIn(f"job {job.id}: notification to {FALLBACK} not sent", line)

    def test_no_address_no_mail_logged_at_info(self):
        self.jobs.notify_address = ""
        transaction.commit()
        with self.assertLogs("collective.asyncreports", logging.INFO) as logged:
            job = self.run_job(testing.REPORTER, "object-inventory")
        self.assertEqual(job.state, "done")
        self.assertIn(f"owner {testing.REPORTER} has no email address", "\n".join(logged.output))
        self.assertEqual(self.smtp.messages, [])

    def test_notifications_off_send_nothing(self):
        self.jobs.notify_submitter = False
        transaction.commit()
        self.assertEqual(self.run_job(testing.REPORTER, "object-inventory").state, "done")
        self.assertEqual(self.smtp.messages, [])


class CommitTests(unittest.TestCase):
    """The hook sends only when the ending's own transaction commits."""

    layer = testing.FUNCTIONAL_TESTING

    def setUp(self):
        self.smtp = SMTPServer().start()
        self.addCleanup(self.smtp.stop)
        app = self.layer["app"]
        app._setObject("MailHost", MailHost("MailHost", smtp_host="127.0.0.1",
                                            smtp_port=self.smtp.port))
        jobs = app[testing.QUEUE_ID].job_queue()
        jobs.notify_submitter, jobs.mail_from, jobs.notify_address = True, SENDER, FALLBACK
        self.job_id = jobs.enqueue("object-inventory", "/docs", {}, testing.REPORTER).id
        transaction.commit()
        self.db = self.layer["zodbDB"]

    def ending(self):
        """A worker-like connection with its own transaction manager, in which
        the finished event's subscriber ran (the job as its object)."""
        manager = TransactionManager()
        connection = self.db.open(transaction_manager=manager)
        self.addCleanup(connection.close)
        manager.begin()
        queue = connection.root()["Application"][testing.QUEUE_ID]
        job = queue.job_queue().get(self.job_id)
        job.result_path = "/asyncreports/results/nothing.pdf"
        notifications.job_finished(events.JobFinished(job, queue, None))
        return manager, queue

    def test_an_aborted_ending_sends_nothing(self):
        manager, _ = self.ending()
        manager.abort()
        manager, _ = self.ending()
        manager.commit()
        self.assertEqual(len(self.smtp.wait_for(1)), 1)

    def test_a_conflicting_ending_sends_nothing(self):
        manager, queue = self.ending()
        other = TransactionManager()
        connection = self.db.open(transaction_manager=other)
        self.addCleanup(connection.close)
        other.begin()
        connection.root()["Application"][testing.QUEUE_ID].job_queue().get(
            self.job_id).progress = 50
        other.commit()
        queue.job_queue().get(self.job_id).progress = 60
        with self.assertLogs("collective.asyncreports", logging.INFO) as logged:
            with self.assertRaises(ConflictError):
                manager.commit()
        manager.abort()
        self.assertIn("notification dropped: its commit failed", "\n".join(logged.output))
        self.assertEqual(self.smtp.messages, [])


class PloneNotificationTests(unittest.TestCase):
    """In Plone: the member's email, the site's MailHost and from-address."""

    layer = plone_testing.EAGER_FUNCTIONAL_TESTING

    def setUp(self):
        self.plone_testing = plone_testing
        self.smtp = SMTPServer().start()
        self.addCleanup(self.smtp.stop)
        self.portal = self.layer["portal"]
        mail_host = self.portal.MailHost
        mail_host.smtp_host, mail_host.smtp_port = "127.0.0.1", self.smtp.port
        plone_api.portal.set_registry_record("plone.email_from_address", "site@example.org")
        plone_api.portal.set_registry_record("plone.email_from_name", "Intranet")
        plone_api.portal.set_registry_record("collective.asyncreports.notify_submitter", True)
        plone_api.portal.set_registry_record("collective.asyncreports.attach_limit_mb", 5)
        transaction.commit()

    def test_the_members_email_and_the_sites_from_address(self):
        with plone_api.env.adopt_user(username=self.plone_testing.EDITOR):
            job_id = api.enqueue("content-inventory", self.portal.docs)
            transaction.commit()
        job = self.portal.portal_asyncreports.job_queue().get(job_id)
        self.assertEqual(job.state, "done", job.error_message)
        [(recipients, message)] = self.smtp.wait_for(1)
        self.assertEqual(recipients, [f"{self.plone_testing.EDITOR}@example.org"])
        self.assertEqual(message["From"], "Intranet <site@example.org>")
        site_path = "/".join(self.portal.getPhysicalPath())
        self.assertIn(self.plone_testing.SERVER_URL + job.result_path[len(site_path):],
                      message.get_body(("plain",)).get_content())
        [attachment] = message.iter_attachments()
        self.assertEqual(attachment.get_content_type(), "application/pdf")
        self.assertIn("Staff handbook", pypdf.PdfReader(
            io.BytesIO(attachment.get_content())).pages[0].extract_text())

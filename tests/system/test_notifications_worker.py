"""A real worker on a real ZEO server mails the owner of a finished job (real SMTP server)."""

import unittest

from Products.MailHost.MailHost import MailHost

from tests.processes import System
from tests.smtp import SMTPServer


class WorkerNotificationTests(unittest.TestCase):
    def setUp(self):
        self.smtp = SMTPServer().start()
        self.addCleanup(self.smtp.stop)
        self.system = System()
        self.addCleanup(self.system.close)
        with self.system.queue() as queue:
            queue.getPhysicalRoot()._setObject(
                "MailHost", MailHost("MailHost", smtp_host="127.0.0.1", smtp_port=self.smtp.port))
            jobs = queue.job_queue()
            jobs.notify_submitter = True
            jobs.mail_from = "reports@example.org"
            jobs.notify_address = "desk@example.org"  # admin has no email property

    def test_a_finished_job_mails_its_owner(self):
        worker = self.system.start_worker()
        job_id = self.system.submit("noop")
        self.system.wait_for_state(job_id, "done", timeout=60)
        [(recipients, message)] = self.smtp.wait_for(1, timeout=30)
        self.assertEqual(recipients, ["desk@example.org"])
        self.assertIn("Your report is ready", message["Subject"])
        result_path = self.system.job(job_id)["result_path"]
        self.assertIn(result_path, message.get_body(("plain",)).get_content())
        self.system.wait_for_log(worker, f"job {job_id}: notification sent")

"""The PDF in the submitter's language, else the site's: a Plone site's jobs run by the worker."""

import unittest

import transaction
from plone import api
from zope.component.hooks import setSite

from collective.asyncreports import api as asyncreports_api
from collective.asyncreports.plone import testing
from collective.asyncreports.plone.queue import QUEUE_ID
from collective.asyncreports.worker import runner
from tests.integration.test_i18n import set_site_language
from tests.processes import pdf_text
from tests.smtp import SMTPServer


WORKER = "i18n-test-worker"
GERMAN_MONTHS = ("Januar|Februar|März|April|Mai|Juni|Juli|August|September|Oktober|"
                 "November|Dezember")
SPANISH_MONTHS = ("enero|febrero|marzo|abril|mayo|junio|julio|agosto|septiembre|"
                  "octubre|noviembre|diciembre")


class PloneReportLanguageTests(unittest.TestCase):
    layer = testing.FUNCTIONAL_TESTING

    def setUp(self):
        self.portal = self.layer["portal"]
        self.queue = self.portal[QUEUE_ID]
        self.jobs = self.queue.job_queue()
        self.queue_path = "/".join(self.queue.getPhysicalPath())
        self.runner = runner.JobRunner(self.layer["zodbDB"], step_backoff=0)
        set_site_language("es")

    def pdf_of(self, report, owner=testing.EDITOR):
        job = self.jobs.enqueue(report, "/plone/docs", {}, owner_id=owner,
                                owner_folder="/plone/acl_users", queue_path=self.queue_path)
        transaction.commit()
        (claimed,) = self.jobs.claim(WORKER)
        transaction.commit()
        outcome = self.runner.run(self.queue_path, job.id, claimed.lease_token)
        setSite(self.portal)  # the runner leaves no site behind
        transaction.begin()
        job = self.jobs.get(job.id)
        self.assertEqual((outcome, job.state), (runner.DONE, "done"), job.error_message)
        return pdf_text(self.portal.unrestrictedTraverse(job.result_path).file.data)

    def set_language_of(self, user_id, language):
        api.user.get(userid=user_id).setMemberProperties(mapping={"language": language})
        transaction.commit()

    def test_a_german_submitter_gets_a_german_pdf_on_a_spanish_site(self):
        self.set_language_of(testing.EDITOR, "de")
        text = self.pdf_of("content-inventory")
        for german in ("Inhaltsinventar: Documents", "Einträge pro Typ", "Einträge pro Status",
                       "Einträge pro Typ und Status", "Anzahl", "Summe", "Titel", "Pfad",
                       "Geändert (UTC)", "Ersteller", "Gefundene Einträge", "Seite 1 von 2"):
            self.assertIn(german, text)
        # The footer's date in German words, in UTC.
        self.assertRegex(text, rf"Erstellt am \d{{1,2}}\. ({GERMAN_MONTHS}) \d{{4}} "
                               r"\d\d:\d\d:\d\d UTC")
        for other in ("Items per type", "Elementos", "Page 1 of", "Generated"):
            self.assertNotIn(other, text)

    def test_a_regional_member_language_uses_its_base_catalog(self):
        self.set_language_of(testing.EDITOR, "de-AT")
        text = self.pdf_of("folder-summary")
        for german in ("Ordnerübersicht: Documents", "Ordner:", "Einträge:", "Typ",
                       "Beschreibung", "Seite 1 von 1", "Erstellt am"):
            self.assertIn(german, text)

    def test_without_a_submitter_language_the_site_language_is_used(self):
        self.assertFalse(api.user.get(userid=testing.EDITOR).getProperty("language"))
        text = self.pdf_of("content-inventory")
        for spanish in ("Inventario de contenidos: Documents", "Elementos por tipo",
                        "Elementos por estado", "Cantidad", "Título", "Ruta", "Creador",
                        "Elementos encontrados", "Página 1 de 2"):
            self.assertIn(spanish, text)
        self.assertRegex(text, rf"Generado el \d{{1,2}} de ({SPANISH_MONTHS}) de \d{{4}} "
                               r"\d\d:\d\d:\d\d UTC")
        for other in ("Items per type", "Einträge", "Page 1 of"):
            self.assertNotIn(other, text)

    def test_each_owner_has_their_own_language_and_nothing_leaks_between_jobs(self):
        self.set_language_of(testing.EDITOR, "de")
        self.assertIn("Einträge pro Typ", self.pdf_of("content-inventory"))
        # The next job, of another owner, on the same runner: the site's Spanish again.
        text = self.pdf_of("content-inventory", owner=testing.SITE_ADMIN)
        self.assertIn("Elementos por tipo", text)
        self.assertNotIn("Einträge", text)


class NotificationLanguageTests(unittest.TestCase):
    """The mail about a finished report is in the language of its PDF."""

    layer = testing.EAGER_FUNCTIONAL_TESTING

    def setUp(self):
        self.smtp = SMTPServer().start()
        self.addCleanup(self.smtp.stop)
        self.portal = self.layer["portal"]
        mail_host = self.portal.MailHost
        mail_host.smtp_host, mail_host.smtp_port = "127.0.0.1", self.smtp.port
        api.portal.set_registry_record("plone.email_from_address", "site@example.org")
        api.portal.set_registry_record("collective.asyncreports.notify_submitter", True)
        api.portal.set_registry_record("collective.asyncreports.attach_limit_mb", 0)
        set_site_language("es")

    def mail_of_a_report(self):
        with api.env.adopt_user(username=testing.EDITOR):
            job_id = asyncreports_api.enqueue("content-inventory", self.portal.docs)
            transaction.commit()
        job = self.portal[QUEUE_ID].job_queue().get(job_id)
        self.assertEqual(job.state, "done", job.error_message)
        [(_recipients, message)] = self.smtp.wait_for(1)
        return message["Subject"], message.get_body(("plain",)).get_content()

    def test_the_site_language_without_a_member_language(self):
        subject, body = self.mail_of_a_report()
        self.assertIn("Inventario de contenidos", subject)
        self.assertNotIn("Your report", subject + body)

    def test_a_german_member_gets_german_mail(self):
        api.user.get(userid=testing.EDITOR).setMemberProperties(mapping={"language": "de"})
        transaction.commit()
        subject, body = self.mail_of_a_report()
        self.assertEqual(subject, "Ihr Bericht ist fertig: Inhaltsinventar von /plone/docs")
        self.assertIn("ist fertig", body)

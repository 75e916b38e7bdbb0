"""The Plone pages in the site's language: German and Spanish from locales/."""

import unittest

import transaction
from plone import api
from zope.i18n import translate

from collective.asyncreports import testing as base_testing
from collective.asyncreports.plone import _
from collective.asyncreports.plone import testing
from collective.asyncreports.plone.queue import QUEUE_ID


def set_site_language(language):
    """The site's language, as Site Setup > Language sets it (no request negotiation)."""
    api.portal.set_registry_record("plone.available_languages", [language])
    api.portal.set_registry_record("plone.default_language", language)
    transaction.commit()


class CatalogTests(unittest.TestCase):
    """The compiled catalogs are registered (configure.zcml) and loaded."""

    layer = testing.INTEGRATION_TESTING

    def test_german_and_spanish_messages(self):
        self.assertEqual(translate(_("Generate report"), target_language="de"),
                         "Bericht erstellen")
        self.assertEqual(translate(_("My reports"), target_language="es"), "Mis informes")

    def test_mapping_is_kept(self):
        message = _("Paused schedule ${id}.", mapping={"id": "s1"})
        self.assertEqual(translate(message, target_language="de"), "Zeitplan s1 pausiert.")
        self.assertEqual(translate(message, target_language="en"), "Paused schedule s1.")


class GermanSiteTests(unittest.TestCase):
    layer = testing.FUNCTIONAL_TESTING

    def setUp(self):
        self.portal = self.layer["portal"]
        self.portal_url = self.portal.absolute_url()
        set_site_language("de")

    def open(self, path, user_id):
        browser = base_testing.browser(self.layer["app"], user_id)
        browser.open(f"{self.portal_url}/{path}")
        return browser

    def test_generate_report_is_german(self):
        contents = self.open("docs/@@generate-report", testing.EDITOR).contents
        self.assertIn("Bericht erstellen", contents)
        self.assertNotIn(">Generate report<", contents)

    def test_generate_report_form_fields_are_german(self):
        browser = self.open("docs/@@generate-report", testing.EDITOR)
        # The first report type's form: Repeat's choices and the Format field.
        browser.getLink(url="report=").click()
        self.assertIn("Wiederholung", browser.contents)
        self.assertIn("Einmal (jetzt)", browser.contents)
        self.assertIn("Täglich", browser.contents)

    def test_my_reports_is_german(self):
        jobs = self.portal[QUEUE_ID].job_queue()
        jobs.enqueue("content-inventory", "/plone/docs", {}, owner_id=testing.EDITOR,
                     owner_folder="/plone/acl_users", queue_path="/plone/" + QUEUE_ID)
        transaction.commit()
        contents = self.open("@@my-reports", testing.EDITOR).contents
        # The job's report title and its state too (translated by value).
        for german in ("Meine Berichte", "Meine Zeitpläne", "Eingereiht", "Fortschritt",
                       "Filtern", "alle", "Inhaltsinventar", ">eingereiht"):
            self.assertIn(german, contents)
        self.assertNotIn(">My reports<", contents)

    def test_site_setup_queue_is_german(self):
        contents = self.open("@@asyncreports-jobs", testing.SITE_ADMIN).contents
        for german in ("Warteschlange", "Zeitpläne", "Worker", "Bereinigen", "Auftrag"):
            self.assertIn(german, contents)

    def test_control_panel_is_german(self):
        contents = self.open("@@asyncreports-controlpanel", testing.SITE_ADMIN).contents
        # The queue's settings too, which come from its settings table (queue/settings.py).
        for german in ("Asynchrone Berichte", "Ergebnisordner", "Server-URL",
                       "Leasing-Zeit (Sekunden)", "Maximale Versuche", "Aufbewahrung (Tage)"):
            self.assertIn(german, contents)

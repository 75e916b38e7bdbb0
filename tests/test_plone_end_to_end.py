"""End to end in Plone: a site on a real ZEO server, the browser form, a real worker."""

import base64
import io
import json
import shutil
import tempfile
import unittest
from pathlib import Path

import pypdf
import transaction
import ZEO
from wsgiproxy import HostProxy
from zope.testbrowser.browser import Browser

from collective.asyncreports.devinstance import Instance
from collective.asyncreports.devinstance import free_port


QUEUE = "/Plone/portal_asyncreports"


class PloneSystemLayer:
    """ZEO server, Zope with /Plone (add-on installed, demo folder, editor), by PID."""

    @classmethod
    def setUp(cls):
        cls.home = Path(tempfile.mkdtemp(prefix="asyncreports-plone-e2e-"))
        cls.instance = Instance(cls.home, free_port(), free_port())
        try:
            cls.instance.write_configuration()
            cls.instance.start_zeo()
            cls.instance.bootstrap("--password", "admin-password", "--plone")
            cls.add_member("member", "member-password")
            cls.instance.start_zope()
        except BaseException:
            cls.tearDown()
            raise

    @classmethod
    def tearDown(cls):
        cls.instance.stop_all()
        shutil.rmtree(cls.home, ignore_errors=True)

    @classmethod
    def add_member(cls, user_id, password):
        """A plain Member of the site, written over a ZEO connection of our own."""
        db = ZEO.DB(("127.0.0.1", cls.instance.zeo_port))
        try:
            with db.transaction() as connection:
                users = connection.root()["Application"].Plone.acl_users
                users.source_users.addUser(user_id, user_id, password)
                users.portal_role_manager.assignRoleToPrincipal("Member", user_id)
        finally:
            transaction.abort()
            db.close()


class PloneEndToEndTests(unittest.TestCase):
    layer = PloneSystemLayer

    def browser(self, user=None, password=None):
        browser = Browser(wsgi_app=HostProxy(self.layer.instance.url))
        browser.raiseHttpErrors = False
        browser.addHeader("Accept", "text/html")  # a person's browser, not a REST client
        if user:
            token = base64.b64encode(f"{user}:{password}".encode()).decode()
            browser.addHeader("Authorization", f"Basic {token}")
        return browser

    def test_editor_queues_from_the_form_a_worker_runs_it_only_the_editor_gets_it(self):
        instance = self.layer.instance
        editor = self.browser("editor", instance.editor_password())
        editor.open(f"{instance.url}/Plone/demo/@@generate-report")
        editor.getLink("Content inventory").click()
        editor.getControl(name="form.buttons.queue").click()
        self.assertIn("@@my-reports", editor.url)

        result = instance.run_command("worker", "--once")
        self.assertIn(" done in ", result.stderr)
        (job,) = json.loads(instance.run_command(
            "jobs", "--queue", QUEUE, "--json").stdout)
        self.assertEqual((job["state"], job["owner"], job["report"]),
                         ("done", "editor", "content-inventory"))
        self.assertTrue(job["result_url"].startswith(f"{instance.url}/Plone/reports/"))

        editor.open(job["result_url"] + "/@@download/file")
        self.assertEqual(editor.headers["Content-Type"], "application/pdf")
        text = "\n".join(page.extract_text()
                         for page in pypdf.PdfReader(io.BytesIO(editor.contents)).pages)
        for title in ("Welcome", "Annual plan", "Meeting notes", "News"):
            self.assertIn(title, text)

        for intruder in (self.browser("member", "member-password"), self.browser()):
            intruder.open(job["result_url"] + "/@@download/file")
            self.assertNotEqual(intruder.headers.get("Content-Type"), "application/pdf")
            self.assertFalse(intruder.url.endswith("/@@download/file")
                             and intruder.headers["status"].startswith("200"))

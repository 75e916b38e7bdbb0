"""End to end in Plone: a site on a real database server (ZEO, or PostgreSQL with
STORAGE=postgresql), the browser form, a real worker."""

import base64
import json

from wsgiproxy import HostProxy
from zope.testbrowser.browser import Browser

from tests.layers import PloneSystemLayer
from tests.layers import SystemLayerTestCase
from tests.processes import pdf_text


QUEUE = "/Plone/portal_asyncreports"


class PloneEndToEndTests(SystemLayerTestCase):
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
        text = pdf_text(editor.contents)
        for title in ("Welcome", "Annual plan", "Meeting notes", "News"):
            self.assertIn(title, text)

        for intruder in (self.browser("member", "member-password"), self.browser()):
            intruder.open(job["result_url"] + "/@@download/file")
            self.assertNotEqual(intruder.headers.get("Content-Type"), "application/pdf")
            self.assertFalse(intruder.url.endswith("/@@download/file")
                             and intruder.headers["status"].startswith("200"))

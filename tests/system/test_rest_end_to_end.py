"""The REST API end to end: a real ZEO server, Zope and worker; the REST page's script."""

import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

import requests

from tests.layers import PloneSystemLayer
from tests.processes import pdf_text
from tests.processes import wait_for


ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "scripts" / "rest_example.py"


class RestPageCopyTests(unittest.TestCase):

    def test_the_rest_page_shows_the_script_as_it_is(self):
        page = (ROOT / "docs" / "reference" / "rest.rst").read_text(encoding="utf-8")
        body = EXAMPLE.read_text(encoding="utf-8").split("\n")[8:]
        indented = "\n".join(("    " + line) if line else "" for line in body).rstrip()
        self.assertIn(indented, page)


class RestEndToEndTests(unittest.TestCase):
    layer = PloneSystemLayer

    def session(self, user, password):
        session = requests.Session()
        session.auth = (user, password)
        session.headers["Accept"] = "application/json"
        self.addCleanup(session.close)
        return session

    def test_readme_script_queues_waits_and_downloads_the_pdf(self):
        instance = self.layer.instance
        password = instance.editor_password()
        editor = self.session("editor", password)
        output = Path(tempfile.mkdtemp()) / "inventory.pdf"
        # The layer's system is shared: the editor may have jobs of other tests.
        before = editor.get(f"{instance.url}/Plone/@reports").json()["items_total"]
        script = subprocess.Popen(
            [sys.executable, str(EXAMPLE), f"{instance.url}/Plone/demo", "editor", password,
             str(output)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            wait_for(lambda: editor.get(f"{instance.url}/Plone/@reports").json()["items_total"]
                     > before, what="the script's job")
            worker = instance.run_command("worker", "--once")
            self.assertIn(" done in ", worker.stderr)
            stdout, stderr = script.communicate(timeout=120)
        finally:
            if script.poll() is None:
                script.kill()
                script.wait()
        self.assertEqual(script.returncode, 0, stderr)
        self.assertIn("bytes in", stdout)
        text = pdf_text(output.read_bytes())
        for title in ("Welcome", "Annual plan", "Meeting notes"):
            self.assertIn(title, text)

        listing = editor.get(f"{instance.url}/Plone/@reports").json()
        self.assertEqual(listing["items_total"], before + 1)
        job = listing["items"][0]  # newest first: the script's
        self.assertEqual((job["state"], job["result"]["content-type"]),
                         ("done", "application/pdf"))
        member = self.session("member", "member-password")
        self.assertIn(member.get(job["@id"]).status_code, (401, 404))
        self.assertIn(member.get(job["result"]["download"]).status_code, (401, 404))
        self.assertEqual(requests.get(job["@id"], headers={"Accept": "application/json"})
                         .status_code, 401)

"""The README's links into docs/ lead somewhere, and what the docs' autodoc reads imports alone.

``make docs`` checks the Sphinx site itself (warnings are errors); these checks need no Sphinx.
"""

import re
import subprocess
import sys
import unittest
from pathlib import Path


ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.rst"
# The modules docs/authors/api.rst and the reference's directives (docs/_ext) import.
DOCUMENTED_MODULES = (
    "collective.asyncreports.api",
    "collective.asyncreports.errors",
    "collective.asyncreports.events",
    "collective.asyncreports.rendering",
    "collective.asyncreports.reports.base",
    "collective.asyncreports.reports.interfaces",
    "collective.asyncreports.cli.arguments",
    "collective.asyncreports.queue.settings",
)


class ReadmeTests(unittest.TestCase):
    def test_every_relative_link_and_image_of_the_readme_is_a_file(self):
        text = README.read_text(encoding="utf-8")
        targets = re.findall(r"`[^`<]+<([^>]+)>`_", text)
        targets += re.findall(r"^\.\. image:: (\S+)$", text, re.M)
        relative = [target for target in targets if "://" not in target]
        self.assertGreaterEqual(len(relative), 20, relative)
        missing = [target for target in relative if not (ROOT / target).is_file()]
        self.assertEqual(missing, [])

    def test_the_readme_shows_three_screenshots(self):
        images = re.findall(r"^\.\. image:: (\S+)$", README.read_text(encoding="utf-8"), re.M)
        self.assertEqual(len(images), 3, images)
        self.assertTrue(all(image.startswith("docs/screenshots/") for image in images))


class AutodocImportTests(unittest.TestCase):
    def test_the_documented_modules_import_without_a_zope_instance(self):
        # A fresh interpreter with no zope.conf and no Zope started, as sphinx-build runs.
        code = "import importlib, sys\nfor name in sys.argv[1:]: importlib.import_module(name)"
        result = subprocess.run([sys.executable, "-c", code, *DOCUMENTED_MODULES],
                                capture_output=True, text=True, cwd=ROOT / "docs", timeout=120)
        self.assertEqual(result.returncode, 0, result.stderr)

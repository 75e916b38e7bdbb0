"""Production code imports no test code, and the [plone] extra installs none.

The wheel carries ``testing.py``, ``plone/testing.py`` and ``eager.py`` for add-on authors'
tests, but a site installs ``collective.asyncreports[plone]`` without the test extras, so
any other module that imported them (or a test package) would fail there.
"""

import ast
import importlib.metadata
import os
import re
import unittest

import collective.asyncreports


PACKAGE_DIR = collective.asyncreports.__path__[0]
# The modules that are test code, relative to the package.
TEST_MODULES = ("testing.py", os.path.join("plone", "testing.py"), "eager.py")
# What only the test extras install (test, test-plone), and our own test modules.
TEST_IMPORTS = (
    "aiosmtpd", "playwright", "plone.app.testing", "plone.testing", "pypdf", "requests",
    "schemathesis", "zope.testbrowser", "zope.testrunner",
    "collective.asyncreports.testing", "collective.asyncreports.plone.testing",
    "collective.asyncreports.eager",
)


def _is_test_import(name):
    return any(name == test or name.startswith(test + ".") for test in TEST_IMPORTS)


def _imports(path):
    """Absolute module names the file imports (relative imports resolved)."""
    with open(path, encoding="utf-8") as source:
        tree = ast.parse(source.read(), path)
    module = "collective.asyncreports." + os.path.relpath(path, PACKAGE_DIR)[:-3].replace(
        os.sep, ".")
    package = module.rsplit(".", 1)[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parent = ".".join(parts[:len(parts) - node.level + 1])
                base = f"{parent}.{base}" if base else parent
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def _production_files(suffix):
    for folder, _, files in os.walk(PACKAGE_DIR):
        for name in files:
            path = os.path.join(folder, name)
            if name.endswith(suffix) and os.path.relpath(path, PACKAGE_DIR) not in TEST_MODULES:
                yield path


class ProductionCodeTests(unittest.TestCase):
    def test_no_module_imports_test_code(self):
        found = {os.path.relpath(path, PACKAGE_DIR): sorted(
            {name for name in _imports(path) if _is_test_import(name)})
            for path in _production_files(".py")}
        self.assertEqual({path: names for path, names in found.items() if names}, {})

    def test_no_zcml_names_test_code(self):
        dotted = re.compile(r'"([A-Za-z_][\w.]*)"')
        found = {}
        for path in _production_files(".zcml"):
            with open(path, encoding="utf-8") as source:
                names = [name for name in dotted.findall(source.read())
                         if _is_test_import(name) or name.startswith(".testing")]
            if names:
                found[os.path.relpath(path, PACKAGE_DIR)] = names
        self.assertEqual(found, {})

    def test_plone_extra_installs_no_test_package(self):
        requirements = importlib.metadata.requires("collective.asyncreports") or []
        plone = [req for req in requirements if re.search(r"""extra\s*==\s*["']plone["']""", req)]
        self.assertIn("Products.CMFPlone", " ".join(plone))
        names = [re.split(r"[\s;<>=!\[]", req, maxsplit=1)[0] for req in plone]
        self.assertEqual([name for name in names if _is_test_import(name)], [])

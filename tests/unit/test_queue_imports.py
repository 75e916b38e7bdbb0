"""queue/ is plain ZODB: importing it loads nothing of Zope, Plone or zope.*.

Workers, scripts and tests use the queue model without a Zope instance
(see DESIGN.md). The package's own ``__init__`` loads ZEO (it patches the
ZEO client, see zeo_oids), and ZEO loads zope.* packages, so the check
imports ``queue/`` below a stub of ``collective.asyncreports`` that has its
path but runs none of its code.
"""

import ast
import functools
import json
import os
import subprocess
import sys
import unittest

import collective.asyncreports


PACKAGE_DIR = collective.asyncreports.__path__[0]

# Top-level names of Zope, Plone and their libraries.
FORBIDDEN = frozenset((
    "AccessControl", "Acquisition", "App", "OFS", "Plone", "Products", "ZPublisher",
    "Zope", "Zope2", "plone", "zope",
))
# persistent and BTrees themselves need zope.interface: allowed when they
# load it, never when our own code imports it.
NEEDED_BY_ZODB = "zope.interface"

# Runs in a fresh interpreter: argv[1] is the package's directory. Prints what
# the imports loaded that was not loaded at start-up (site's .pth files make
# some namespace packages, e.g. Products, before any code runs), and the
# files of our own modules among them.
IMPORT_EVERY_QUEUE_MODULE = r"""
import importlib, json, os, pkgutil, sys, types
at_start = set(sys.modules)
import collective
package = types.ModuleType("collective.asyncreports")
package.__path__ = [sys.argv[1]]
sys.modules[package.__name__] = collective.asyncreports = package
queue = importlib.import_module("collective.asyncreports.queue")
for info in pkgutil.iter_modules(queue.__path__, "collective.asyncreports.queue."):
    importlib.import_module(info.name)
loaded = sorted(set(sys.modules) - at_start)
ours = {name: sys.modules[name].__file__ for name in loaded
        if name.startswith("collective.asyncreports.")}
print(json.dumps({"loaded": loaded, "ours": ours}))
"""


def _forbidden(name):
    return name.split(".")[0] in FORBIDDEN


def _imported_names(path):
    """Absolute module names that the file at ``path`` imports anywhere in it."""
    with open(path, encoding="utf-8") as source:
        tree = ast.parse(source.read(), path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            yield node.module


@functools.cache
def _imports():
    """What importing every queue module in a fresh interpreter loaded (once)."""
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_EVERY_QUEUE_MODULE, PACKAGE_DIR],
        capture_output=True, text=True, timeout=120, check=False,
    )
    if done.returncode:
        raise AssertionError(f"importing queue/ failed:\n{done.stderr}")
    return json.loads(done.stdout)


class QueueImportsNoZopeTests(unittest.TestCase):
    def setUp(self):
        self.imports = _imports()

    def test_every_queue_module_and_errors_were_imported(self):
        ours = self.imports["ours"]
        files = {os.path.basename(path) for name, path in ours.items()
                 if name.startswith("collective.asyncreports.queue")}
        on_disk = {name for name in os.listdir(os.path.join(PACKAGE_DIR, "queue"))
                   if name.endswith(".py")}
        self.assertEqual(files, on_disk)
        self.assertIn("collective.asyncreports.errors", ours)

    def test_the_package_init_did_not_run(self):
        # Else the check would see what the package __init__ loads, not queue/.
        self.assertNotIn("collective.asyncreports.zeo_oids", self.imports["loaded"])

    def test_nothing_of_zope_or_plone_is_loaded(self):
        loaded = [name for name in self.imports["loaded"] if _forbidden(name)
                  and name != "zope" and not name.startswith(NEEDED_BY_ZODB)]
        self.assertEqual(loaded, [])

    def test_our_modules_import_no_zope_themselves(self):
        # zope.interface too: it is loaded already, by persistent, so only
        # the import statements tell whether our code uses it.
        found = [
            f"{name} imports {imported}"
            for name, path in sorted(self.imports["ours"].items())
            for imported in _imported_names(path)
            if _forbidden(imported)
        ]
        self.assertEqual(found, [])


class ForbiddenNamesTests(unittest.TestCase):
    """The check itself: what counts as Zope."""

    def test_names(self):
        for name in ("zope.interface", "zope.component", "Products.CMFCore", "OFS.SimpleItem",
                     "AccessControl", "ZPublisher.HTTPRequest", "plone.api", "Acquisition"):
            self.assertTrue(_forbidden(name), name)
        for name in ("persistent", "BTrees.OOBTree", "ZODB", "transaction", "zopefoo"):
            self.assertFalse(_forbidden(name), name)

"""``collective`` is a native (PEP 420) namespace on every stack (Plone 6.2, PLIP 3928).

Mixing a pkg_resources-style ``collective/__init__.py`` with native portions in one venv hides
one or the other; this checks the namespace as installed, with collective.monkeypatcher (a
Plone dependency) where it is there.
"""

import importlib.util
import unittest
from pathlib import Path

import collective


class NamespaceTests(unittest.TestCase):
    def test_collective_is_a_native_namespace(self):
        self.assertIsNone(getattr(collective, "__file__", None))
        for portion in collective.__path__:
            self.assertFalse((Path(portion) / "__init__.py").exists(), portion)

    def test_this_package_imports_beside_the_other_collective_packages(self):
        import collective.asyncreports

        self.assertTrue(collective.asyncreports.__file__)
        if importlib.util.find_spec("collective.monkeypatcher") is None:
            self.skipTest("collective.monkeypatcher comes with Plone")
        import collective.monkeypatcher

        self.assertTrue(collective.monkeypatcher.__file__)

"""Plain Zope (``make test STACK=zope6``): test modules that need Plone skip, and say so.

Installed by ``tests/__init__.py`` only when Products.CMFPlone is not installed. A test
module of ``tests`` whose import fails for a missing Plone package (``plone.api``,
``plone.app.*``, ``Products.CMFPlone``, ``collective.asyncreports.plone.testing``'s layers,
...) becomes a module with one skipped test naming what is missing, instead of an import
error. With Plone installed nothing changes: a failing import stays an error.
"""

import importlib.abc
import importlib.machinery
import sys
import types
import unittest


# Top-level names of the packages that come only with the [plone] and [test-plone] extras;
# plone.testing (in [test]) is there on every stack, plone.app.* and plone.api are not.
PLONE_ONLY = ("plone", "Products.CMFPlone", "plone.app", "plone.api", "plone.restapi",
              "plone.base", "plone.registry", "plone.protect", "plone.namedfile", "z3c.form",
              "plone.browserlayer", "plone.dexterity",
              # the REST conformance tests' validator, installed with plone.restapi
              "jsonschema")


def needs_plone(error):
    name = error.name or ""
    if getattr(sys.modules.get(name), "__needs_plone__", None):
        return True  # a name from another test module that needs Plone (a base class, ...)
    return any(name == root or name.startswith(root + ".") for root in PLONE_ONLY) or (
        isinstance(error, ImportError) and "from 'plone'" in str(error))


def skipped_module(name, error):
    """A module whose one test skips, saying which Plone package was missing."""
    reason = f"needs Plone, not installed on this stack ({error})"

    class NeedsPlone(unittest.TestCase):
        def test_needs_plone(self):
            raise unittest.SkipTest(reason)

    NeedsPlone.__module__ = name
    NeedsPlone.__qualname__ = "NeedsPlone"
    module = types.ModuleType(name, reason)
    module.__needs_plone__ = reason
    module.NeedsPlone = NeedsPlone
    return module


class SkippingLoader(importlib.abc.Loader):
    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        try:
            self.loader.exec_module(module)
        except ImportError as error:
            if not needs_plone(error):
                raise
            stand_in = skipped_module(module.__name__, error)
            module.__dict__.clear()
            module.__dict__.update(stand_in.__dict__)


class SkippingFinder(importlib.abc.MetaPathFinder):
    """Wraps the loader of every ``tests.*.test_*`` module."""

    def find_spec(self, fullname, path, target=None):
        if not (fullname.startswith("tests.") and fullname.rsplit(".", 1)[-1].startswith("test")):
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is not None and spec.loader is not None:
            spec.loader = SkippingLoader(spec.loader)
        return spec


def install():
    if not any(isinstance(finder, SkippingFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, SkippingFinder())

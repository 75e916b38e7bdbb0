"""Sphinx configuration of the collective.asyncreports documentation (``make docs``)."""

import sys
from pathlib import Path


HERE = Path(__file__).resolve().parent
# The package from the checkout (installed editable by make install, but say so) and the
# project's own directives (_ext/asyncreports_docs.py).
sys.path[:0] = [str(HERE.parent / "src"), str(HERE / "_ext")]

project = "collective.asyncreports"
author = "collective.asyncreports maintainers"
copyright = "collective.asyncreports maintainers"

extensions = [
    "sphinx.ext.autodoc",
    "asyncreports_docs",
]

exclude_patterns = ["_build"]
# Every page is in a toctree; screenshots are images, not sources.
root_doc = "index"
html_theme = "alabaster"
html_static_path = []
html_theme_options = {"description": "Slow reports out of the web request", "fixed_sidebar": True}

autodoc_member_order = "bysource"
autodoc_typehints = "description"
# Classes and modules of Zope, Python and other packages that autodoc names in signatures:
# there is no intersphinx here (no network at build time), so they cannot be links.
nitpick_ignore_regex = [
    ("py:class", r"(zope|ZODB|persistent|BTrees|OFS|AccessControl|Products|plone)\..*"),
    ("py:class", r"(datetime|pathlib|collections|typing|enum)\..*"),
    ("py:class", r"(Exception|BaseException|KeyError|ValueError|LookupError|Interface)"),
    ("py:exc", r"(zExceptions|AccessControl)\..*"),
    # The rendering module's own records, not public API.
    ("py:class", r"(Table|charts\.Chart)"),
]

"""Packaging for collective.asyncreports."""

from pathlib import Path
from setuptools import find_namespace_packages
from setuptools import setup


# PyPI's page: the README (the docs are in docs/), then the changelog (CHANGES.rst,
# written by towncrier).
long_description = "\n\n".join(
    Path(name).read_text(encoding="utf-8") for name in ("README.rst", "CHANGES.rst"))

setup(
    name="collective.asyncreports",
    version="1.0.0a1.dev0",
    description=(
        "Queue slow reports in Zope 5 / Plone 6 and run them in ZEO-client "
        "worker processes, outside the web request."
    ),
    long_description=long_description,
    long_description_content_type="text/x-rst",
    classifiers=[
        "Development Status :: 3 - Alpha",
        "Environment :: Web Environment",
        "Framework :: Zope",
        "Framework :: Zope :: 5",
        "Framework :: Zope :: 6",
        "Framework :: Plone",
        "Framework :: Plone :: 6.1",
        "Framework :: Plone :: 6.2",
        "Framework :: Plone :: Addon",
        "License :: OSI Approved :: GNU General Public License v2 (GPLv2)",
        "Programming Language :: Python :: 3.11",
        "Programming Language :: Python :: 3.12",
        "Programming Language :: Python :: 3.13",
    ],
    keywords="Zope Plone ZEO queue worker reports PDF",
    author="collective.asyncreports maintainers",
    license="GPL version 2",
    package_dir={"": "src"},
    packages=find_namespace_packages("src", include=["collective.*"]),
    include_package_data=True,
    zip_safe=False,
    # What is tested (docs/admin/versions.rst): 3.11, 3.12, 3.13.
    python_requires=">=3.11, <3.14",
    install_requires=[
        "BTrees",
        "persistent",
        "transaction",
        "ZODB",
        "ZEO",
        "Zope",
        "Products.CMFCore",
        "arabic-reshaper",
        "croniter",
        # openpyxl writes a carriage return in a cell as is without lxml, and it reads back as \n.
        "lxml",
        "openpyxl",
        "prometheus-client",
        "python-bidi",
        "reportlab",
        "zope.component",
        "zope.interface",
        "zope.schema",
    ],
    extras_require={
        "plone": [
            "Products.CMFPlone",
            "Products.GenericSetup",
            "plone.api",
            "plone.app.contenttypes",
            "plone.app.layout<7",
            "plone.app.registry",
            "plone.app.z3cform",
            "plone.base",
            "plone.browserlayer",
            "plone.namedfile",
            "plone.protect",
            "plone.registry",
            "plone.restapi",
            "z3c.form",
        ],
        "test": [
            "aiosmtpd",
            # make i18n-check (scripts/i18n.py): the .pot and the compiled .po files.
            "i18ndude",
            "python-gettext",
            "playwright",
            "plone.testing[zope]",
            "Products.MailHost",
            "pypdf",
            "requests",
            "schemathesis",
            "zope.testbrowser",
            "zope.testrunner",
            "ruff",
        ],
        # The Plone test layers (plone/testing.py), apart from [test] because
        # plone.app.testing requires Products.CMFPlone: [test] alone stays plain Zope.
        "test-plone": [
            "plone.app.testing",
        ],
        # make docs: the Sphinx site under docs/ (pinned in every constraints file).
        "docs": [
            "Sphinx",
        ],
        # RelStorage on PostgreSQL instead of ZEO (docs/admin/postgresql.rst; make install
        # STORAGE=postgresql). psycopg2-binary: its wheels bundle libpq, so no compiler, libpq-dev
        # or pg_config is needed; RelStorage's own [postgresql] extra would build psycopg2.
        "postgresql": [
            "RelStorage",
            "psycopg2-binary",
        ],
        # make dist-check and releases (see CONTRIBUTING.rst).
        "release": [
            "build",
            "check-manifest",
            "pyroma",
            "towncrier",
            "twine",
            "zest.releaser",
            "zestreleaser.towncrier",
        ],
    },
    entry_points={
        "console_scripts": [
            "asyncreports = collective.asyncreports.cli:main",
        ],
        "z3c.autoinclude.plugin": [
            "target = plone",
        ],
    },
)

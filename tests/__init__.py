"""Tests of collective.asyncreports (run with zope-testrunner, see Makefile)."""

from collective.asyncreports.dev.bootstrap import plone_installed


if not plone_installed():
    from tests import without_plone

    without_plone.install()

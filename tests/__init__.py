"""Tests of collective.asyncreports (run with zope-testrunner, see Makefile)."""

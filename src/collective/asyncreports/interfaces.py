"""Marker interfaces of collective.asyncreports."""

from zope.interface import Interface


class IAsyncReportQueue(Interface):
    """An object holding a job queue and a results folder (ZMI or Plone)."""

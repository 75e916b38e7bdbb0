"""Plone 6 integration: profiles, control panel, forms and results as Plone content.

Loaded only when Products.CMFPlone is installed.
"""

from zope.i18nmessageid import MessageFactory


_ = MessageFactory("collective.asyncreports")

"""Which component site an object lives in: a Plone site's report types and
settings are local components, found only while that site is current."""

from zope.component.interfaces import ISite


def nearest_site(obj):
    """The closest ISite (a Plone site) above ``obj``, or None."""
    while obj is not None:
        if ISite.providedBy(obj):
            return obj
        obj = getattr(obj, "__parent__", None) or getattr(obj, "aq_parent", None)
    return None

"""What the worker fills into a report's Document: its author, page header and language.

The one place that says where they come from (``document_defaults``):

- author: the job owner's full name (a Plone member's ``fullname``), else
  the user's name;
- header text: in a Plone site the site's title (``plone.site_title``, else
  the site's Title()), in plain Zope the queue's title;
- logo: in a Plone site the logo set in Site Setup (``plone.site_logo``),
  in plain Zope none;
- language (the PDF's own words and dates, and the synthetic request's, so
  ``translate(message, context=request)`` in a report gives it too): the
  owner's Plone member property ``language`` when set, else the site's
  (``plone.default_language``), else English (plain Zope, or a queue outside
  a Plone site). It is read when the job runs, not when it is queued, so a
  scheduled run follows a changed preference, and a job needs no new field.

A report that sets any of them itself keeps its own (``Document.fill_in``).
"""

import logging

from collective.asyncreports.i18n import DEFAULT_LANGUAGE
from collective.asyncreports.i18n import normalized
from collective.asyncreports.sites import nearest_site


logger = logging.getLogger(__name__)


def document_defaults(queue, user):
    """Return ``{"author", "header_text", "logo", "language"}`` for a job of ``user``
    on ``queue``.

    :param queue: The job's queue (its site decides the header).
    :param user: The job's owner, a Zope or Plone user.
    :returns: A dict for ``exports.export(defaults=...)``; values but the
        language may be None.
    """
    site = nearest_site(queue)
    if _is_plone_site(site):
        header_text, logo = _plone_header(site)
    else:
        header_text, logo = (getattr(queue, "title", "") or None), None
    return {"author": author_name(user), "header_text": header_text, "logo": logo,
            "language": report_language(queue, user)}


def report_language(queue, user):
    """The language of what ``user``'s jobs on ``queue`` make and mail: a code, never None.

    :param queue: The job's queue (its Plone site, if any, has a language).
    :param user: The job's owner, or None when the owner is gone.
    """
    site = nearest_site(queue)
    language = None
    if _is_plone_site(site):
        language = member_language(user) or _plone_language(site)
    return normalized(language) or DEFAULT_LANGUAGE


def member_language(user):
    """The user's ``language`` property (a Plone member's preference), or None."""
    get_property = getattr(user, "getProperty", None)
    if get_property is None:
        return None
    language = get_property("language", None)
    return language if isinstance(language, str) and language.strip() else None


def author_name(user):
    """The user's full name when the user has one, else the user name, else the id."""
    get_property = getattr(user, "getProperty", None)
    if get_property is not None:
        fullname = get_property("fullname", None)
        if fullname:
            return fullname
    return user.getUserName() or user.getId()


def _is_plone_site(site):
    try:
        from plone.base.interfaces import IPloneSiteRoot
    except ImportError:  # plain Zope
        return False
    return site is not None and IPloneSiteRoot.providedBy(site)


def _plone_language(site):
    """The Plone site's language (Site Setup > Language), or None."""
    from plone.registry.interfaces import IRegistry
    from zope.component import queryUtility

    registry = queryUtility(IRegistry, context=site)
    return registry.get("plone.default_language") if registry is not None else None


def _plone_header(site):
    """Return the Plone site's title and logo bytes (None when none is set)."""
    from plone import api

    title = api.portal.get_registry_record("plone.site_title", default=None) or site.Title()
    encoded = api.portal.get_registry_record("plone.site_logo", default=None)
    return title, _decode_logo(encoded) if encoded else None


def _decode_logo(encoded):
    """The image bytes of a ``plone.site_logo`` record, or None if it is unreadable."""
    from plone.formwidget.namedfile.converter import b64decode_file

    try:
        return b64decode_file(encoded)[1]
    except (ValueError, IndexError, TypeError) as exc:
        logger.warning("the site logo in plone.site_logo cannot be read, left out: %s", exc)
        return None

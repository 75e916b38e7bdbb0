"""What the worker fills into a report's Document: its author and page header.

The one place that says where they come from (``document_defaults``):

- author: the job owner's full name (a Plone member's ``fullname``), else
  the user's name;
- header text: in a Plone site the site's title (``plone.site_title``, else
  the site's Title()), in plain Zope the queue's title;
- logo: in a Plone site the logo set in Site Setup (``plone.site_logo``),
  in plain Zope none.

A report that sets any of them itself keeps its own (``Document.fill_in``).
"""

import logging

from collective.asyncreports.sites import nearest_site


logger = logging.getLogger(__name__)


def document_defaults(queue, user):
    """Return ``{"author", "header_text", "logo"}`` for a job of ``user`` on ``queue``.

    :param queue: The job's queue (its site decides the header).
    :param user: The job's owner, a Zope or Plone user.
    :returns: A dict for ``exports.export(defaults=...)``; values may be None.
    """
    site = nearest_site(queue)
    if _is_plone_site(site):
        header_text, logo = _plone_header(site)
    else:
        header_text, logo = (getattr(queue, "title", "") or None), None
    return {"author": author_name(user), "header_text": header_text, "logo": logo}


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

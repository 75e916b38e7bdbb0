"""The rule for target paths: where a job may point, in one place."""

from AccessControl import Unauthorized
from Acquisition import aq_base
from Acquisition import aq_inner
from Acquisition import aq_parent
from OFS.interfaces import IItem
from persistent import Persistent
from ZODB.POSException import ConflictError

from collective.asyncreports.errors import InvalidPath


MAX_PATH_LENGTH = 1024


def site_of(queue):
    """Return the container a queue serves: targets must lie inside it."""
    return aq_parent(aq_inner(queue))


def normalize_path(site, path):
    """Turn a user-supplied target path into a physical path string.

    ``path`` is absolute (from the Zope root, e.g. ``/Plone/docs``) or relative
    to ``site``; an empty path or ``/`` alone means the site itself when the
    site is the Zope root. Returns the physical path as a string.

    Raises InvalidPath for non-strings, overlong paths, NUL characters or
    text that was no UTF-8, ``.``/``..`` segments, private names (``_x``,
    ``aq_x``), views and namespaces (``@@x``, ``++x++``) and absolute paths
    outside ``site``.
    """
    if not isinstance(path, str):
        raise InvalidPath(f"target path must be a string, not {type(path).__name__}")
    if len(path) > MAX_PATH_LENGTH:
        raise InvalidPath(
            f"target path is too long: at most {MAX_PATH_LENGTH} characters (got {len(path)})")
    if "\x00" in path:
        raise InvalidPath("target path must not contain NUL characters")
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:  # bytes that were no UTF-8 arrive as lone surrogates
        raise InvalidPath("target path is not valid UTF-8 text") from None
    site_segments = [s for s in site.getPhysicalPath() if s]
    raw = path.strip()
    segments = [s for s in raw.split("/") if s]
    for segment in segments:
        if segment in (".", "..") or segment.startswith(("_", "aq_", "@@", "++")):
            raise InvalidPath(
                f"target path {path!r}: segment {segment!r} is not allowed"
            )
    if raw.startswith("/"):
        if segments[: len(site_segments)] != site_segments:
            site_path = "/" + "/".join(site_segments)
            raise InvalidPath(
                f"target path {path!r} lies outside this queue's site {site_path!r}"
            )
    else:
        segments = site_segments + segments
    return "/" + "/".join(segments)


def path_of(obj):
    """Physical path of ``obj`` as a string (``/`` for the Zope root)."""
    return "/".join(obj.getPhysicalPath()) or "/"


def resolve_target(site, path):
    """Return the object at ``path`` (see normalize_path).

    Callers check permissions on the result (``submission.authorize``), as
    the publisher does: the target itself must grant them, whatever the
    folders above it do (a local role on a folder inside a private one).

    Raises InvalidPath when no object exists there, when the path ends at
    something that is no stored object (an attribute, a method, a template,
    the request: ``/docs/title``, ``/docs/objectIds``, ``/REQUEST``), or when
    it only reaches an object by acquisition (``/docs/minutes/docs``).
    """
    physical = normalize_path(site, path)
    root = site.getPhysicalRoot()
    try:
        target = root.unrestrictedTraverse(physical.lstrip("/"))
    except (ConflictError, Unauthorized):
        raise
    except Exception as exc:  # traversal hooks of any object may raise anything
        raise InvalidPath(f"target path {physical!r} does not exist") from exc
    if not (IItem.providedBy(aq_base(target)) and isinstance(aq_base(target), Persistent)):
        raise InvalidPath(
            f"target path {physical!r} ends at {_kind(target)}, not at an object")
    if path_of(target) != physical:
        raise InvalidPath(
            f"target path {physical!r} reaches {path_of(target)!r} by acquisition")
    return target


def _kind(value):
    """What a path ended at, for the message: "a method", "a str", "a view"."""
    if callable(value) and not isinstance(value, type):
        return "a method or template"
    return f"a {type(aq_base(value)).__name__} attribute"

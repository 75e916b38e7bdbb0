"""The rule for target paths: where a job may point, in one place."""

from Acquisition import aq_inner
from Acquisition import aq_parent

from collective.asyncreports.errors import InvalidPath


def site_of(queue):
    """Return the container a queue serves: targets must lie inside it."""
    return aq_parent(aq_inner(queue))


def normalize_path(site, path):
    """Turn a user-supplied target path into a physical path string.

    ``path`` is absolute (from the Zope root, e.g. ``/Plone/docs``) or relative
    to ``site``; an empty path or ``/`` alone means the site itself when the
    site is the Zope root. Returns the physical path as a string.

    Raises InvalidPath for ``.``/``..`` segments, private names (``_x``,
    ``aq_x``) and absolute paths outside ``site``.
    """
    if not isinstance(path, str):
        raise InvalidPath(f"target path must be a string, not {type(path).__name__}")
    site_segments = [s for s in site.getPhysicalPath() if s]
    raw = path.strip()
    segments = [s for s in raw.split("/") if s]
    for segment in segments:
        if segment in (".", "..") or segment.startswith(("_", "aq_")):
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


def resolve_target(site, path):
    """Return the object at ``path`` (see normalize_path), unrestricted.

    Callers check the user's permissions on the result. Raises InvalidPath when
    no object exists there.
    """
    physical = normalize_path(site, path)
    root = site.getPhysicalRoot()
    try:
        return root.unrestrictedTraverse(physical.lstrip("/")) if physical != "/" else root
    except (AttributeError, KeyError, LookupError, TypeError) as exc:
        raise InvalidPath(f"target path {physical!r} does not exist") from exc

"""The public URL that links in reports use: set, else last served, else a warned default.

A worker has no request from outside: the URLs in its PDFs come from the
queue. The queue's Server URL setting wins; else the URL the site was served
at when somebody last queued a report through the web (recorded then, in
that request's own transaction, and only when it changed: no write on other
requests); else ``DEFAULT_URL``, with a warning in the log (once per process
and queue), in ``asyncreports health`` and on the Settings tab.
"""

from collective.asyncreports import logger


DEFAULT_URL = "http://localhost:8080"
# Where the URL last served is kept on a queue object without a setting for it.
SERVED_URL_ATTRIBUTE = "_asyncreports_served_url"

_warned = set()


def served_url(queue):
    """The URL the site was last served at, as recorded by ``remember_served_url``."""
    return (getattr(queue, SERVED_URL_ATTRIBUTE, None) or "").rstrip("/")


def known_public_url(queue):
    """The setting, else the URL last served; None when neither is known."""
    return queue.configured_url() or served_url(queue) or None


def remember_served_url(queue, url):
    """Record the URL the site is served at (call when a job is queued through
    the web: that request writes anyway). Writes only when it changed, and
    not at all when the Server URL is set (it wins): two instances at two
    addresses would otherwise rewrite the queue object on every submission,
    and concurrent submissions conflicted on it until one reached its user
    as a ConflictError (bench scenario 11)."""
    url = (url or "").rstrip("/")
    if queue.configured_url():
        return
    if url and getattr(queue, SERVED_URL_ATTRIBUTE, None) != url:
        setattr(queue, SERVED_URL_ATTRIBUTE, url)


def effective_public_url(queue, default=DEFAULT_URL):
    """The URL links are made on; ``default``, with a warning logged, when none is known."""
    url = known_public_url(queue)
    if url:
        return url
    key = "/".join(queue.getPhysicalPath())
    if key not in _warned:
        _warned.add(key)
        logger.warning("queue %s: %s", key, unknown_url_warning(default))
    return default


def unknown_url_warning(default=DEFAULT_URL):
    """The one sentence that says links will be wrong, for logs, health and Settings."""
    return (f"no public URL is known: links in reports use {default}; set the Server URL "
            "in the queue's settings (or queue a report through the web once)")

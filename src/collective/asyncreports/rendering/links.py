"""Links in documents: a value type for cells and paragraphs, and which URLs may link.

A :class:`Link` shows its text in every format; only an address
:func:`safe_url` accepts becomes a link (a PDF link annotation, an XLSX
hyperlink). Anything else, ``javascript:`` and ``data:`` among them, is shown
as its text alone: a report that lists what users typed must not turn it
into something a click runs.
"""

import re
from typing import NamedTuple


LINK_SCHEMES = ("http", "https", "mailto")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")
# Browsers drop tabs and newlines inside URLs ("java\tscript:"): an address
# with any control character or white space is refused rather than cleaned.
_UNSAFE_CHARS = re.compile(r"[\x00-\x20\x7f-\x9f\\]")


class Link(NamedTuple):
    """A table cell or paragraph value that links ``text`` to ``url``.

    ``text`` is shown literally, like any other text of a document.
    """

    text: str
    url: str

    def __str__(self):
        return "" if self.text is None else str(self.text)


def safe_url(url):
    """Return ``url`` if it may become a link, else None.

    :param url: An address: ``http:``, ``https:`` and ``mailto:`` ones and
        relative paths (no scheme, not ``//host``) are accepted.
    :returns: The address unchanged, or None for any other scheme, an empty
        address, or one with white space, control characters or backslashes.
    """
    if not isinstance(url, str) or not url or _UNSAFE_CHARS.search(url):
        return None
    scheme = _SCHEME.match(url)
    if scheme is None:
        # A relative path; "//host/..." would leave the site by another door.
        return None if url.startswith("//") else url
    return url if scheme.group(1).lower() in LINK_SCHEMES else None


def link_url(value):
    """Return the safe address of ``value`` when it is a :class:`Link`, else None."""
    return safe_url(value.url) if isinstance(value, Link) else None

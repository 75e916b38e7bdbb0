"""Which result formats a report type offers, checking a chosen one, file names.

A report type says what it offers with ``formats``, a sequence of names from
``rendering.exports.FORMATS``; the first is the default. ``ReportType``
offers ``("pdf", "csv", "xlsx")`` (its ``render`` returns a Document); a
report whose ``render`` returns PDF bytes of its own sets ``("pdf",)``. A
report type without the attribute offers PDF only.
"""

import posixpath

from collective.asyncreports import validation
from collective.asyncreports.rendering.exports import FORMATS


FORMAT_FIELD = "format"


def report_formats(report):
    """The names of the formats ``report`` offers, its default first; unknown ones left out."""
    offered = getattr(report, "formats", None) or ("pdf",)
    if isinstance(offered, str):
        offered = (offered,)
    return tuple(name for name in offered if name in FORMATS) or ("pdf",)


def format_choices(report):
    """``(name, title)`` of each format ``report`` offers, for forms."""
    return [(name, FORMATS[name].title) for name in report_formats(report)]


def check_format(report, value, name=FORMAT_FIELD):
    """Return the format ``value`` names if ``report`` offers it; its default when missing.

    :raises BadInput: not one piece of text, an unknown format, or one the
        report does not offer (each message says which formats it offers).
    """
    offered = report_formats(report)
    chosen = validation.text(value, name, max_length=40).lower()
    if not chosen:
        return offered[0]
    shown = ", ".join(offered)
    if chosen not in FORMATS:
        raise validation.BadInput(
            f"{name}: there is no result format {chosen!r}; "
            f"this report offers {shown}")
    if chosen not in offered:
        title = str(getattr(report, "title", "") or "this report")
        raise validation.BadInput(
            f"{name}: the report {title!r} offers {shown} only, not {chosen}")
    return chosen


def result_filename(report, context, parameters, format_name):
    """The report's ``filename(context, parameters)`` with the extension of ``format_name``.

    ``filename`` names the PDF (``...pdf``): for another format its extension
    is replaced, or added when it has none.
    """
    filename = report.filename(context, parameters)
    stem, extension = posixpath.splitext(filename)
    if extension.lower() not in (".pdf", f".{FORMATS[format_name].extension}"):
        stem = filename
    return f"{stem}.{FORMATS[format_name].extension}"

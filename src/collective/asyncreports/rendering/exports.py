"""Result formats: a report's Document as PDF, CSV or XLSX.

``FORMATS`` is the one table of the formats a job may ask for: name, title,
file extension and MIME type. :func:`export` turns what a report's
``render`` returned into the bytes of the chosen format.

The rules:

- **PDF**: ``Document.to_pdf()``; a report that returns PDF bytes itself
  offers PDF only (``formats = ("pdf",)`` on its report type).
- **CSV**: the document's main table: the one the report marked
  ``main=True``, else the *largest* (the most data rows; the first of
  those when several tie), the header first, UTF-8 with a byte order mark
  so Excel reads the accents right, comma-separated, CRLF line ends.
  Numbers as Python writes them, dates and times in ISO 8601, booleans
  ``true``/``false``, None empty, a Link its text (its address is not
  kept: a report that needs it gives it a column of its own). The totals
  row is left out: CSV is data for other programs, which would count it as
  one more row. A document without tables gives its title and paragraphs,
  one per line. Charts are left out.
- **XLSX** (openpyxl): one sheet per table, in order, named after the last
  heading before the table (else the document's title), made valid for
  Excel (no ``[]:*?/\\``, at most 31 characters, not "History") and unique
  (`` (2)``, `` (3)``...). A bold header row, frozen; typed cells: numbers
  as numbers, booleans as booleans, dates and datetimes as dates (a datetime
  with a time zone is converted to UTC, as Excel knows none), a Link as its
  text with a hyperlink (when ``links.safe_url`` accepts its address), the
  rest text. A totals row comes last, bold, its numbers as numbers. The
  workbook's title, author and subject are the document's. Charts are
  left out.
- **Formula injection**: a text cell never becomes a formula. In CSV a text
  cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
  return gets a leading apostrophe (``'=1+1``), as OWASP advises, since a
  spreadsheet would otherwise evaluate it; typed numbers (``-5``) are left
  alone. In XLSX such text is stored as a text cell (never a formula) with
  Excel's "quote prefix", so it also stays text when somebody edits it.
"""

import csv
import datetime
import decimal
import io
import re
from typing import NamedTuple

from collective.asyncreports.i18n import in_language
from collective.asyncreports.rendering.links import Link
from collective.asyncreports.rendering.links import link_url


class Format(NamedTuple):
    """A result format: its name in jobs and forms, title, extension, MIME type."""

    name: str
    title: str
    extension: str
    content_type: str


PDF = Format("pdf", "PDF", "pdf", "application/pdf")
# UTF-8, which its byte order mark says (OFS.Image.File drops a charset parameter).
CSV = Format("csv", "CSV (Excel, UTF-8)", "csv", "text/csv")
XLSX = Format("xlsx", "Excel (XLSX)", "xlsx",
              "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
FORMATS = {f.name: f for f in (PDF, CSV, XLSX)}
# What a report that returns a Document offers unless it says otherwise.
DOCUMENT_FORMATS = ("pdf", "csv", "xlsx")

BOM = "\ufeff"
# Text a spreadsheet would read as a formula (OWASP's list).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# Excel's limits: sheet names, text in a cell.
SHEET_NAME_LENGTH = 31
CELL_TEXT_LENGTH = 32767
_SHEET_NAME_BAD = re.compile(r"[\[\]:*?/\\\x00-\x1f\x7f]")
# Characters XML 1.0 (and so XLSX) cannot carry.
_XML_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
HEADER_ROWS = 1
MAX_COLUMN_WIDTH = 60
LINK_FONT_COLOR = "0563C1"  # Excel's own hyperlink blue


class ExportError(ValueError):
    """What a report returned cannot be made into the asked format."""


def get_format(name):
    """Return the Format called ``name``; KeyError for an unknown one."""
    return FORMATS[name]


def export(rendered, format_name, generated_at=None, defaults=None):
    """Return what ``report.render`` returned as bytes of ``format_name``.

    :param rendered: A Document, or the bytes of a PDF.
    :param format_name: ``"pdf"``, ``"csv"`` or ``"xlsx"``.
    :param generated_at: For the PDF's footer (``Document.to_pdf``).
    :param defaults: Optional mapping of ``author``, ``header_text``,
        ``logo`` for what the Document left unset (``Document.fill_in``;
        the worker's come from ``rendering.site_header.document_defaults``).
    :raises ExportError: PDF bytes asked for in another format, or an
        unknown format.
    """
    if format_name not in FORMATS:
        raise ExportError(f"unknown result format {format_name!r}")
    if isinstance(rendered, (bytes, bytearray)):
        if format_name != PDF.name:
            # Here, not at the top: rendering.document imports ReportLab, which
            # code that only names the formats (the CLI's reading commands) never needs.
            from collective.asyncreports.rendering.document import is_pdf

            kind = "a PDF" if is_pdf(rendered) else "bytes"
            raise ExportError(
                f"the report returned {kind} of its own, which cannot be made into "
                f"{format_name.upper()}: its report type should offer formats = ('pdf',)")
        return bytes(rendered)
    if defaults:
        rendered.fill_in(**defaults)
    if format_name == PDF.name:
        return rendered.to_pdf(generated_at)
    if format_name == CSV.name:
        return to_csv(rendered)
    return to_xlsx(rendered)


# -- CSV --------------------------------------------------------------------

def main_table(document):
    """The table CSV exports: the first marked main, else the one with the most
    rows, the first of equals; or None."""
    tables = document.tables()
    if not tables:
        return None
    chosen = [table for table in tables if table.main]
    if chosen:
        return chosen[0]
    return max(tables, key=lambda table: len(table.rows))  # max keeps the first of equals


def to_csv(document):
    """Return the document's main table (:func:`main_table`) as CSV bytes, with a BOM."""
    output = io.StringIO()
    writer = csv.writer(output, lineterminator="\r\n")
    table = main_table(document)
    if table is None:
        lines = [document.title, document.subtitle, *document.paragraphs()]
        writer.writerows([csv_text(line)] for line in lines if line)
    else:
        writer.writerow([csv_text(cell) for cell in table.header])
        writer.writerows([csv_text(cell) for cell in row] for row in table.rows)
    return (BOM + output.getvalue()).encode("utf-8")


def csv_text(value):
    """One CSV cell: typed values as text, text that looks like a formula defused."""
    if value is None:
        return ""
    if isinstance(value, Link):
        return csv_text(value.text)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, decimal.Decimal)):
        return str(value)
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    text = str(value)
    if text.startswith(FORMULA_START):
        return "'" + text
    return text


# -- XLSX -------------------------------------------------------------------

def to_xlsx(document):
    """Return the document as an XLSX workbook: one sheet per table."""
    from openpyxl import Workbook  # only workers making spreadsheets pay for it

    workbook = Workbook(write_only=True)
    workbook.properties.title = document.title
    workbook.properties.creator = document.author or "collective.asyncreports"
    workbook.properties.subject = document.subject or document.subtitle
    tables = document.tables()
    taken = set()
    if not tables:
        sheet = workbook.create_sheet(sheet_name(document.title, taken))
        lines = [document.title, document.subtitle, *document.paragraphs()]
        for line in lines:
            if line:
                sheet.append([xlsx_cell(sheet, line)])
    for table in tables:
        sheet = workbook.create_sheet(sheet_name(table.heading or document.title, taken))
        _write_table(sheet, table, document.language)
    output = io.BytesIO()
    workbook.save(output)
    return output.getvalue()


def _write_table(sheet, table, language=None):
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    sheet.freeze_panes = f"A{HEADER_ROWS + 1}"
    rows = table.rows if table.totals is None else [*table.rows, table.totals]
    widths = [_width(cell) for cell in table.header]
    for row in rows:
        widths = [max(width, _width(cell)) for width, cell in zip(widths, row, strict=True)]
    for number, width in enumerate(widths, 1):
        sheet.column_dimensions[get_column_letter(number)].width = min(width + 2,
                                                                       MAX_COLUMN_WIDTH)
    bold = Font(bold=True)
    header = []
    for title in table.header:
        cell = xlsx_cell(sheet, "" if title is None else str(title))
        cell.font = bold
        header.append(cell)
    sheet.append(header)
    for row in table.rows:
        sheet.append([xlsx_cell(sheet, value) for value in row])
    if table.totals is not None:
        # Its "Total" in the document's language, as in the PDF.
        totals = [xlsx_cell(sheet, in_language(value, language)) for value in table.totals]
        for cell in totals:
            cell.font = bold
        sheet.append(totals)


def _width(value):
    if isinstance(value, datetime.datetime):
        return 19
    return len(csv_text(value)) if value is not None else 0


def xlsx_cell(sheet, value):
    """One typed cell of a write-only ``sheet``; text is never a formula."""
    from openpyxl.cell import WriteOnlyCell

    if isinstance(value, Link):
        return _link_cell(sheet, value)
    if value is None or isinstance(value, (bool, int, float, decimal.Decimal)):
        return WriteOnlyCell(sheet, value=value)
    if isinstance(value, datetime.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(datetime.UTC).replace(tzinfo=None)
        cell = WriteOnlyCell(sheet, value=value)
        cell.number_format = "yyyy-mm-dd hh:mm:ss"
        return cell
    if isinstance(value, datetime.date):
        cell = WriteOnlyCell(sheet, value=value)
        cell.number_format = "yyyy-mm-dd"
        return cell
    if isinstance(value, datetime.time) and value.tzinfo is None:
        return WriteOnlyCell(sheet, value=value)
    text = _XML_ILLEGAL.sub("", str(value))[:CELL_TEXT_LENGTH]
    cell = WriteOnlyCell(sheet, value=text)
    cell.data_type = "s"  # openpyxl would make "=..." a formula
    if text.startswith(FORMULA_START):
        cell.quotePrefix = True
    return cell


def _link_cell(sheet, link):
    """A text cell of ``link``'s text, a hyperlink if its address is safe."""
    from openpyxl.styles import Font

    cell = xlsx_cell(sheet, "" if link.text is None else str(link.text))
    url = link_url(link)
    if url is not None:
        cell.hyperlink = url
        cell.font = Font(color=LINK_FONT_COLOR, underline="single")
    return cell


def sheet_name(text, taken):
    """A valid sheet name from ``text``, unique among ``taken`` (which it joins).

    Excel compares sheet names without regard to case.
    """
    name = _SHEET_NAME_BAD.sub(" ", _XML_ILLEGAL.sub("", text or ""))
    name = re.sub(r"\s+", " ", name).strip().strip("'").strip() or "Table"
    if name.lower() == "history":  # Excel keeps it for itself
        name = "History table"
    base, number = name[:SHEET_NAME_LENGTH].rstrip(), 1
    name = base
    while name.lower() in taken:
        number += 1
        suffix = f" ({number})"
        name = base[:SHEET_NAME_LENGTH - len(suffix)].rstrip() + suffix
    taken.add(name.lower())
    return name

"""A document builder on ReportLab platypus: title, headings, paragraphs, tables,
charts and links, with an outline, metadata and a page header."""

import datetime
import decimal
import io
import logging
import re
from typing import NamedTuple
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.enums import TA_LEFT
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import LongTable
from reportlab.platypus import Paragraph
from reportlab.platypus import SimpleDocTemplate
from reportlab.platypus import Spacer
from reportlab.platypus import TableStyle

from collective.asyncreports.i18n import _
from collective.asyncreports.i18n import format_datetime
from collective.asyncreports.i18n import in_language
from collective.asyncreports.rendering import charts
from collective.asyncreports.rendering import fonts
from collective.asyncreports.rendering.links import Link
from collective.asyncreports.rendering.links import link_url


logger = logging.getLogger(__name__)


PAGE_SIZE = A4
MARGIN = 18 * mm
# Room between the text and the bottom margin, where the footer goes.
FOOTER_HEIGHT = 10 * mm
# Room above the text for the page header (site name and logo), when there is one.
HEADER_HEIGHT = 12 * mm
LOGO_HEIGHT = 9 * mm
LOGO_MAX_WIDTH = 45 * mm
LINK_COLOR = "#1a4f9c"
TOTAL_LABEL = _("Total")
FRAME_WIDTH = PAGE_SIZE[0] - 2 * MARGIN
# What paragraphs get: the frame less its padding (6 points a side).
TEXT_WIDTH = FRAME_WIDTH - 12

CELL_FONT_SIZE = 8
CELL_PADDING = 3

# Control characters other than tab and newline make ReportLab's paragraph
# parser fail or draw garbage; they have no place in a report anyway.
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def is_pdf(data):
    """Tell whether ``data`` looks like a PDF file.

    :param data: Bytes to look at.
    :returns: True when ``data`` is bytes starting with ``%PDF-``.
    """
    return isinstance(data, (bytes, bytearray)) and bytes(data[:5]) == b"%PDF-"


def _text(value, language=None):
    """Return ``value`` as cell or paragraph text: None is empty, the rest str().

    Characters a PDF cannot carry are replaced (see :func:`fonts.clean`). A
    datetime is in ISO 8601, as the inventories always showed them (data, as in
    CSV: the PDF's own date, in its footer, is the one in the locale's words).
    With a ``language``, a message of this product's (the totals row's "Total")
    is translated.
    """
    if value is None:
        return ""
    if isinstance(value, Link):
        return _text(value.text, language)
    if isinstance(value, datetime.datetime):
        value = value.isoformat(timespec="seconds")
    elif language is not None:
        value = in_language(value, language)
    return fonts.clean(_CONTROL_CHARS.sub("", str(value)))


def _paragraph(text, style, font_set, width=TEXT_WIDTH, url=None):
    """Return a Paragraph showing ``text`` literally, each run in a font that has it.

    Right-to-left text is laid out for ``width`` in visual order, and a
    paragraph that starts right to left is aligned right, unless centred.
    ``url``, an address :func:`links.safe_url` accepted, makes it a link.
    """
    # A point to spare: the Paragraph measures the same runs, but adds up
    # the widths in another order.
    text, rtl = font_set.visual(text, style.fontName, style.fontSize, width - 1)
    if rtl and style.alignment == TA_LEFT:
        style = ParagraphStyle(f"{style.name}-rtl", parent=style, alignment=TA_RIGHT)
    markup = font_set.markup(text, style.fontName)
    if url is not None:
        href = escape(url, {'"': "&quot;"})
        markup = f'<a href="{href}" color="{LINK_COLOR}"><u>{markup}</u></a>'
    return Paragraph(markup, style)


def _styles(font_set):
    """Return the paragraph styles of a document, by name, in ``font_set``'s fonts."""
    sample = getSampleStyleSheet()
    # The sample styles name Helvetica faces; each becomes its family face.
    faces = {fonts.BASE14[style]: getattr(font_set, style) for style in fonts.BASE14}

    def style(name, parent, **kw):
        return ParagraphStyle(name, parent=parent, fontName=faces[parent.fontName], **kw)

    cell = ParagraphStyle(
        "Cell",
        fontName=font_set.regular,
        fontSize=CELL_FONT_SIZE,
        leading=CELL_FONT_SIZE + 2,
    )
    return {
        "title": style("Title", sample["Title"]),
        "subtitle": style("Subtitle", sample["Heading3"], alignment=TA_CENTER),
        1: style("Heading1", sample["Heading1"]),
        2: style("Heading2", sample["Heading2"]),
        3: style("Heading3", sample["Heading3"]),
        "body": style("BodyText", sample["BodyText"]),
        "cell": cell,
        "header": ParagraphStyle("HeaderCell", parent=cell, fontName=font_set.bold),
    }


def _page_canvas(generated, page_label, font_set, header_text, logo):
    """Return a canvas class whose pages carry a footer and, if given, a header.

    The footer has ``page_label(number, total)`` ("Page N of M") and
    ``generated``; the header
    ``header_text`` and the ``logo`` (an ImageReader), either may be None.
    The total page count is known only at the end, so the canvas holds every
    page back and draws all footers when the document is saved.
    """

    class PageCanvas(Canvas):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._held_pages = []
            self._page_bookmarks = []

        def showPage(self):
            self._held_pages.append(dict(self.__dict__))
            self._page_bookmarks = []
            self._startPage()

        def bookmarkPage(self, key, **kwargs):
            # A bookmark names the page being written, known only once it is
            # really shown (in save), not while it is held back.
            self._page_bookmarks.append((key, kwargs))

        def save(self):
            total = len(self._held_pages)
            for number, page in enumerate(self._held_pages, 1):
                self.__dict__.update(page)
                for key, kwargs in self._page_bookmarks:
                    super().bookmarkPage(key, **kwargs)
                self._draw_footer(number, total)
                if header_text or logo:
                    self._draw_header()
                super().showPage()
            super().save()

        def _draw_footer(self, number, total):
            self.saveState()
            self.setStrokeColor(colors.grey)
            self.setLineWidth(0.5)
            line_y = MARGIN + 4 * mm
            self.line(MARGIN, line_y, PAGE_SIZE[0] - MARGIN, line_y)
            self.setFont(font_set.regular, CELL_FONT_SIZE)
            self.setFillColor(colors.grey)
            self.drawString(MARGIN, MARGIN, generated)
            self.drawRightString(PAGE_SIZE[0] - MARGIN, MARGIN, page_label(number, total))
            self.restoreState()

        def _draw_header(self):
            self.saveState()
            top = PAGE_SIZE[1] - MARGIN
            x = MARGIN
            if logo is not None:
                width, height = logo.getSize()
                scale = min(LOGO_HEIGHT / height, LOGO_MAX_WIDTH / width)
                self.drawImage(logo, x, top - height * scale, width * scale, height * scale,
                               mask="auto")
                x += width * scale + 3 * mm
            if header_text:
                # One text object for all runs: readers extract it as one line.
                line = self.beginText(x, top - LOGO_HEIGHT / 2 - 3)
                line.setFillColor(colors.grey)
                for name, run, _ in charts.placed_runs(
                        font_set, header_text, font_set.regular, CELL_FONT_SIZE + 1):
                    line.setFont(name, CELL_FONT_SIZE + 1)
                    line.textOut(run)
                self.drawText(line)
            self.setStrokeColor(colors.grey)
            self.setLineWidth(0.5)
            line_y = top - LOGO_HEIGHT - 2 * mm
            self.line(MARGIN, line_y, PAGE_SIZE[0] - MARGIN, line_y)
            self.restoreState()

    return PageCanvas


def _logo_image(logo):
    """Return ``logo`` (bytes, or a file's path) as an ImageReader, or None.

    A logo that is not an image readable by ReportLab is left out with a
    warning: the report is still made.
    """
    if not logo:
        return None
    try:
        image = ImageReader(io.BytesIO(logo) if isinstance(logo, (bytes, bytearray)) else logo)
        width, height = image.getSize()
        if width <= 0 or height <= 0:
            raise ValueError(f"size {width}x{height}")
    except Exception as exc:  # noqa: BLE001 - PIL and ReportLab raise many kinds
        logger.warning("the page header's logo cannot be drawn, left out: %s: %s",
                       type(exc).__name__, exc)
        return None
    return image


class _OutlinedTemplate(SimpleDocTemplate):
    """A SimpleDocTemplate that makes each heading a PDF bookmark, nested by level."""

    def afterFlowable(self, flowable):
        outline = getattr(flowable, "_asyncreports_outline", None)
        if outline is None:
            return
        text, level = outline
        # A heading nests under the open headings of higher levels only, so
        # the outline goes down one step at a time (ReportLab refuses more):
        # a level 3 right after a level 1 is one step down, a document of
        # level 2 headings has them all on top.
        while self._open_levels and self._open_levels[-1] >= level:
            self._open_levels.pop()
        depth = len(self._open_levels)
        self._open_levels.append(level)
        key = f"heading-{self._outline_count}"
        self._outline_count += 1
        self.canv.bookmarkPage(key)
        self.canv.addOutlineEntry(text, key, level=depth, closed=False)

    def build(self, flowables, **kwargs):
        self._open_levels, self._outline_count = [], 0
        super().build(flowables, **kwargs)


def _sum_columns(header, rows):
    """A totals row: the sum of each column whose values are all numbers, else None.

    The first column says "Total" unless it is summed itself.
    """
    totals = []
    for index in range(len(header)):
        values = [row[index] for row in rows if row[index] is not None]
        numeric = values and all(
            isinstance(value, (int, float, decimal.Decimal)) and not isinstance(value, bool)
            for value in values)
        totals.append(sum(values) if numeric else None)
    if totals and totals[0] is None:
        totals[0] = TOTAL_LABEL
    return tuple(totals)


def _column_widths(measured):
    """Share the frame width among columns by how wide their content is.

    Columns whose content fits in an equal share keep their natural width;
    the wider ones split what is left, so short columns never wrap needlessly.

    :param measured: The text widths of the table's rows, header first.
    """
    header = measured[0]
    natural = [
        max(row[index] for row in measured) + 2 * CELL_PADDING + 1
        for index in range(len(header))
    ]
    if sum(natural) <= FRAME_WIDTH:
        return [FRAME_WIDTH * width / sum(natural) for width in natural]
    widths = dict.fromkeys(range(len(header)))
    remaining = FRAME_WIDTH
    wide = list(range(len(header)))
    while True:
        share = remaining / len(wide)
        narrow = [index for index in wide if natural[index] <= share]
        if not narrow:
            break
        for index in narrow:
            widths[index] = natural[index]
            remaining -= natural[index]
        wide = [index for index in wide if index not in narrow]
    for index in wide:
        widths[index] = remaining / len(wide)
    return [widths[index] for index in range(len(header))]


class Table(NamedTuple):
    """A table of a :class:`Document` (:meth:`Document.tables`).

    ``rows`` are the data rows; ``totals`` the totals row or None; ``main``
    whether the report chose it as the table CSV exports.
    """

    heading: str | None
    header: tuple
    rows: list
    totals: tuple | None = None
    main: bool = False


class Document:
    """A report document: a title, then headings, paragraphs, tables, charts and space.

    Every piece of text is shown literally: ``<b>`` in a title stays ``<b>``.
    Build it with the methods below, then call :meth:`to_pdf`. Headings make
    the PDF's outline (bookmarks, nested by level).
    """

    def __init__(self, title, subtitle=None, author=None, subject=None,
                 header_text=None, logo=None, language=None):
        """Start a document.

        :param title: Document title; shown on top and stored as PDF title.
        :param subtitle: Optional line shown under the title.
        :param author: Stored as the PDF's (and XLSX's) author. None: the
            worker fills in who asked for the report.
        :param subject: Stored as the PDF's subject; None: the subtitle.
        :param header_text: Shown on top of every page. None: the worker
            fills in the site's name; "" for no header text.
        :param logo: An image (PNG, JPEG or GIF bytes, or a file's path) shown
            on top of every page. None: the worker fills in the site's logo;
            b"" for none. One that cannot be read is left out, with a warning.
        :param language: The language of the PDF's own words (footer, "Total",
            "Other"), its dates and its datetime cells, a code such as ``de``.
            None: the worker fills in the job's (``site_header``); a document
            made without a worker is in English with ISO 8601 dates.
        """
        self.title = _text(title)
        self.subtitle = None if subtitle is None else _text(subtitle)
        self.author = None if author is None else _text(author)
        self.subject = None if subject is None else _text(subject)
        self.header_text = None if header_text is None else _text(header_text)
        self.logo = logo
        self.language = language
        # Blocks are kept as plain data and turned into flowables by to_pdf,
        # because ReportLab consumes flowables while laying them out.
        self._blocks = []

    def fill_in(self, **values):
        """Set each of ``author``, ``header_text``, ``logo``, ``language`` given that is
        still None.

        The worker calls it with the job's owner and the site's header, so
        what a report set itself wins.
        """
        for name, value in values.items():
            if name not in ("author", "header_text", "logo", "language"):
                raise TypeError(f"fill_in() got an unexpected argument {name!r}")
            if getattr(self, name) is None and value is not None:
                setattr(self, name, value if name in ("logo", "language") else _text(value))

    def heading(self, text, level=1):
        """Add a heading; it is also a bookmark of the PDF's outline.

        :param text: Heading text.
        :param level: 1, 2 or 3; 1 is the largest.
        :raises ValueError: if ``level`` is not 1, 2 or 3.
        """
        if level not in (1, 2, 3):
            raise ValueError(f"heading level must be 1, 2 or 3, not {level!r}")
        self._blocks.append(("heading", _text(text), level))

    def paragraph(self, text, url=None):
        """Add a paragraph of body text; newlines in ``text`` break lines.

        :param text: Paragraph text, or a :class:`Link`.
        :param url: Makes the paragraph a link to ``url``: only http(s) and
            mailto addresses and relative paths link (``links.safe_url``),
            anything else shows the text alone.
        """
        if isinstance(text, Link):
            text, url = text.text, text.url if url is None else url
        self._blocks.append(("paragraph", _text(text), url))

    def table(self, header, rows, col_widths=None, totals=None, main=False):
        """Add a table whose header row repeats on every page it spans.

        :param header: Column titles.
        :param rows: Iterable of rows, each a sequence of as many cells as
            ``header``. Cells may be any value: None shows as empty, a
            :class:`Link` as its text linked to its address, the rest as
            ``str(value)``; long text wraps inside its cell.
        :param col_widths: Optional column widths in points (1/72 inch); by
            default the page width is shared in proportion to the content.
        :param totals: A totals row shown last, in bold: a sequence of as
            many cells as ``header``, or True for the sum of every column
            whose values are all numbers (the first column then says "Total").
        :param main: True makes this the table CSV exports, whatever its size.
        :raises ValueError: if a row, ``totals`` or ``col_widths`` does not
            match the header's length.
        """
        header = tuple(header)
        if not header:
            raise ValueError("a table needs at least one column")
        # The cells are kept as given (typed, for CSV and XLSX: see tables()),
        # and turned into text when the PDF is made.
        values = []
        for number, row in enumerate(rows, 1):
            cells = tuple(row)
            if len(cells) != len(header):
                raise ValueError(
                    f"table row {number} has {len(cells)} cells, "
                    f"the header has {len(header)}"
                )
            values.append(cells)
        if col_widths is not None and len(col_widths) != len(header):
            raise ValueError(
                f"{len(col_widths)} column widths given for {len(header)} columns"
            )
        if totals is True:
            totals = _sum_columns(header, values)
        elif totals is not None and totals is not False:
            totals = tuple(totals)
            if len(totals) != len(header):
                raise ValueError(
                    f"the totals row has {len(totals)} cells, the header has {len(header)}")
        else:
            totals = None
        self._blocks.append(("table", header, values,
                             None if col_widths is None else list(col_widths), totals, main))

    def chart(self, title, labels, values, kind="bar"):
        """Add a bar or pie chart (ReportLab graphics; CSV and XLSX leave it out).

        A bar chart has horizontal bars, first label on top, values at their
        ends; a pie chart a legend with values and shares. Past
        ``charts.MAX_BARS`` bars or ``charts.MAX_SLICES`` slices the smallest
        are summed as "Other".

        :param title: Shown above the chart; None for none.
        :param labels: The categories' names.
        :param values: Their values, numbers (not negative in a pie).
        :param kind: ``"bar"`` or ``"pie"``.
        :raises ValueError: for another kind, labels and values of unequal
            length, or values that are not finite numbers.
        """
        labels, values = charts.check(kind, labels, values)
        self._blocks.append(("chart", charts.Chart(
            kind, None if title is None else _text(title), labels, values)))

    def tables(self):
        """Return the document's tables in order, as :class:`Table` tuples.

        Each has the text of the last heading before it (None when there is
        none), its header, its rows with the cells as given to :meth:`table`
        (numbers, dates, Links, None...), its totals row and whether it is
        the main one, for exporters other than PDF (``rendering/exports.py``).
        """
        heading, found = None, []
        for kind, *data in self._blocks:
            if kind == "heading":
                heading = data[0]
            elif kind == "table":
                header, rows, _, totals, main = data
                found.append(Table(heading, header, rows, totals, main))
        return found

    def charts(self):
        """Return the document's charts in order, as :class:`charts.Chart` tuples."""
        return [data[0] for kind, *data in self._blocks if kind == "chart"]

    def paragraphs(self):
        """Return the text of the document's paragraphs, in order."""
        return [data[0] for kind, *data in self._blocks if kind == "paragraph"]

    def spacer(self, height):
        """Add vertical space.

        :param height: Height in points (1/72 inch).
        """
        self._blocks.append(("spacer", height))

    def to_pdf(self, generated_at=None):
        """Lay the document out and return it as PDF.

        :param generated_at: When the report was made, a datetime; naive
            values count as UTC. Defaults to now.
        :returns: The PDF file as bytes.
        """
        if generated_at is None:
            generated_at = datetime.datetime.now(datetime.UTC)
        elif generated_at.tzinfo is None:
            generated_at = generated_at.replace(tzinfo=datetime.UTC)
        generated_at = generated_at.astimezone(datetime.UTC)
        language = self.language
        if language is None:
            stamp = generated_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        else:
            stamp = format_datetime(generated_at, language)
        generated = in_language(_("Generated ${date}", mapping={"date": stamp}), language)

        def page_label(number, total):
            return in_language(_("Page ${number} of ${total}",
                                 mapping={"number": number, "total": total}), language)

        font_set = fonts.font_set()
        logo = _logo_image(self.logo)
        has_header = bool(self.header_text) or logo is not None
        output = io.BytesIO()
        template = _OutlinedTemplate(
            output,
            pagesize=PAGE_SIZE,
            leftMargin=MARGIN,
            rightMargin=MARGIN,
            topMargin=MARGIN + (HEADER_HEIGHT if has_header else 0),
            bottomMargin=MARGIN + FOOTER_HEIGHT,
            title=self.title,
            author=self.author or "",
            subject=self.subject if self.subject is not None else (self.subtitle or ""),
            creator="collective.asyncreports",
            # Each page starts in this font: Helvetica unless told, which
            # would put a font that is not embedded in every PDF.
            initialFontName=font_set.regular,
        )
        template.build(
            self._flowables(_styles(font_set), font_set),
            canvasmaker=_page_canvas(generated, page_label, font_set, self.header_text, logo),
        )
        return output.getvalue()

    def _flowables(self, styles, font_set):
        """Return fresh ReportLab flowables for the title and every block."""
        flowables = [_paragraph(self.title, styles["title"], font_set)]
        if self.subtitle:
            flowables.append(_paragraph(self.subtitle, styles["subtitle"], font_set))
        for kind, *data in self._blocks:
            if kind == "heading":
                text, level = data
                heading = _paragraph(text, styles[level], font_set)
                heading._asyncreports_outline = (text, level)
                flowables.append(heading)
            elif kind == "paragraph":
                text, url = data
                flowables.append(_paragraph(text, styles["body"], font_set,
                                            url=link_url(Link(text, url))))
            elif kind == "spacer":
                flowables.append(Spacer(1, data[0]))
            elif kind == "chart":
                flowables.append(Spacer(1, 4))
                flowables.append(charts.drawing(data[0], font_set, TEXT_WIDTH, _text,
                                                self.language))
                flowables.append(Spacer(1, 8))
            else:
                header, values, col_widths, totals, _ = data
                flowables.append(_table_flowable(
                    header, values, totals, col_widths, styles=styles, font_set=font_set,
                    language=self.language))
        return flowables


def _cell(text, text_width, width, style, font_set, url=None):
    """Return a table cell: plain text when it fits on one line, else a Paragraph.

    Plain strings are drawn literally and cost far less to lay out than
    Paragraphs, which only long text, links and text in more than one font
    need.
    """
    inner = width - 2 * CELL_PADDING
    if (url is None and text_width <= inner and "\n" not in text
            and not fonts.has_rtl(text)):
        # (Right-to-left text needs the visual order a Paragraph gets.)
        plain = font_set.plain(text, style.fontName)
        if plain is not None:
            return plain
    return _paragraph(text, style, font_set, inner, url=url)


def _table_flowable(header, values, totals, col_widths, styles, font_set, language=None):
    """Return a table flowable for :meth:`Document.table`: header, rows, totals."""
    rows = [*values, totals] if totals is not None else list(values)
    texts = [[_text(cell, language) for cell in header]]
    texts.extend([_text(cell, language) for cell in row] for row in rows)
    # Each text is measured once, for the column widths and the cell kind.
    measure = font_set.width
    bold, regular = font_set.bold, font_set.regular
    bold_rows = {0, len(texts) - 1} if totals is not None else {0}
    measured = [
        [measure(text, bold if number in bold_rows else regular, CELL_FONT_SIZE)
         for text in row]
        for number, row in enumerate(texts)
    ]
    if col_widths is None:
        col_widths = _column_widths(measured)
    data = []
    header_style, cell_style = styles["header"], styles["cell"]
    for number, (cells, row, text_widths) in enumerate(
            zip([header, *rows], texts, measured, strict=True)):
        style = header_style if number in bold_rows else cell_style
        data.append(
            [
                _cell(text, text_width, width, style, font_set, link_url(cell))
                for cell, text, text_width, width in zip(
                    cells, row, text_widths, col_widths, strict=True)
            ]
        )
    commands = [
        ("FONT", (0, 0), (-1, 0), font_set.bold, CELL_FONT_SIZE),
        ("FONT", (0, 1), (-1, -1), font_set.regular, CELL_FONT_SIZE),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LEFTPADDING", (0, 0), (-1, -1), CELL_PADDING),
        ("RIGHTPADDING", (0, 0), (-1, -1), CELL_PADDING),
        ("TOPPADDING", (0, 0), (-1, -1), 2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
        ("BACKGROUND", (0, 0), (-1, 0), colors.lightgrey),
        ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, colors.whitesmoke]),
        ("LINEBELOW", (0, 0), (-1, 0), 0.75, colors.grey),
        ("BOX", (0, 0), (-1, -1), 0.5, colors.grey),
    ]
    if totals is not None:
        commands += [
            ("FONT", (0, -1), (-1, -1), font_set.bold, CELL_FONT_SIZE),
            ("LINEABOVE", (0, -1), (-1, -1), 0.75, colors.grey),
            ("BACKGROUND", (0, -1), (-1, -1), colors.lightgrey),
        ]
    table = LongTable(data, colWidths=col_widths, repeatRows=1)
    table.setStyle(TableStyle(commands))
    return table

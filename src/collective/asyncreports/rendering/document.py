"""A document builder on ReportLab platypus: title, headings, paragraphs, tables."""

import datetime
import io
import re
from typing import NamedTuple

from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.enums import TA_LEFT
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import LongTable
from reportlab.platypus import Paragraph
from reportlab.platypus import SimpleDocTemplate
from reportlab.platypus import Spacer
from reportlab.platypus import TableStyle

from collective.asyncreports.rendering import fonts


PAGE_SIZE = A4
MARGIN = 18 * mm
# Room between the text and the bottom margin, where the footer goes.
FOOTER_HEIGHT = 10 * mm
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


def _text(value):
    """Return ``value`` as cell or paragraph text: None is empty, the rest str().

    Characters a PDF cannot carry are replaced (see :func:`fonts.clean`).
    """
    if value is None:
        return ""
    if isinstance(value, datetime.datetime):  # as the inventories always showed them
        value = value.isoformat(timespec="seconds")
    return fonts.clean(_CONTROL_CHARS.sub("", str(value)))


def _paragraph(text, style, font_set, width=TEXT_WIDTH):
    """Return a Paragraph showing ``text`` literally, each run in a font that has it.

    Right-to-left text is laid out for ``width`` in visual order, and a
    paragraph that starts right to left is aligned right, unless centred.
    """
    # A point to spare: the Paragraph measures the same runs, but adds up
    # the widths in another order.
    text, rtl = font_set.visual(text, style.fontName, style.fontSize, width - 1)
    if rtl and style.alignment == TA_LEFT:
        style = ParagraphStyle(f"{style.name}-rtl", parent=style, alignment=TA_RIGHT)
    return Paragraph(font_set.markup(text, style.fontName), style)


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


def _footer_canvas(generated, font):
    """Return a canvas class whose pages carry "Page N of M" and ``generated``.

    The total page count is known only at the end, so the canvas holds every
    page back and draws all footers when the document is saved.
    """

    class FooterCanvas(Canvas):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._held_pages = []

        def showPage(self):
            self._held_pages.append(dict(self.__dict__))
            self._startPage()

        def save(self):
            total = len(self._held_pages)
            for number, page in enumerate(self._held_pages, 1):
                self.__dict__.update(page)
                self._draw_footer(number, total)
                super().showPage()
            super().save()

        def _draw_footer(self, number, total):
            self.saveState()
            self.setStrokeColor(colors.grey)
            self.setLineWidth(0.5)
            line_y = MARGIN + 4 * mm
            self.line(MARGIN, line_y, PAGE_SIZE[0] - MARGIN, line_y)
            self.setFont(font, CELL_FONT_SIZE)
            self.setFillColor(colors.grey)
            self.drawString(MARGIN, MARGIN, generated)
            self.drawRightString(
                PAGE_SIZE[0] - MARGIN, MARGIN, f"Page {number} of {total}"
            )
            self.restoreState()

    return FooterCanvas


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
    """A table of a :class:`Document` (:meth:`Document.tables`)."""

    heading: str | None
    header: tuple
    rows: list


class Document:
    """A report document: a title, then headings, paragraphs, tables and space.

    Every piece of text is shown literally: ``<b>`` in a title stays ``<b>``.
    Build it with the methods below, then call :meth:`to_pdf`.
    """

    def __init__(self, title, subtitle=None):
        """Start a document.

        :param title: Document title; shown on top and stored as PDF title.
        :param subtitle: Optional line shown under the title.
        """
        self.title = _text(title)
        self.subtitle = None if subtitle is None else _text(subtitle)
        # Blocks are kept as plain data and turned into flowables by to_pdf,
        # because ReportLab consumes flowables while laying them out.
        self._blocks = []

    def heading(self, text, level=1):
        """Add a heading.

        :param text: Heading text.
        :param level: 1, 2 or 3; 1 is the largest.
        :raises ValueError: if ``level`` is not 1, 2 or 3.
        """
        if level not in (1, 2, 3):
            raise ValueError(f"heading level must be 1, 2 or 3, not {level!r}")
        self._blocks.append(("heading", _text(text), level))

    def paragraph(self, text):
        """Add a paragraph of body text; newlines in ``text`` break lines.

        :param text: Paragraph text.
        """
        self._blocks.append(("paragraph", _text(text)))

    def table(self, header, rows, col_widths=None):
        """Add a table whose header row repeats on every page it spans.

        :param header: Column titles.
        :param rows: Iterable of rows, each a sequence of as many cells as
            ``header``. Cells may be any value: None shows as empty, the rest
            as ``str(value)``; long text wraps inside its cell.
        :param col_widths: Optional column widths in points (1/72 inch); by
            default the page width is shared in proportion to the content.
        :raises ValueError: if a row or ``col_widths`` does not match the
            header's length.
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
        self._blocks.append(
            ("table", header, values, None if col_widths is None else list(col_widths))
        )

    def tables(self):
        """Return the document's tables in order, as :class:`Table` tuples.

        Each has the text of the last heading before it (None when there is
        none), its header and its rows with the cells as given to
        :meth:`table` (numbers, dates, None...), for exporters other than PDF
        (``rendering/exports.py``).
        """
        heading, found = None, []
        for kind, *data in self._blocks:
            if kind == "heading":
                heading = data[0]
            elif kind == "table":
                found.append(Table(heading, data[0], data[1]))
        return found

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
        generated = "Generated " + generated_at.strftime("%Y-%m-%dT%H:%M:%SZ")

        font_set = fonts.font_set()
        output = io.BytesIO()
        template = SimpleDocTemplate(
            output,
            pagesize=PAGE_SIZE,
            leftMargin=MARGIN,
            rightMargin=MARGIN,
            topMargin=MARGIN,
            bottomMargin=MARGIN + FOOTER_HEIGHT,
            title=self.title,
            subject=self.subtitle or "",
            creator="collective.asyncreports",
            # Each page starts in this font: Helvetica unless told, which
            # would put a font that is not embedded in every PDF.
            initialFontName=font_set.regular,
        )
        template.build(
            self._flowables(_styles(font_set), font_set),
            canvasmaker=_footer_canvas(generated, font_set.regular),
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
                flowables.append(_paragraph(text, styles[level], font_set))
            elif kind == "paragraph":
                flowables.append(_paragraph(data[0], styles["body"], font_set))
            elif kind == "spacer":
                flowables.append(Spacer(1, data[0]))
            else:
                header, values, col_widths = data
                flowables.append(_table_flowable(
                    [_text(cell) for cell in header],
                    [[_text(cell) for cell in row] for row in values],
                    col_widths, styles=styles, font_set=font_set))
        return flowables


def _cell(text, text_width, width, style, font_set):
    """Return a table cell: plain text when it fits on one line, else a Paragraph.

    Plain strings are drawn literally and cost far less to lay out than
    Paragraphs, which only long text and text in more than one font need.
    """
    inner = width - 2 * CELL_PADDING
    if text_width <= inner and "\n" not in text and not fonts.has_rtl(text):
        # (Right-to-left text needs the visual order a Paragraph gets.)
        plain = font_set.plain(text, style.fontName)
        if plain is not None:
            return plain
    return _paragraph(text, style, font_set, inner)


def _table_flowable(header, rows, col_widths, styles, font_set):
    """Return a table flowable for :meth:`Document.table`."""
    # Each text is measured once, for the column widths and the cell kind.
    measure = font_set.width
    bold, regular = font_set.bold, font_set.regular
    measured = [[measure(text, bold, CELL_FONT_SIZE) for text in header]]
    measured.extend([measure(text, regular, CELL_FONT_SIZE) for text in row] for row in rows)
    if col_widths is None:
        col_widths = _column_widths(measured)
    data = []
    header_style, cell_style = styles["header"], styles["cell"]
    for number, (row, text_widths) in enumerate(zip([header, *rows], measured, strict=True)):
        style = cell_style if number else header_style
        data.append(
            [
                _cell(text, text_width, width, style, font_set)
                for text, text_width, width in zip(row, text_widths, col_widths, strict=True)
            ]
        )
    table = LongTable(data, colWidths=col_widths, repeatRows=1)
    table.setStyle(
        TableStyle(
            [
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
        )
    )
    return table

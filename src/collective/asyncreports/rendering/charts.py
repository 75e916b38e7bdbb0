"""Bar and pie charts of a Document, drawn with ReportLab graphics.

Every label is drawn by :func:`label`, in the document's fonts run by run
(:meth:`fonts.FontSet.runs`), so Chinese or Arabic categories draw as text,
not boxes, and stay extractable. ReportLab's own chart labels take one font
per label and are left off.

Charts are bounded: past ``MAX_BARS`` bars or ``MAX_SLICES`` slices, the
smallest categories are summed into one called "Other".
"""

import decimal
import math
from typing import NamedTuple

from reportlab.graphics.charts.barcharts import HorizontalBarChart
from reportlab.graphics.charts.piecharts import Pie
from reportlab.graphics.shapes import Drawing
from reportlab.graphics.shapes import Group
from reportlab.graphics.shapes import Rect
from reportlab.graphics.shapes import String
from reportlab.lib import colors
from reportlab.pdfbase.pdfmetrics import stringWidth

from collective.asyncreports.i18n import _
from collective.asyncreports.i18n import in_language


KINDS = ("bar", "pie")
MAX_BARS = 15
MAX_SLICES = 8
OTHER = _("Other")

TITLE_SIZE = 10
LABEL_SIZE = 8
BAR_PITCH = 16  # points per bar, gap included
PIE_SIZE = 140
SWATCH = 8
PALETTE = [colors.HexColor(code) for code in (
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
    "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
)]


class Chart(NamedTuple):
    """A chart of a :class:`Document` (:meth:`Document.charts`)."""

    kind: str
    title: str
    labels: tuple
    values: tuple


def check(kind, labels, values):
    """Return ``(labels, values)`` as tuples, or raise ValueError saying what is wrong."""
    if kind not in KINDS:
        raise ValueError(f"chart kind must be 'bar' or 'pie', not {kind!r}")
    labels, values = tuple(labels), tuple(values)
    if len(labels) != len(values):
        raise ValueError(f"a chart has {len(labels)} labels and {len(values)} values")
    for value in values:
        if isinstance(value, bool) or not isinstance(value, (int, float, decimal.Decimal)):
            raise ValueError(f"chart values must be numbers, not {value!r}")
        if not math.isfinite(value):
            raise ValueError(f"chart values must be finite, not {value!r}")
        if kind == "pie" and value < 0:
            raise ValueError(f"a pie chart cannot show a negative value ({value!r})")
    return labels, values


def collapse(labels, values, limit):
    """Keep the ``limit - 1`` largest categories in their order, the rest summed as "Other".

    Nothing changes when there are at most ``limit`` categories.
    """
    if len(values) <= limit:
        return list(labels), list(values)
    by_size = sorted(range(len(values)), key=lambda index: -values[index])
    kept = sorted(by_size[:limit - 1])
    other = sum(values[index] for index in by_size[limit - 1:])
    return [labels[index] for index in kept] + [OTHER], [values[index] for index in kept] + [other]


def number(value):
    """A value as a chart shows it: thousands separated, at most two decimals."""
    if isinstance(value, int) or value == int(value):
        return f"{int(value):,}"
    return f"{float(value):,.2f}"


def placed_runs(font_set, text, font, size):
    """Return ``[(font name, run, width)]``: ``text`` in visual order, run by run."""
    text, _ = font_set.visual(text, font, size, 1e6)  # one line, however long
    return [(name, run, stringWidth(run, name, size)) for name, run in font_set.runs(text, font)]


def label(font_set, text, x, y, font=None, size=LABEL_SIZE, anchor="start", max_width=None):
    """Return a Group drawing ``text`` at ``(x, y)``, each run in the font that has it.

    ``anchor`` is "start", "middle" or "end"; text wider than ``max_width``
    is cut and ends with an ellipsis.
    """
    font = font or font_set.regular
    runs = placed_runs(font_set, text, font, size)
    if max_width is not None:
        while len(text) > 1 and sum(width for *_, width in runs) > max_width:
            text = text[:-2] + "\u2026"
            runs = placed_runs(font_set, text, font, size)
    total = sum(width for *_, width in runs)
    start = {"start": x, "middle": x - total / 2, "end": x - total}[anchor]
    group = Group()
    for name, run, width in runs:
        group.add(String(start, y, run, fontName=name, fontSize=size, fillColor=colors.black))
        start += width
    return group


def drawing(chart, font_set, width, text, language=None):
    """Return a Drawing of ``chart`` ``width`` points wide.

    :param text: The function that makes a label's text safe to draw
        (the document's: control characters removed, None empty).
    :param language: What "Other" and "No data to chart." are in (None: English).
    """
    labels = [text(item) for item in chart.labels]
    limit = MAX_BARS if chart.kind == "bar" else MAX_SLICES
    labels, values = collapse(labels, list(chart.values), limit)
    labels = [in_language(item, language) for item in labels]
    body = _bars if chart.kind == "bar" else _pie
    if not values or (chart.kind == "pie" and not any(values)):
        body = _no_data
        labels = in_language(_("No data to chart."), language)
    group, height = body(labels, values, font_set, width)
    title_height = TITLE_SIZE + 8 if chart.title else 0
    result = Drawing(width, height + title_height)
    # The renderer starts every drawing with a font set (Times-Roman unless
    # told): one of ours, so the PDF carries no font it does not embed.
    result.initialFontName = font_set.regular
    result.add(group)
    if chart.title:
        result.add(label(font_set, text(chart.title), 0, height + 6, font=font_set.bold,
                         size=TITLE_SIZE, max_width=width))
    return result


def _no_data(message, values, font_set, width):
    group = Group()
    group.add(label(font_set, message, 0, 4))
    return group, LABEL_SIZE + 8


def _bars(labels, values, font_set, width):
    """Horizontal bars, first category on top; labels left, values at the bar ends."""
    count = len(values)
    label_width = min(max(sum(w for *_, w in placed_runs(font_set, item, font_set.regular,
                                                          LABEL_SIZE)) for item in labels),
                      width * 0.35)
    axis_height = LABEL_SIZE + 6
    chart = HorizontalBarChart()
    chart.x = label_width + 6
    chart.y = axis_height
    chart.height = count * BAR_PITCH
    chart.width = width - chart.x - 50  # room for the last value label
    chart.data = [[float(value) for value in values]]
    chart.bars[0].fillColor = PALETTE[0]
    chart.bars.strokeColor = None
    chart.categoryAxis.categoryNames = [""] * count
    chart.categoryAxis.reverseDirection = 1
    chart.categoryAxis.visibleTicks = 0
    chart.categoryAxis.labels.fontName = font_set.regular  # empty, but still set
    # The axis ends at the largest value, so the value labels can be put at
    # the bar ends without asking the axis where it rounded to.
    low = min(0, *values)
    high = max(max(values), low + 1)
    chart.valueAxis.valueMin, chart.valueAxis.valueMax = low, high
    chart.valueAxis.labels.fontName = font_set.regular
    chart.valueAxis.labels.fontSize = LABEL_SIZE - 1
    # Counts get whole-number ticks only (no "0.50 items").
    whole = all(isinstance(value, int) for value in values)
    chart.valueAxis.labelTextFormat = (
        (lambda tick: number(tick) if tick == int(tick) else "") if whole else number)
    group = Group(chart)
    step = chart.height / count
    for index, (name, value) in enumerate(zip(labels, values, strict=True)):
        middle = chart.y + chart.height - (index + 0.5) * step - LABEL_SIZE / 3
        group.add(label(font_set, name, label_width, middle, anchor="end",
                        max_width=label_width))
        end = chart.x + chart.width * (value - low) / (high - low)
        group.add(label(font_set, number(value), end + 3, middle))
    return group, chart.y + chart.height


def _pie(labels, values, font_set, width):
    """A pie on the left, a legend with values and shares on its right."""
    count = len(values)
    height = max(PIE_SIZE, count * (SWATCH + 6))
    pie = Pie()
    pie.x, pie.y = 0, height - PIE_SIZE
    pie.width = pie.height = PIE_SIZE
    pie.data = [float(value) for value in values]
    pie.labels = None
    pie.simpleLabels = 1
    pie.slices.strokeColor = colors.white
    pie.slices.strokeWidth = 0.5
    for index in range(count):
        pie.slices[index].fillColor = PALETTE[index % len(PALETTE)]
    group = Group(pie)
    total = float(sum(values))
    left = PIE_SIZE + 20
    for index, (name, value) in enumerate(zip(labels, values, strict=True)):
        y = height - (index + 1) * (SWATCH + 6)
        group.add(Rect(left, y, SWATCH, SWATCH, fillColor=PALETTE[index % len(PALETTE)],
                       strokeColor=None))
        share = 100 * float(value) / total if total else 0
        group.add(label(font_set, f"{name}: {number(value)} ({share:.0f}%)",
                        left + SWATCH + 4, y + 1, max_width=width - left - SWATCH - 4))
    return group, height

"""Tests of the richer Document: charts, links, outline, metadata, totals, page header,
checked in the PDF (pypdf) and in CSV and XLSX read back."""

import csv
import io
import logging
import unicodedata
import unittest

import openpyxl
import pypdf
from PIL import Image

from collective.asyncreports.rendering import Document
from collective.asyncreports.rendering import Link
from collective.asyncreports.rendering import charts
from collective.asyncreports.rendering import exports
from collective.asyncreports.rendering.links import safe_url
from tests.unit.test_fonts import pdf_fonts


def reader(document):
    return pypdf.PdfReader(io.BytesIO(document.to_pdf()))


def text_of(pdf):
    return "\n".join(page.extract_text() for page in pdf.pages)


def link_targets(pdf):
    """The /URI of every link annotation, by page number."""
    found = []
    for number, page in enumerate(pdf.pages):
        for annotation in page.get("/Annots") or []:
            action = annotation.get_object().get("/A") or {}
            if "/URI" in action:
                found.append((number, action["/URI"]))
    return found


def outline(pdf, entries=None, depth=0):
    """The outline as ``[(depth, title, page number)]``, in order."""
    found = []
    for entry in pdf.outline if entries is None else entries:
        if isinstance(entry, list):
            found.extend(outline(pdf, entry, depth + 1))
        else:
            found.append((depth, entry.title, pdf.get_destination_page_number(entry)))
    return found


def png(width=40, height=20):
    output = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(output, "PNG")
    return output.getvalue()


def images_on(page):
    resources = page["/Resources"]
    objects = resources.get("/XObject") or {}
    return [name for name in objects if objects[name].get_object()["/Subtype"] == "/Image"]


class SafeUrlTests(unittest.TestCase):
    def test_web_and_mail_addresses_and_relative_paths_link(self):
        for url in ("https://example.org/a?b=1&c=2", "http://example.org", "HTTPS://x.org",
                    "mailto:ann@example.org", "/plone/docs", "docs/welcome", "#top"):
            self.assertEqual(safe_url(url), url)

    def test_other_schemes_and_tricks_do_not(self):
        for url in ("javascript:alert(1)", "JavaScript:alert(1)", "data:text/html,x",
                    "java\tscript:alert(1)", " javascript:alert(1)", "vbscript:x",
                    "file:///etc/passwd", "//evil.example.org/", "/\\evil.example.org",
                    "", None, 42):
            self.assertIsNone(safe_url(url), url)


class OutlineAndMetadataTests(unittest.TestCase):
    def test_headings_make_a_nested_outline_pointing_at_their_pages(self):
        document = Document("Outlined")
        document.heading("Part one")
        document.heading("Chapter 1.1", level=2)
        document.heading("Section 1.1.1", level=3)
        document.heading("Chapter 1.2", level=2)
        for number in range(120):
            document.paragraph(f"filler {number}")
        document.heading("Part two")
        document.heading("Deep at once", level=3)
        pdf = reader(document)
        entries = outline(pdf)
        self.assertEqual([(depth, title) for depth, title, _ in entries], [
            (0, "Part one"), (1, "Chapter 1.1"), (2, "Section 1.1.1"), (1, "Chapter 1.2"),
            (0, "Part two"),
            (1, "Deep at once"),  # a level 3 right after a level 1 goes one step down
        ])
        pages = {title: page for _, title, page in entries}
        self.assertEqual(pages["Part one"], 0)
        self.assertGreater(pages["Part two"], 0)
        self.assertIn("Part two", pdf.pages[pages["Part two"]].extract_text())

    def test_outline_starting_below_level_one(self):
        document = Document("Only level 2")
        document.heading("First", level=2)
        document.heading("Second", level=2)
        self.assertEqual([(d, t) for d, t, _ in outline(reader(document))],
                         [(0, "First"), (0, "Second")])

    def test_title_author_and_subject(self):
        document = Document("Sales <2026>", subtitle="By region", author="Ann Ó Author",
                            subject="Quarterly sales")
        metadata = reader(document).metadata
        self.assertEqual(metadata.title, "Sales <2026>")
        self.assertEqual(metadata.author, "Ann Ó Author")
        self.assertEqual(metadata.subject, "Quarterly sales")

    def test_subject_defaults_to_the_subtitle(self):
        self.assertEqual(reader(Document("T", subtitle="Sub")).metadata.subject, "Sub")

    def test_fill_in_keeps_what_the_report_set(self):
        document = Document("T", author="Report's own", header_text="")
        document.fill_in(author="owner", header_text="Site", logo=b"x")
        self.assertEqual((document.author, document.header_text, document.logo),
                         ("Report's own", "", b"x"))
        with self.assertRaises(TypeError):
            document.fill_in(title="no")


class LinkTests(unittest.TestCase):
    def test_links_in_paragraphs_and_cells_are_annotations_text_stays_literal(self):
        document = Document("Links")
        document.paragraph("Read <b>this</b> & that", url="https://example.org/a?b=1&c=\"2\"")
        document.paragraph(Link("Mail us", "mailto:ann@example.org"))
        document.paragraph("Not a link", url="javascript:alert(1)")
        document.table(("Title", "N"), [
            (Link("Welcome <i>", "https://example.org/welcome"), 1),
            (Link("Evil", "javascript:alert(document.cookie)"), 2),
            (Link("Data", "data:text/html;base64,PHNjcmlwdD4="), 3),
            (Link("Relative", "/plone/docs"), 4),
        ])
        pdf = reader(document)
        self.assertEqual([url for _, url in link_targets(pdf)], [
            'https://example.org/a?b=1&c="2"', "mailto:ann@example.org",
            "https://example.org/welcome", "/plone/docs"])
        text = text_of(pdf)
        for shown in ("Read <b>this</b> & that", "Mail us", "Not a link", "Welcome <i>",
                      "Evil", "Data", "Relative"):
            self.assertIn(shown, text)
        self.assertNotIn("javascript", text)

    def test_csv_gives_a_link_s_text_and_xlsx_a_hyperlink(self):
        document = Document("Links")
        document.table(("Title", "N"), [
            (Link("Welcome", "https://example.org/welcome"), 1),
            (Link("=HYPERLINK(\"x\")", "https://example.org/f"), 2),
            (Link("Evil", "javascript:alert(1)"), 3),
        ])
        rows = list(csv.reader(io.StringIO(exports.to_csv(document).decode("utf-8-sig"))))
        self.assertEqual([row[0] for row in rows],
                         ["Title", "Welcome", "'=HYPERLINK(\"x\")", "Evil"])
        sheet = openpyxl.load_workbook(io.BytesIO(exports.to_xlsx(document))).active
        cells = [sheet.cell(row=number, column=1) for number in (2, 3, 4)]
        self.assertEqual([cell.value for cell in cells],
                         ["Welcome", "=HYPERLINK(\"x\")", "Evil"])
        self.assertEqual(cells[0].hyperlink.target, "https://example.org/welcome")
        self.assertEqual(cells[1].hyperlink.target, "https://example.org/f")
        self.assertEqual(cells[1].data_type, "s")  # still text, not a formula
        self.assertTrue(cells[1].quotePrefix)
        self.assertIsNone(cells[2].hyperlink)


class TotalsTests(unittest.TestCase):
    def document(self, totals=True):
        document = Document("Totals")
        document.table(("Type", "Count", "Size", "Note"),
                       [("Page", 3, 1200, "a"), ("File", 2, None, "b"), ("Image", 5, 300.5, None)],
                       totals=totals)
        return document

    def test_totals_true_sums_numeric_columns(self):
        (table,) = self.document().tables()
        self.assertEqual(table.totals, ("Total", 10, 1500.5, None))
        self.assertEqual(len(table.rows), 3)
        text = text_of(reader(self.document()))
        self.assertIn("Total\n10\n1500.5", text)

    def test_given_totals_must_match_the_header(self):
        with self.assertRaisesRegex(ValueError, "totals row has 2 cells"):
            Document("T").table(("a", "b", "c"), [], totals=("x", 1))

    def test_csv_leaves_totals_out_xlsx_has_them_bold_as_numbers(self):
        rows = list(csv.reader(io.StringIO(
            exports.to_csv(self.document()).decode("utf-8-sig"))))
        self.assertEqual([row[0] for row in rows], ["Type", "Page", "File", "Image"])
        sheet = openpyxl.load_workbook(io.BytesIO(exports.to_xlsx(self.document()))).active
        last = [cell for cell in sheet[sheet.max_row]]
        self.assertEqual([cell.value for cell in last], ["Total", 10, 1500.5, None])
        self.assertTrue(all(cell.font.b for cell in last[:3]))
        self.assertFalse(sheet.cell(row=2, column=1).font.b)

    def test_the_main_table_is_the_csv_one(self):
        document = Document("Main")
        document.table(("Big",), [(n,) for n in range(5)])
        document.table(("Chosen",), [(1,)], main=True)
        self.assertEqual(exports.main_table(document).header, ("Chosen",))


class ChartTests(unittest.TestCase):
    def test_bar_and_pie_labels_and_values_are_text_in_the_pdf(self):
        document = Document("Charts")
        document.chart("Items per type", ["Document", "News Item", "Folder"], [12, 3, 1234])
        document.chart("States", ["published", "private"], [3, 1], kind="pie")
        text = text_of(reader(document))
        for shown in ("Items per type", "Document", "News Item", "Folder", "12", "1,234",
                      "States", "published: 3 (75%)", "private: 1 (25%)"):
            self.assertIn(shown, text)

    def test_charts_use_embedded_fonts_only(self):
        # ReportLab starts drawings and empty axis labels in Times-Roman,
        # which no PDF of ours may name without embedding it.
        document = Document("Charts")
        document.chart("Bars", ["a", "b"], [1, 2])
        document.chart("Pie", ["a", "b"], [1, 2], kind="pie")
        for name, descriptor in pdf_fonts(document.to_pdf()).items():
            self.assertIn("/FontFile2", descriptor or {}, name)

    def test_many_categories_collapse_into_other(self):
        labels = [f"kind-{n:02d}" for n in range(40)]
        document = Document("Many")
        document.chart("Bars", labels, list(range(40)))
        document.chart("Pie", labels, list(range(40)), kind="pie")
        text = text_of(reader(document))
        # The largest stay; 14 bars plus Other, 7 slices plus Other.
        self.assertIn("kind-39", text)
        self.assertIn("kind-26", text)
        self.assertNotIn("kind-25\n", text)
        self.assertIn("Other", text)
        self.assertEqual(text.count("Other"), 2)
        labels_kept, values_kept = charts.collapse(labels, list(range(40)), charts.MAX_SLICES)
        self.assertEqual(labels_kept, [f"kind-{n}" for n in range(33, 40)] + ["Other"])
        self.assertEqual(sum(values_kept), sum(range(40)))

    def test_chinese_and_arabic_labels_draw_as_text(self):
        document = Document("多语言")
        document.chart("文档类型", ["新闻稿件", "مرحبا بالعالم", "Latin"], [5, 3, 2])
        document.chart("饼图", ["新闻稿件", "مرحبا بالعالم"], [5, 3], kind="pie")
        text = unicodedata.normalize("NFKC", text_of(reader(document)))
        # Arabic is drawn in joined forms (NFKC maps them back), shaped and in
        # visual order; pypdf gives it back in reading order.
        for shown in ("文档类型", "新闻稿件", "饼图", "Latin", "مرحبا بالعالم", "5 (62%)"):
            self.assertIn(shown, text)

    def test_empty_and_wrong_charts(self):
        document = Document("Empty")
        document.chart("Nothing", [], [])
        document.chart("Zeros", ["a"], [0], kind="pie")
        self.assertEqual(text_of(reader(document)).count("No data to chart."), 2)
        for kwargs, message in (
            ({"kind": "line"}, "kind must be"),
            ({"values": [1]}, "2 labels and 1 values"),
            ({"values": [1, "2"]}, "must be numbers"),
            ({"values": [1, True]}, "must be numbers"),
            ({"values": [1, float("nan")]}, "finite"),
            ({"values": [1, -1], "kind": "pie"}, "negative"),
        ):
            arguments = {"labels": ["a", "b"], "values": [1, 2], **kwargs}
            with self.assertRaisesRegex(ValueError, message):
                Document("T").chart("c", **arguments)

    def test_csv_and_xlsx_leave_charts_out(self):
        document = Document("Chart only")
        document.chart("c", ["a"], [1])
        document.table(("x",), [(1,)])
        self.assertEqual(len(document.charts()), 1)
        book = openpyxl.load_workbook(io.BytesIO(exports.to_xlsx(document)))
        self.assertEqual(len(book.sheetnames), 1)
        self.assertEqual(exports.to_csv(document).decode("utf-8-sig"), "x\r\n1\r\n")


class PageHeaderTests(unittest.TestCase):
    def long_document(self, **kwargs):
        document = Document("Headed", **kwargs)
        for number in range(100):
            document.paragraph(f"line {number}")
        return document

    def test_header_text_and_logo_on_every_page(self):
        pdf = reader(self.long_document(header_text="Städtische Bibliothek 图书馆", logo=png()))
        self.assertGreater(len(pdf.pages), 1)
        for page in pdf.pages:
            self.assertIn("Städtische Bibliothek 图书馆", page.extract_text())
            self.assertEqual(len(images_on(page)), 1)

    def test_no_header_by_default(self):
        pdf = reader(self.long_document())
        self.assertEqual(images_on(pdf.pages[0]), [])

    def test_a_logo_that_is_no_image_is_left_out_with_a_warning(self):
        with self.assertLogs("collective.asyncreports.rendering.document",
                             logging.WARNING) as logs:
            pdf = reader(self.long_document(header_text="Site", logo=b"<svg>not for us</svg>"))
        self.assertIn("logo cannot be drawn", logs.output[0])
        self.assertIn("Site", pdf.pages[0].extract_text())
        self.assertEqual(images_on(pdf.pages[0]), [])

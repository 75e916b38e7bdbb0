"""Tests of the PDF document builder."""

import datetime
import io
import unittest

import pypdf

from collective.asyncreports.rendering import Document
from collective.asyncreports.rendering import is_pdf


def pdf_pages(data):
    """Return the text of each page of the PDF ``data``."""
    return [page.extract_text() for page in pypdf.PdfReader(io.BytesIO(data)).pages]


class DocumentTests(unittest.TestCase):
    def _long_document(self):
        document = Document("Quarterly <b>& report", subtitle="Sub <i>title</i>")
        document.heading("First heading")
        document.paragraph("Some text with <tags> & ampersands.\nA second line.")
        document.spacer(12)
        document.heading("Second heading", level=2)
        document.table(
            ["Name", "Count", "Note"],
            [[f"row-{number:03d}", number, None] for number in range(300)],
        )
        document.heading("After the table", level=3)
        return document

    def test_multi_page_document_text(self):
        generated_at = datetime.datetime(
            2024, 5, 1, 14, 30, 5, tzinfo=datetime.timezone(datetime.timedelta(hours=2))
        )
        data = self._long_document().to_pdf(generated_at=generated_at)
        self.assertTrue(is_pdf(data))
        pages = pdf_pages(data)
        total = len(pages)
        self.assertGreater(total, 3)
        text = "\n".join(pages)
        self.assertIn("Quarterly <b>& report", pages[0])
        self.assertIn("Sub <i>title</i>", pages[0])
        self.assertIn("First heading", pages[0])
        self.assertIn("Some text with <tags> & ampersands.", pages[0])
        self.assertIn("Second heading", pages[0])
        self.assertIn("After the table", pages[-1])
        for number in (0, 150, 299):
            self.assertIn(f"row-{number:03d}", text)
        self.assertIn("\n299\n", text)
        for number, page in enumerate(pages, 1):
            self.assertIn(f"Page {number} of {total}", page)
            # The time is shown in UTC.
            self.assertIn("Generated 2024-05-01T12:30:05Z", page)

    def test_header_row_repeats_on_every_page(self):
        pages = pdf_pages(self._long_document().to_pdf())
        for page in pages[1:]:
            self.assertIn("Name", page)
            self.assertIn("Count", page)
        # Rows are not repeated: each appears exactly once in the whole PDF.
        text = "\n".join(pages)
        self.assertEqual(text.count("row-150"), 1)

    def test_every_font_is_embedded_truetype_not_helvetica(self):
        reader = pypdf.PdfReader(io.BytesIO(self._long_document().to_pdf()))
        names = set()
        for page in reader.pages:
            for font in page["/Resources"]["/Font"].values():
                font = font.get_object()
                names.add(str(font["/BaseFont"]).split("+", 1)[-1])
                self.assertEqual(font["/Subtype"], "/TrueType")
                self.assertIn("/FontFile2", font["/FontDescriptor"])
        self.assertEqual(names, {"DejaVuSans", "DejaVuSans-Bold", "DejaVuSans-BoldOblique"})

    def test_metadata_title(self):
        data = Document("Inventory <b>&").to_pdf()
        reader = pypdf.PdfReader(io.BytesIO(data))
        self.assertEqual(reader.metadata.title, "Inventory <b>&")

    def test_default_generated_time_is_now_in_utc(self):
        before = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
        (page,) = pdf_pages(Document("Now").to_pdf())
        stamp = page.split("Generated ", 1)[1].split()[0]
        shown = datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ")
        shown = shown.replace(tzinfo=datetime.UTC)
        self.assertLessEqual(before, shown)
        self.assertLess(shown - before, datetime.timedelta(minutes=1))
        self.assertIn("Page 1 of 1", page)

    def test_long_cell_text_wraps_inside_its_column(self):
        document = Document("Wrap")
        long_words = " ".join(f"word{number}" for number in range(60))
        document.table(["Key", "Value"], [["short", long_words], ["x" * 300, "y"]])
        (page,) = pdf_pages(document.to_pdf())
        lines = page.splitlines()
        # The text is all there, broken over several lines of its cell.
        self.assertIn("word0", page)
        self.assertIn("word59", page)
        self.assertFalse(any("word0" in line and "word59" in line for line in lines))
        self.assertEqual(
            "".join(line for line in lines if set(line) == {"x"}), "x" * 300
        )

    def test_control_characters_are_dropped(self):
        document = Document("Bell\x07 title")
        document.paragraph("nul\x00 here")
        (page,) = pdf_pages(document.to_pdf())
        self.assertIn("Bell title", page)
        self.assertIn("nul here", page)

    def test_to_pdf_can_be_called_twice(self):
        document = self._long_document()
        first = pdf_pages(document.to_pdf())
        second = pdf_pages(document.to_pdf())
        self.assertEqual(len(first), len(second))
        self.assertIn("row-299", second[-1] + second[-2])

    def test_bad_table_and_heading_arguments(self):
        document = Document("Bad")
        with self.assertRaisesRegex(ValueError, "row 2 has 1 cells, the header has 2"):
            document.table(["a", "b"], [[1, 2], [3]])
        with self.assertRaisesRegex(ValueError, "3 column widths given for 2 columns"):
            document.table(["a", "b"], [], col_widths=[10, 20, 30])
        with self.assertRaisesRegex(ValueError, "heading level"):
            document.heading("Too deep", level=4)

    def test_explicit_column_widths(self):
        document = Document("Widths")
        document.table(["a", "b"], [["left", "right"]], col_widths=[100, 200])
        (page,) = pdf_pages(document.to_pdf())
        self.assertIn("left", page)
        self.assertIn("right", page)


class IsPdfTests(unittest.TestCase):
    def test_is_pdf(self):
        self.assertTrue(is_pdf(b"%PDF-1.4\n..."))
        self.assertTrue(is_pdf(Document("x").to_pdf()))
        self.assertFalse(is_pdf(b"<html>"))
        self.assertFalse(is_pdf(b""))
        self.assertFalse(is_pdf("%PDF-1.4"))
        self.assertFalse(is_pdf(None))

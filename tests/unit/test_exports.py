"""Tests of the result formats: a Document as CSV and XLSX (rendering/exports.py)."""

import csv
import datetime
import decimal
import io
import unittest

import openpyxl

from collective.asyncreports.rendering import Document
from collective.asyncreports.rendering import exports
from collective.asyncreports.rendering import is_pdf


HOSTILE = ("=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1")
WHEN = datetime.datetime(2026, 3, 4, 5, 6, 7, tzinfo=datetime.timezone(datetime.timedelta(hours=2)))


def read_csv(data):
    text = data.decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text, newline="")))


def read_xlsx(data):
    return openpyxl.load_workbook(io.BytesIO(data))


def two_tables():
    document = Document("Inventory of Łódź", subtitle="all of it")
    document.paragraph("Intro")
    document.heading("Counts per type", level=2)
    document.table(("Type", "Count"), [("File", 2), ("Folder", 1)])
    document.heading("Items", level=2)
    document.table(
        ("Title", "Size", "Modified", "Day", "Ratio", "Public", "Note"),
        [
            ("Zażółć gęślą jaźń", 1234, WHEN, datetime.date(2026, 1, 2), 0.5, True, None),
            ("日本語", 0, WHEN.replace(tzinfo=None), datetime.date(2026, 1, 3),
             decimal.Decimal("2.25"), False, "x"),
            ("third", -5, None, None, None, None, ""),
        ],
    )
    return document


class CsvTests(unittest.TestCase):
    def test_the_largest_table_with_a_bom_in_utf8(self):
        data = exports.to_csv(two_tables())
        self.assertTrue(data.startswith(b"\xef\xbb\xbf"))
        rows = read_csv(data)
        self.assertEqual(rows[0], ["Title", "Size", "Modified", "Day", "Ratio", "Public", "Note"])
        self.assertEqual(rows[1], ["Zażółć gęślą jaźń", "1234", "2026-03-04T05:06:07+02:00",
                                   "2026-01-02", "0.5", "true", ""])
        self.assertEqual(rows[2][0], "日本語")
        self.assertEqual(rows[2][4:6], ["2.25", "false"])
        self.assertEqual(rows[3][:2], ["third", "-5"])  # a typed number is left alone
        self.assertEqual(len(rows), 4)
        self.assertIn(b"\r\n", data)

    def test_the_first_of_equally_large_tables(self):
        document = Document("t")
        document.table(("A",), [(1,), (2,)])
        document.table(("B",), [(3,), (4,)])
        self.assertEqual(read_csv(exports.to_csv(document))[0], ["A"])

    def test_text_that_looks_like_a_formula_gets_an_apostrophe(self):
        document = Document("t")
        document.table(("Cell",), [(text,) for text in HOSTILE] + [("a=b",), ("'quoted",)])
        cells = [row[0] for row in read_csv(exports.to_csv(document))[1:]]
        self.assertEqual(cells, ["'" + text for text in HOSTILE] + ["a=b", "'quoted"])
        for cell in cells[: len(HOSTILE)]:
            self.assertFalse(cell.startswith(exports.FORMULA_START))

    def test_commas_quotes_and_newlines_survive(self):
        document = Document("t")
        document.table(("A", "B"), [('x, "y"', "line 1\nline 2")])
        self.assertEqual(read_csv(exports.to_csv(document))[1], ['x, "y"', "line 1\nline 2"])

    def test_a_document_without_tables_gives_its_text(self):
        document = Document("Title", subtitle="Sub")
        document.paragraph("=not a formula")
        rows = read_csv(exports.to_csv(document))
        self.assertEqual(rows, [["Title"], ["Sub"], ["'=not a formula"]])


class XlsxTests(unittest.TestCase):
    def test_one_sheet_per_table_named_by_its_heading(self):
        book = read_xlsx(exports.to_xlsx(two_tables()))
        self.assertEqual(book.sheetnames, ["Counts per type", "Items"])
        self.assertEqual(book.properties.title, "Inventory of Łódź")
        counts = book["Counts per type"]
        self.assertEqual([[c.value for c in row] for row in counts.iter_rows()],
                         [["Type", "Count"], ["File", 2], ["Folder", 1]])

    def test_typed_cells(self):
        sheet = read_xlsx(exports.to_xlsx(two_tables()))["Items"]
        first, second, third = (list(row) for row in sheet.iter_rows(min_row=2))
        self.assertEqual(first[0].value, "Zażółć gęślą jaźń")
        self.assertEqual((first[1].value, first[1].data_type), (1234, "n"))
        # Excel knows no time zones: a datetime with one is in UTC.
        self.assertEqual(first[2].value, datetime.datetime(2026, 3, 4, 3, 6, 7))
        self.assertTrue(first[2].is_date)
        self.assertEqual(first[2].number_format, "yyyy-mm-dd hh:mm:ss")
        self.assertEqual(second[2].value, datetime.datetime(2026, 3, 4, 5, 6, 7))
        self.assertTrue(first[3].is_date)
        self.assertEqual(first[3].value.date(), datetime.date(2026, 1, 2))
        self.assertEqual(first[3].number_format, "yyyy-mm-dd")
        self.assertEqual(first[4].value, 0.5)
        self.assertEqual(second[4].value, 2.25)
        self.assertIs(first[5].value, True)
        self.assertIs(second[5].value, False)
        self.assertIsNone(first[6].value)
        self.assertEqual(second[0].value, "日本語")
        self.assertEqual(third[1].value, -5)

    def test_bold_frozen_header_row(self):
        book = read_xlsx(exports.to_xlsx(two_tables()))
        for sheet in book.worksheets:
            self.assertEqual(sheet.freeze_panes, "A2")
            self.assertTrue(all(cell.font.b for cell in sheet[1]))
            self.assertFalse(any(cell.font.b for cell in sheet[2]))

    def test_text_that_looks_like_a_formula_stays_text(self):
        document = Document("t")
        document.table(("Cell",), [(text,) for text in HOSTILE])
        data = exports.to_xlsx(document)
        sheet = read_xlsx(data).active
        cells = [row[0] for row in sheet.iter_rows(min_row=2)]
        self.assertEqual([cell.value for cell in cells], list(HOSTILE))
        for cell in cells:
            self.assertEqual(cell.data_type, "s")
            self.assertTrue(cell.quotePrefix)
        import zipfile

        sheet_xml = zipfile.ZipFile(io.BytesIO(data)).read("xl/worksheets/sheet1.xml")
        self.assertNotIn(b"<f>", sheet_xml)

    def test_sheet_names_valid_unique_and_short(self):
        document = Document("A title that is much longer than thirty-one characters")
        names = ["Sales [2026]: a/b\\c?*", "sales [2026]: a/b\\c?*", "'quoted'", "History",
                 "x" * 40, "x" * 40, "   ", None]
        for name in names:
            if name is not None:
                document.heading(name)
            else:
                document.paragraph("no heading change")
            document.table(("A",), [(1,)])
        sheets = read_xlsx(exports.to_xlsx(document)).sheetnames
        self.assertEqual(len(sheets), len(names))
        self.assertEqual(len({name.lower() for name in sheets}), len(sheets))
        for name in sheets:
            self.assertLessEqual(len(name), 31)
            self.assertFalse(set(name) & set("[]:*?/\\"))
            self.assertFalse(name.startswith("'") or name.endswith("'"))
            self.assertNotEqual(name.lower(), "history")
        self.assertEqual(sheets[0], "Sales 2026 a b c")
        self.assertEqual(sheets[1], "sales 2026 a b c (2)")
        self.assertEqual(sheets[2], "quoted")
        self.assertEqual(sheets[4], "x" * 31)
        self.assertEqual(sheets[5], "x" * 27 + " (2)")
        self.assertEqual(sheets[6], "Table")  # a blank heading

    def test_a_sheet_without_heading_is_named_after_the_title(self):
        document = Document("Report: 1/2")
        document.table(("A",), [(1,)])
        self.assertEqual(read_xlsx(exports.to_xlsx(document)).sheetnames, ["Report 1 2"])

    def test_control_characters_and_huge_text_do_not_break_the_file(self):
        document = Document("t")
        document.table(("A",), [("bell\x07 and nul\x00",), ("y" * 40000,)])
        sheet = read_xlsx(exports.to_xlsx(document)).active
        self.assertEqual(sheet["A2"].value, "bell and nul")
        self.assertEqual(len(sheet["A3"].value), 32767)

    def test_a_document_without_tables_has_one_sheet_of_text(self):
        document = Document("Nothing here")
        document.paragraph("There are no objects.")
        book = read_xlsx(exports.to_xlsx(document))
        self.assertEqual(book.sheetnames, ["Nothing here"])
        self.assertEqual([row[0].value for row in book.active.iter_rows()],
                         ["Nothing here", "There are no objects."])


class ExportTests(unittest.TestCase):
    def test_each_format(self):
        document = two_tables()
        self.assertTrue(is_pdf(exports.export(document, "pdf")))
        self.assertTrue(exports.export(document, "csv").startswith(b"\xef\xbb\xbf"))
        self.assertTrue(exports.export(document, "xlsx").startswith(b"PK"))

    def test_pdf_bytes_are_pdf_only(self):
        pdf = Document("x").to_pdf()
        self.assertEqual(exports.export(pdf, "pdf"), pdf)
        for name in ("csv", "xlsx"):
            with self.assertRaisesRegex(exports.ExportError, "formats = \\('pdf',\\)"):
                exports.export(pdf, name)
        with self.assertRaisesRegex(exports.ExportError, "unknown result format"):
            exports.export(Document("x"), "docx")

    def test_the_formats_table(self):
        self.assertEqual(list(exports.FORMATS), ["pdf", "csv", "xlsx"])
        self.assertEqual(exports.FORMATS["xlsx"].content_type,
                         "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
        self.assertEqual(exports.FORMATS["csv"].content_type, "text/csv")

    def test_pdf_shows_typed_cells_as_text(self):
        import pypdf

        data = exports.export(two_tables(), "pdf")
        text = "".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(data)).pages)
        self.assertIn("2026-03-04T05:06:07+02:00", text)
        self.assertIn("1234", text)

    def test_tables_keep_their_cells_as_given(self):
        tables = two_tables().tables()
        self.assertEqual([t.heading for t in tables], ["Counts per type", "Items"])
        self.assertEqual(tables[1].rows[0][2], WHEN)
        self.assertEqual(tables[0].header, ("Type", "Count"))

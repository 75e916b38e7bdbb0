"""PDFs in every script: embedded Unicode fonts, fallback runs, right to left, emoji."""

import io
import logging
import shutil
import tempfile
import unicodedata
import unittest
from pathlib import Path

import pypdf
from App.config import getConfiguration

from collective.asyncreports.rendering import Document
from collective.asyncreports.rendering import fonts
from tests.processes import pdf_text


DEJAVU = Path("/usr/share/fonts/truetype/dejavu")
ZENHEI = Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")

# Pangrams and greetings, one per script the reports must show.
SAMPLES = {
    "Polish": "Zażółć gęślą jaźń",
    "Czech": "Příliš žluťoučký kůň úpěl ďábelské ódy",
    "Hungarian": "Árvíztűrő tükörfúrógép",
    "Vietnamese": "Tiếng Việt có dấu: Đặng Thị Hường",
    "Greek": "Καλημέρα κόσμε, ξεσκεπάζω την ψυχοφθόρα βδελυγμία",
    "Cyrillic": "Съешь же ещё этих мягких французских булок",
    "Chinese": "东京是日本的首都，北京欢迎你",
    "Japanese": "こんにちは、世界。カタカナも漢字も",
    "Korean": "안녕하세요 세계, 한국어 텍스트",
}
HEBREW = "שלום עולם זה משפט בעברית"
ARABIC = "مرحبا بالعالم هذه جملة باللغة العربية"
EMOJI = "smile 😀 rocket 🚀 thumbs 👍🏽 heart ❤ snowman ☃ done"


def pdf_fonts(data):
    """Return ``{BaseFont: font descriptor or None}`` of every font on every page."""
    found = {}
    for page in pypdf.PdfReader(io.BytesIO(data)).pages:
        for font in page["/Resources"].get("/Font", {}).values():
            font = font.get_object()
            if font["/Subtype"] == "/Type0":
                font = font["/DescendantFonts"][0].get_object()
            descriptor = font.get("/FontDescriptor")
            found[str(font["/BaseFont"])] = descriptor and descriptor.get_object()
    return found


def words(text):
    """``text`` with every run of white space made one space."""
    return " ".join(text.split())


def render(*paragraphs, table=True):
    """A PDF with each text as a heading, a paragraph and a table cell."""
    document = Document("Scripts " + paragraphs[0], subtitle=paragraphs[-1])
    for text in paragraphs:
        document.heading(text, level=3)
        document.paragraph(text)
    if table:
        document.table(["Text", "Again"], [[text, text] for text in paragraphs])
    return document.to_pdf()


class FontsInstalled(unittest.TestCase):
    def setUp(self):
        for path in (DEJAVU / "DejaVuSans.ttf", ZENHEI):
            self.assertTrue(path.exists(), f"{path} is missing: run scripts/install-fonts.sh")
        fonts.reset()
        self.fonts = fonts.font_set()


class ScriptTests(FontsInstalled):
    def test_latin_with_diacritics_greek_and_cyrillic_come_back_from_the_pdf(self):
        texts = [SAMPLES[name] for name in
                 ("Polish", "Czech", "Hungarian", "Vietnamese", "Greek", "Cyrillic")]
        text = pdf_text(render(*texts))
        for sample in texts:
            # Heading, paragraph and two cells; the title and subtitle too.
            self.assertGreaterEqual(words(text).count(sample), 4, sample)

    def test_chinese_japanese_and_korean_come_back_from_the_pdf(self):
        texts = [SAMPLES[name] for name in ("Chinese", "Japanese", "Korean")]
        text = pdf_text(render(*texts))
        for sample in texts:
            self.assertGreaterEqual(words(text).count(sample), 4, sample)

    def test_mixed_scripts_in_one_text_draw_each_run_in_a_font_that_has_it(self):
        data = render("Zürich 東京 Москва")
        self.assertGreaterEqual(pdf_text(data).count("Zürich 東京 Москва"), 4)
        names = {name.split("+", 1)[1] for name in pdf_fonts(data)}
        self.assertIn("DejaVuSans", names)
        self.assertIn("WenQuanYiZenHei-0", names)

    def test_hebrew_comes_back_in_reading_order_also_when_wrapped(self):
        long_text = " ".join([HEBREW] * 12)
        text = pdf_text(render(HEBREW, long_text))
        # pypdf puts right-to-left text back in reading order, line by line.
        self.assertGreaterEqual(words(text).count(HEBREW), 4 + 4 * 12)
        self.assertIn(long_text, words(text))

    def test_arabic_is_shaped_and_comes_back_in_reading_order_also_when_wrapped(self):
        long_text = " ".join([ARABIC] * 10)
        text = pdf_text(render(ARABIC, long_text))
        # Drawn in joined (presentation) forms; NFKC maps them back to letters.
        self.assertNotIn(ARABIC, text)
        self.assertIn("\ufee3\ufeae\ufea3\ufe92\ufe8e", text)  # مرحبا, joined
        normal = words(unicodedata.normalize("NFKC", text))
        self.assertGreaterEqual(normal.count(ARABIC), 4 + 4 * 10)
        self.assertIn(long_text, normal)

    def test_emoji_and_characters_above_u_ffff_never_fail_a_pdf(self):
        document = Document(EMOJI, subtitle="\U0001d400 math")
        document.heading(EMOJI)
        document.paragraph(EMOJI)
        document.table(["😀"], [[EMOJI], ["\U0010ffff"]])
        text = pdf_text(document.to_pdf())
        # Emoji outside the BMP show as U+FFFD; those in the BMP that DejaVu has stay.
        self.assertGreaterEqual(
            words(text).count(
                "smile \ufffd rocket \ufffd thumbs \ufffd\ufffd heart ❤ snowman ☃ done"),
            4)
        self.assertNotIn("\x00", text)
        self.assertIn("\ufffd math", text)

    def test_every_font_is_embedded_and_no_base_14_font_is_used(self):
        data = render(*SAMPLES.values(), HEBREW, ARABIC, EMOJI)
        found = pdf_fonts(data)
        self.assertGreaterEqual(len(found), 4)  # regular, bold, bold oblique, CJK
        for name, descriptor in found.items():
            self.assertNotIn("Helvetica", name)
            self.assertIsNotNone(descriptor, f"{name} has no font descriptor")
            self.assertTrue(
                "/FontFile2" in descriptor or "/FontFile3" in descriptor,
                f"{name} is not embedded",
            )


class RunTests(FontsInstalled):
    def test_runs_split_text_by_the_first_font_that_has_each_character(self):
        regular = self.fonts.regular
        self.assertEqual(
            self.fonts.runs("Zürich 東京 Москва", regular),
            [(regular, "Zürich "), ("AsyncReports-CJK-ZenHei", "東京 "), (regular, "Москва")],
        )
        self.assertEqual(self.fonts.runs("plain ascii", regular), [(regular, "plain ascii")])

    def test_bold_text_falls_back_to_the_regular_cjk_face(self):
        self.assertEqual(
            self.fonts.runs("Σ東", self.fonts.bold),
            [(self.fonts.bold, "Σ"), ("AsyncReports-CJK-ZenHei", "東")],
        )

    def test_characters_no_font_has_become_the_replacement_character(self):
        regular = self.fonts.regular
        # U+0378 is unassigned, U+E000 private use: no font has them.
        self.assertEqual(self.fonts.runs("a\u0378b\ue000", regular), [(regular, "a\ufffdb\ufffd")])

    def test_the_cjk_font_is_loaded_only_when_a_text_needs_it(self):
        render(SAMPLES["Polish"], SAMPLES["Greek"], HEBREW)
        self.assertNotIn("AsyncReports-CJK-ZenHei", self.fonts.embedded)
        render(SAMPLES["Korean"])
        self.assertIn("AsyncReports-CJK-ZenHei", self.fonts.embedded)

    def test_width_is_what_reportlab_measures_run_by_run(self):
        from reportlab.pdfbase.pdfmetrics import stringWidth

        for text in ("folder/item-00001.txt ~{}", "Zürich", ""):
            for font in (self.fonts.regular, self.fonts.bold):
                self.assertAlmostEqual(self.fonts.width(text, font, 8), stringWidth(text, font, 8))
        self.assertAlmostEqual(
            self.fonts.width("Zürich 東京", self.fonts.regular, 8),
            stringWidth("Zürich ", self.fonts.regular, 8)
            + stringWidth("東京", "AsyncReports-CJK-ZenHei", 8),
        )

    def test_markup_shows_text_literally_with_fallback_runs_in_font_tags(self):
        self.assertEqual(
            self.fonts.markup("<b>東</b>\n", self.fonts.regular),
            '&lt;b&gt;<font name="AsyncReports-CJK-ZenHei">東</font>&lt;/b&gt;<br/>',
        )

    def test_mixed_direction_line_is_drawn_in_visual_order_with_mirrored_brackets(self):
        visual = self.fonts.visual
        regular = self.fonts.regular
        self.assertEqual(
            visual("Name: שלום עולם (2024) ok", regular, 10, 500),
            ("Name: (2024) םלוע םולש ok", False),
        )
        self.assertEqual(visual("שלום (עולם)", regular, 10, 500), ("(םלוע) םולש", True))
        self.assertEqual(visual("no rtl here", regular, 10, 500), ("no rtl here", False))

    def test_wrapped_right_to_left_text_keeps_its_first_words_on_its_first_line(self):
        text, rtl = self.fonts.visual("אחת שתיים שלוש ארבע", self.fonts.regular, 10, 60)
        self.assertTrue(rtl)
        lines = text.split("\n")
        self.assertGreater(len(lines), 1)
        self.assertEqual(lines[0].split()[-1], "תחא")  # אחת, rightmost on line 1


class ProductConfig:
    """Set ``font-dir`` in the product config for one test, as zope.conf would."""

    def __init__(self, test, font_dir):
        config = getConfiguration()
        saved = getattr(config, "product_config", None)
        config.product_config = {fonts.PRODUCT: {fonts.CONFIG_KEY: str(font_dir)}}

        def restore():
            config.product_config = saved
            fonts.reset()

        test.addCleanup(restore)
        fonts.reset()


class ConfigurationTests(FontsInstalled):
    def setUp(self):
        super().setUp()
        self.dir = Path(tempfile.mkdtemp(prefix="fonts-"))
        self.addCleanup(shutil.rmtree, self.dir)

    def test_font_dir_of_the_product_config_is_where_fonts_are_looked_for(self):
        for path in DEJAVU.glob("DejaVuSans*.ttf"):
            (self.dir / path.name).symlink_to(path)
        ProductConfig(self, f"{self.dir} /nonexistent")
        with self.assertLogs(fonts.logger, logging.WARNING) as logs:
            font_set = fonts.font_set()
        self.assertEqual(font_set.dirs, (str(self.dir), "/nonexistent"))
        self.assertEqual(len(logs.records), 1)
        self.assertIn("WenQuanYi", logs.output[0])
        self.assertNotIn("DejaVuSans", logs.output[0])
        self.assertNotIn("Helvetica", logs.output[0])
        # Without a CJK font, CJK characters are replaced; the rest is DejaVu.
        text = pdf_text(render("Zürich 東京 Москва"))
        self.assertIn("Zürich \ufffd\ufffd Москва", text)
        self.assertEqual(
            {name.split("+", 1)[1] for name in pdf_fonts(render("Zürich"))},
            {"DejaVuSans", "DejaVuSans-Bold", "DejaVuSans-BoldOblique"},
        )

    def test_missing_fonts_give_one_warning_and_pdfs_that_still_render(self):
        ProductConfig(self, self.dir)
        with self.assertLogs(fonts.logger, logging.WARNING) as logs:
            first = render(SAMPLES["Polish"], "Zürich 東京 Москва")
            second = render(SAMPLES["Chinese"], EMOJI)
        self.assertEqual(len(logs.records), 1, logs.output)
        message = logs.output[0]
        self.assertIn(str(self.dir), message)
        self.assertIn("DejaVuSans.ttf", message)
        self.assertIn("WenQuanYi", message)
        self.assertIn("font-dir", message)
        # Helvetica draws Latin-1; what it lacks becomes "?", never an error.
        self.assertIn("Zürich ?? ??????", pdf_text(first))
        self.assertIn("Za?ó?? g??l? ja?", pdf_text(first))
        self.assertIn("smile ? rocket ?", pdf_text(second))
        self.assertEqual(
            set(pdf_fonts(first)), {"/Helvetica", "/Helvetica-Bold", "/Helvetica-BoldOblique"})

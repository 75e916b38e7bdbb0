"""The fonts PDFs embed: discovery, registration and which font draws which character.

ReportLab's built-in Helvetica knows Latin-1 only, so everything else came out
as black boxes. The documents embed TrueType fonts instead:

- a default family (regular, bold, oblique, bold oblique) for Latin with every
  diacritic, Greek, Cyrillic, Hebrew and Arabic: DejaVu Sans;
- a fallback for what the family lacks (Chinese, Japanese, Korean), the first
  found of WenQuanYi Zen Hei, WenQuanYi Micro Hei, Droid Sans Fallback. Noto
  Sans CJK is not among them: it has CFF outlines, which ReportLab's TTFont
  refuses ("postscript outlines are not supported").

Text is split into runs by the first font of that chain whose cmap has each
character (:meth:`FontSet.runs`), and each run is drawn in its font.
Characters no font has, and every character above U+FFFF (emoji among them:
ReportLab writes a ToUnicode map for those that no PDF reader can parse), are
replaced by U+FFFD. Hebrew and Arabic are shaped (arabic-reshaper: the joined
letter forms), broken into lines and put in visual order (python-bidi) line by
line, as ReportLab lays text out left to right (:meth:`FontSet.visual`).

Fonts are looked for under ``font-dir`` of the product config in zope.conf::

    <product-config collective.asyncreports>
        font-dir /srv/fonts /opt/more-fonts
    </product-config>

(one or more directories, searched recursively) and, when that is not set,
under the Debian font directories. A missing font is logged once per process;
the PDF is still made, with Helvetica for what no font found covers.
"""

import logging
import os
import threading
import unicodedata
from xml.sax.saxutils import escape

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFError
from reportlab.pdfbase.ttfonts import TTFont


logger = logging.getLogger(__name__)

PRODUCT = "collective.asyncreports"
CONFIG_KEY = "font-dir"
DEFAULT_FONT_DIRS = (
    "/usr/share/fonts",
    "/usr/local/share/fonts",
    "/usr/share/fonts-droid-fallback",
)

# The default family: style -> (registered name, file name).
FAMILY = {
    "regular": ("AsyncReports-Sans", "DejaVuSans.ttf"),
    "bold": ("AsyncReports-Sans-Bold", "DejaVuSans-Bold.ttf"),
    "oblique": ("AsyncReports-Sans-Oblique", "DejaVuSans-Oblique.ttf"),
    "bold_oblique": ("AsyncReports-Sans-BoldOblique", "DejaVuSans-BoldOblique.ttf"),
}
# Used for any style when the family file of that style is missing.
BASE14 = {
    "regular": "Helvetica",
    "bold": "Helvetica-Bold",
    "oblique": "Helvetica-Oblique",
    "bold_oblique": "Helvetica-BoldOblique",
}
# The family faces a style borrows from, in order, before the fallbacks.
_UPRIGHT = {
    "regular": (),
    "bold": ("regular",),
    "oblique": ("regular",),
    "bold_oblique": ("bold", "regular"),
}
# CJK fallbacks: the first found is used; its one face serves every style.
FALLBACKS = (
    ("AsyncReports-CJK-ZenHei", "wqy-zenhei.ttc"),
    ("AsyncReports-CJK-MicroHei", "wqy-microhei.ttc"),
    ("AsyncReports-CJK-Droid", "DroidSansFallback.ttf"),
)
# What the fallbacks are for: a font set without one has no CJK, say so.
CJK_NAMES = "WenQuanYi Zen Hei (fonts-wqy-zenhei) or Micro Hei (fonts-wqy-microhei)"

REPLACEMENT = "\ufffd"
_RTL_BIDI_CLASSES = {"R", "AL"}


def configured_font_dirs():
    """Return the ``font-dir`` directories of the product config, or None.

    Read from zope.conf's ``<product-config collective.asyncreports>``;
    None when there is no Zope configuration or no such key.
    """
    try:
        from App.config import getConfiguration
    except ImportError:  # pragma: no cover - Zope is a dependency
        return None
    config = getattr(getConfiguration(), "product_config", None) or {}
    value = (config.get(PRODUCT) or {}).get(CONFIG_KEY)
    if not value:
        return None
    return tuple(value.split())


def _find_files(dirs, names):
    """Return {file name: path} for the ``names`` found first under ``dirs``."""
    found = {}
    wanted = set(names)
    for top in dirs:
        for root, subdirs, files in os.walk(top):
            subdirs.sort()
            for name in sorted(wanted.intersection(files) - found.keys()):
                found[name] = os.path.join(root, name)
    return found


class _Face:
    """A font that may draw a run: its registered name and what it covers."""

    def __init__(self, name, covers):
        self.name = name
        self.covers = covers


_load_lock = threading.Lock()


class _LazyFace:
    """A fallback font, registered the first time a character is looked up in it."""

    def __init__(self, font_set, name, path):
        self.name = name
        self._font_set = font_set
        self._path = path
        self._cmap = None

    def covers(self, char):
        if self._cmap is None:
            with _load_lock:
                if self._cmap is None:
                    face = self._font_set._register(self.name, self._path)
                    # One that cannot be loaded covers nothing (and was logged).
                    self._cmap = face._cmap if face is not None else {}
        return ord(char) in self._cmap


def _latin1(char):
    return ord(char) < 0x100


class FontSet:
    """The fonts of one process's PDFs and the rule which one draws what.

    :ivar regular, bold, oblique, bold_oblique: Registered font names of the
        default family, Helvetica ones where a file is missing.
    :ivar embedded: Registered names of the TrueType fonts loaded so far.
    :ivar missing: Descriptions of the fonts that were not found.
    """

    def __init__(self, dirs, suffix=""):
        # Sets for other directories register under other names (``suffix``),
        # as ReportLab's registry is global and a name stands for one file.
        self.dirs = tuple(dirs)
        self._ascii_widths = {}
        names = [file for _, file in FAMILY.values()] + [file for _, file in FALLBACKS]
        paths = _find_files(self.dirs, names)
        self.embedded = []
        self.missing = []
        self._primary = {}
        for style, (name, file) in FAMILY.items():
            face = self._register(name + suffix, paths.get(file))
            if face is None:
                self.missing.append(f"{file} (fonts-dejavu-core)")
                # Helvetica draws Latin-1 only; the rest goes to the fallbacks.
                face = _Face(BASE14[style], _latin1)
            self._primary[style] = face
            setattr(self, style, face.name)
        # A CJK face costs 20 to 35 MB of memory: only the first one found is
        # used (they cover nearly the same), loaded when a text first needs
        # it, so workers making Latin-only reports never pay.
        self._fallbacks = [
            _LazyFace(self, name + suffix, paths[file])
            for name, file in FALLBACKS
            if file in paths
        ][:1]
        if not self._fallbacks:
            self.missing.append(CJK_NAMES)
        if self.regular != BASE14["regular"]:  # never remap Helvetica's family
            pdfmetrics.registerFontFamily(
                self.regular, normal=self.regular, bold=self.bold,
                italic=self.oblique, boldItalic=self.bold_oblique,
            )
        # A slanted or bold face lacking a glyph (DejaVu's oblique faces have
        # no Arabic) borrows it from the upright one before the fallbacks.
        family = self._primary
        self._chains = {}
        for style, upright in _UPRIGHT.items():
            faces = [family[name] for name in (style, *upright)]
            faces = [face for n, face in enumerate(faces) if face not in faces[:n]]
            self._chains.setdefault(family[style].name, faces + self._fallbacks)
        self._replacement = {
            name: REPLACEMENT if chain[0].covers(REPLACEMENT) else "?"
            for name, chain in self._chains.items()
        }

    def _register(self, name, path):
        """Register the TrueType font at ``path`` as ``name``; None if it cannot be."""
        if path is None:
            return None
        try:
            font = TTFont(name, path)
        except (OSError, TTFError) as exc:
            logger.warning("cannot load font %s: %s", path, exc)
            return None
        pdfmetrics.registerFont(font)
        self.embedded.append(name)
        # ReportLab measures TrueType text char by char in Python; table
        # cells are measured by the thousand, and are mostly ASCII.
        widths, default = font.face.charWidths, font.face.defaultWidth
        self._ascii_widths[name] = [widths.get(code, default) for code in range(128)]
        cmap = font.face.charToGlyph
        face = _Face(name, lambda char: ord(char) in cmap)
        face._cmap = cmap
        return face

    def runs(self, text, font):
        """Split ``text`` into ``(font name, text)`` runs for drawing in ``font``.

        :param text: Text as :func:`clean` and :meth:`visual` return it.
        :param font: A family font name of this set (``self.bold`` ...).
        :returns: Runs in order; each character goes to the first font of
            ``font``'s chain that has it (so a fallback draws only what the
            family lacks), white space to the run it is in. Characters no
            font has become U+FFFD (or ``?`` in Helvetica).
        """
        if text.isascii():  # every font of a chain's head draws ASCII
            return [(font, text)]
        chain = self._chains[font]
        runs = []
        current, chars = None, []
        for char in text:
            if current is not None and char.isspace():
                chars.append(char)
                continue
            face = next((face for face in chain if face.covers(char)), None)
            if face is None:
                face, char = chain[0], self._replacement[font]
            if face is not current:
                if chars:
                    runs.append((current.name, "".join(chars)))
                current, chars = face, []
            chars.append(char)
        runs.append((current.name, "".join(chars)))
        return runs

    def markup(self, text, font):
        """Return ``text`` as Paragraph markup in ``font``: literal, runs in their fonts.

        Newlines break lines.
        """
        parts = []
        for name, run in self.runs(text, font):
            run = escape(run).replace("\n", "<br/>")
            parts.append(run if name == font else f'<font name="{name}">{run}</font>')
        return "".join(parts)

    def width(self, text, font, size):
        """Return the width of ``text`` drawn in ``font`` at ``size`` points."""
        if text.isascii():
            table = self._ascii_widths.get(font)
            if table is not None:
                return 0.001 * size * sum(map(table.__getitem__, text.encode()))
        return sum(
            pdfmetrics.stringWidth(run, name, size) for name, run in self.runs(text, font)
        )

    def plain(self, text, font):
        """Return ``text`` as drawn in ``font`` alone, or None if it needs a fallback run.

        What comes back may differ from ``text``: characters no font has are
        replaced.
        """
        runs = self.runs(text, font)
        return runs[0][1] if len(runs) == 1 and runs[0][0] == font else None

    def visual(self, text, font, size, width):
        """Return ``text`` in drawing order for a box ``width`` points wide.

        ReportLab lays text out left to right only, so lines with Hebrew or
        Arabic are shaped (arabic-reshaper: the joined letter forms), broken
        into lines that fit ``width`` in reading order, and each line is then
        put in visual order (python-bidi), so a wrapped paragraph still reads
        from its first line down.

        :returns: ``(text, rtl)``: the text to draw, lines joined by newlines,
            and whether its first right-to-left line starts right to left
            (a paragraph to align right).
        """
        if not has_rtl(text):
            return text, False
        import arabic_reshaper
        from bidi import get_display

        lines, rtl = [], None
        for line in text.split("\n"):
            if not has_rtl(line):
                lines.append(line)
                continue
            direction = _base_direction(line)
            if rtl is None:
                rtl = direction == "R"
            for piece in self._break(arabic_reshaper.reshape(line), font, size, width):
                lines.append(_mirror_brackets(get_display(piece, base_dir=direction)))
        return "\n".join(lines), bool(rtl)

    def _break(self, line, font, size, width):
        """Break ``line`` at spaces into pieces no wider than ``width``.

        A word wider than ``width`` stays whole on its own line.
        """
        pieces, current = [], ""
        for word in line.split(" "):
            candidate = f"{current} {word}" if current else word
            if current and self.width(candidate, font, size) > width:
                pieces.append(current)
                candidate = word
            current = candidate
        pieces.append(current)
        return pieces


def has_rtl(text):
    return not text.isascii() and any(
        unicodedata.bidirectional(char) in _RTL_BIDI_CLASSES
        for char in text
        if ord(char) >= 0x590
    )


def _base_direction(line):
    """Return "R" or "L": the direction of the first strong character (UAX #9, P2)."""
    for char in line:
        kind = unicodedata.bidirectional(char)
        if kind == "L":
            return "L"
        if kind in _RTL_BIDI_CLASSES:
            return "R"
    return "L"


_BRACKETS = {")": "(", "]": "[", "}": "{"}
_OPENING = {opening: closing for closing, opening in _BRACKETS.items()}


def _mirror_brackets(visual):
    """Mirror the brackets of right-to-left runs in a line in visual order.

    python-bidi reorders but does not mirror (UAX #9, L4), so "(2024)" in
    Hebrew comes out as ")2024(". A pair whose closing bracket comes first
    in visual order was reversed: it is swapped back.
    """
    chars = list(visual)
    pending = []  # (index, char) of closing brackets still without a partner
    for index, char in enumerate(chars):
        if char in _BRACKETS:
            pending.append((index, char))
        elif char in _OPENING:
            closing = _OPENING[char]
            match = next(
                (n for n in range(len(pending) - 1, -1, -1) if pending[n][1] == closing),
                None,
            )
            if match is not None:
                first = pending.pop(match)[0]
                del pending[match:]
                chars[first], chars[index] = char, closing
    return "".join(chars)


def clean(text):
    """Return ``text`` with every character above U+FFFF replaced by U+FFFD.

    ReportLab draws those, but writes a ToUnicode map for them that PDF
    readers cannot parse, which loses the text of the whole run.
    """
    if text.isascii():
        return text
    return "".join(REPLACEMENT if ord(char) > 0xFFFF else char for char in text)
_lock = threading.Lock()
_font_sets = {}


def font_set():
    """Return the process's :class:`FontSet` for the configured font directories.

    Fonts are found and registered once per set of directories; what is
    missing is logged once, as one warning.
    """
    dirs = configured_font_dirs() or DEFAULT_FONT_DIRS
    with _lock:
        fonts = _font_sets.get(dirs)
        if fonts is None:
            suffix = f"-{len(_font_sets)}" if _font_sets else ""
            fonts = _font_sets[dirs] = FontSet(dirs, suffix)
            if fonts.missing:
                stand_in = (
                    "Helvetica stands in for the missing faces and " if
                    any(face.name in BASE14.values() for face in fonts._primary.values())
                    else ""
                )
                logger.warning(
                    "PDF fonts not found under %s: %s. PDFs are still made: %s"
                    "characters no font found has show as U+FFFD or '?'. Install "
                    "the fonts with scripts/install-fonts.sh, or set font-dir in "
                    "<product-config %s> in zope.conf.",
                    " ".join(dirs), "; ".join(fonts.missing), stand_in, PRODUCT,
                )
    return fonts


def reset():
    """Forget the font sets found so far (for tests that change the configuration)."""
    with _lock:
        _font_sets.clear()

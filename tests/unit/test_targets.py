"""``targets.normalize_path`` with hostile values: no Zope, no layer, no processes.

normalize_path asks its site for one thing, ``getPhysicalPath()``, so a
stand-in with that method alone is the site here.
"""

import unittest

from collective.asyncreports.errors import InvalidJobRequest
from collective.asyncreports.errors import InvalidPath
from collective.asyncreports.targets import MAX_PATH_LENGTH
from collective.asyncreports.targets import normalize_path


class Site:
    """The one method normalize_path calls on a site."""

    def __init__(self, *physical_path):
        self.physical_path = physical_path

    def getPhysicalPath(self):
        return self.physical_path


ROOT = Site("")  # the Zope root's physical path is ('',)
PLONE = Site("", "Plone")
NESTED = Site("", "a", "b")


class Case(unittest.TestCase):

    def assertPath(self, site, path, expected):
        result = normalize_path(site, path)
        self.assertEqual(result, expected, f"normalize_path({path!r})")
        self.assertIs(type(result), str)

    def assertInvalid(self, site, path, *words):
        with self.assertRaises(InvalidPath, msg=f"normalize_path({path!r})") as raised:
            normalize_path(site, path)
        for word in words:
            self.assertIn(word, str(raised.exception))
        return raised.exception


class TypesTests(Case):

    def test_non_strings_are_refused_with_their_type(self):
        for value in (None, b"/Plone/docs", bytearray(b"docs"), memoryview(b"docs"), 42, 4.2,
                      True, ["Plone", "docs"], ("", "Plone"), {"path": "/docs"}, {"/docs"},
                      object(), PLONE, str):
            self.assertInvalid(PLONE, value, "must be a string", type(value).__name__)

    def test_invalid_path_is_an_invalid_job_request(self):
        error = self.assertInvalid(PLONE, None)
        self.assertIsInstance(error, InvalidJobRequest)

    def test_a_str_subclass_is_a_string_and_gives_a_plain_str(self):
        class Sneaky(str):
            def split(self, *args):  # never asked: no segment may slip through
                return ["..", "etc"]

        self.assertPath(PLONE, Sneaky("docs"), "/Plone/docs")


class LengthTests(Case):

    def test_the_longest_allowed_path(self):
        path = "/Plone/" + "d" * (MAX_PATH_LENGTH - len("/Plone/"))
        self.assertEqual(len(path), MAX_PATH_LENGTH)
        self.assertPath(PLONE, path, path)

    def test_one_character_more_is_too_long(self):
        path = "/Plone/" + "d" * (MAX_PATH_LENGTH + 1 - len("/Plone/"))
        self.assertInvalid(PLONE, path, "too long", str(MAX_PATH_LENGTH), str(len(path)))

    def test_length_counts_characters_not_bytes(self):
        path = "é" * MAX_PATH_LENGTH  # 2048 bytes in UTF-8
        self.assertPath(PLONE, path, "/Plone/" + path)
        self.assertInvalid(PLONE, "é" * (MAX_PATH_LENGTH + 1), "too long")

    def test_length_counts_before_stripping_and_collapsing(self):
        self.assertInvalid(PLONE, " " * (MAX_PATH_LENGTH + 1), "too long")
        self.assertInvalid(PLONE, "/" * (MAX_PATH_LENGTH + 1), "too long")
        self.assertInvalid(PLONE, "docs" + " " * MAX_PATH_LENGTH, "too long")

    def test_huge_values_are_refused_by_length(self):
        self.assertInvalid(PLONE, "a/" * 10**6, "too long")
        self.assertInvalid(PLONE, "../" * 10**5, "too long")

    def test_length_is_checked_before_other_rules(self):
        self.assertInvalid(PLONE, "\x00" * (MAX_PATH_LENGTH + 1), "too long")
        self.assertInvalid(PLONE, "\udcff" * (MAX_PATH_LENGTH + 1), "too long")


class CharacterTests(Case):

    def test_nul_anywhere_is_refused(self):
        for path in ("\x00", "/Plone/docs\x00", "\x00/Plone/docs", "docs\x00.pdf",
                     "/Plone/\x00/docs", "docs/\x00", " \x00 "):
            self.assertInvalid(PLONE, path, "NUL")

    def test_nul_comes_before_segment_rules(self):
        self.assertInvalid(PLONE, "../\x00", "NUL")

    def test_text_that_was_no_utf8_is_refused(self):
        # os.fsdecode / surrogateescape turn undecodable bytes into lone surrogates.
        for path in ("/Plone/\udcff", "docs\udc80", "\ud800", "\udfff/docs",
                     b"/Plone/caf\xe9".decode("utf-8", "surrogateescape")):
            self.assertInvalid(PLONE, path, "UTF-8")

    def test_other_unicode_is_kept_as_it_is(self):
        for name in ("café", "日本語", "emoji-\U0001f600", "\u200bzero-width", "ﬁ-ligature",
                     "\u202eright-to-left"):
            self.assertPath(PLONE, name, f"/Plone/{name}")

    def test_control_characters_inside_a_segment_are_part_of_the_name(self):
        for name in ("do\ncs", "do\tcs", "do\rcs", "do\x1bcs", "do\x7fcs"):
            self.assertPath(PLONE, name, f"/Plone/{name}")

    def test_no_decoding_of_escapes(self):
        # The path is taken literally: no percent or backslash decoding, so
        # these are names of their own, not ways to climb out of the site.
        for name in ("%2e%2e", "%2E%2E", "%2f", "..%2f..", "..\\..", "\\..", "..\\", ".%2e",
                     "%00"):
            self.assertPath(PLONE, name, f"/Plone/{name}")


class SegmentTests(Case):

    def test_dot_and_dot_dot_are_refused_wherever_they_are(self):
        for path in (".", "..", "./docs", "../docs", "docs/..", "docs/.", "docs/../docs",
                     "/Plone/..", "/Plone/../Plone/docs", "/..", "/../Plone", "/./Plone",
                     "..//..", "docs/./x", " .. ", "//..//", "../../../etc/passwd"):
            self.assertInvalid(PLONE, path, "not allowed")

    def test_the_refused_segment_is_named(self):
        self.assertInvalid(PLONE, "docs/../x", "'..'", "'docs/../x'")
        self.assertInvalid(PLONE, "docs/_private", "'_private'")

    def test_names_made_of_dots_other_than_dot_and_dot_dot_are_names(self):
        for name in ("...", "....", ".hidden", "a..b", "..a", "a..", "docs.", ". .",
                     ".. x", "x ..", " .."):
            self.assertPath(PLONE, f"docs/{name}", f"/Plone/docs/{name}")

    def test_private_names_are_refused(self):
        for segment in ("_", "_private", "__class__", "__init__", "_getOb", "__ac_permissions__",
                        "__globals__"):
            self.assertInvalid(PLONE, f"docs/{segment}", "not allowed")
            self.assertInvalid(PLONE, f"/Plone/{segment}/x", "not allowed")

    def test_acquisition_names_are_refused(self):
        for segment in ("aq_parent", "aq_base", "aq_inner", "aq_self", "aq_chain", "aq_",
                        "aq_acquire"):
            self.assertInvalid(PLONE, f"docs/{segment}", "not allowed")

    def test_views_and_namespaces_are_refused(self):
        for segment in ("@@view", "@@", "@@images", "++resource++x", "++", "++skin++Sunburst",
                        "++etc++site", "++theme++barceloneta"):
            self.assertInvalid(PLONE, f"docs/{segment}", "not allowed")
            self.assertInvalid(ROOT, f"/{segment}", "not allowed")

    def test_prefixes_are_case_sensitive_and_only_at_the_start(self):
        for name in ("AQ_parent", "Aq_base", "doc_private", "x@@view", "x++y++", "a_b", "aq",
                     "@view", "+x", "aqparent"):
            self.assertPath(PLONE, name, f"/Plone/{name}")

    def test_every_segment_is_checked_not_only_the_first_or_last(self):
        self.assertInvalid(PLONE, "a/b/c/_d/e/f", "'_d'")
        self.assertInvalid(PLONE, "/Plone/a/aq_parent/b", "'aq_parent'")

    def test_a_segment_with_a_leading_space_is_no_private_name(self):
        # Only the whole path is stripped; a space before "_x" makes " _x", a name.
        self.assertPath(PLONE, "docs/ _x", "/Plone/docs/ _x")


class SlashTests(Case):

    def test_doubled_slashes_collapse(self):
        self.assertPath(PLONE, "//Plone//docs", "/Plone/docs")
        self.assertPath(PLONE, "/Plone///docs////minutes", "/Plone/docs/minutes")
        self.assertPath(PLONE, "docs//minutes", "/Plone/docs/minutes")

    def test_trailing_slashes_are_dropped(self):
        self.assertPath(PLONE, "/Plone/docs/", "/Plone/docs")
        self.assertPath(PLONE, "/Plone/docs///", "/Plone/docs")
        self.assertPath(PLONE, "docs/", "/Plone/docs")
        self.assertPath(PLONE, "/Plone/", "/Plone")

    def test_slashes_alone(self):
        self.assertPath(ROOT, "/", "/")
        self.assertPath(ROOT, "///", "/")
        self.assertInvalid(PLONE, "/", "outside")
        self.assertInvalid(PLONE, "////", "outside")

    def test_the_result_has_one_leading_slash_and_no_empty_segment(self):
        for path in ("docs", "/Plone/docs", "//Plone//docs//", " docs/ ", "docs//x//"):
            result = normalize_path(PLONE, path)
            self.assertTrue(result.startswith("/Plone"))
            self.assertNotIn("//", result)
            self.assertFalse(result.endswith("/"))


class EmptyAndWhitespaceTests(Case):

    def test_empty_means_the_site(self):
        self.assertPath(ROOT, "", "/")
        self.assertPath(PLONE, "", "/Plone")
        self.assertPath(NESTED, "", "/a/b")

    def test_whitespace_only_means_the_site(self):
        for path in (" ", "\t", "\n", " \r\n\t ", "\u3000", "\x0b\x0c"):
            self.assertPath(PLONE, path, "/Plone")

    def test_whitespace_around_the_path_is_stripped(self):
        self.assertPath(PLONE, "  /Plone/docs  ", "/Plone/docs")
        self.assertPath(PLONE, "\n docs \t", "/Plone/docs")

    def test_whitespace_before_the_slash_still_makes_it_absolute(self):
        self.assertPath(PLONE, " /Plone/docs", "/Plone/docs")
        self.assertInvalid(PLONE, " /other", "outside")

    def test_whitespace_inside_is_kept(self):
        self.assertPath(PLONE, "/Plone/my docs/ x ", "/Plone/my docs/ x")
        self.assertPath(PLONE, "/Plone/ /docs", "/Plone/ /docs")


class AbsoluteTests(Case):

    def test_inside_the_site(self):
        self.assertPath(PLONE, "/Plone", "/Plone")
        self.assertPath(PLONE, "/Plone/docs/minutes", "/Plone/docs/minutes")

    def test_outside_the_site(self):
        for path in ("/other", "/other/Plone", "/plone/docs", "/PLONE", "/Plonex/docs",
                     "/Plon", "/ Plone", "/docs"):
            self.assertInvalid(PLONE, path, "outside", "'/Plone'")

    def test_under_the_zope_root_every_absolute_path_is_inside(self):
        self.assertPath(ROOT, "/Plone/docs", "/Plone/docs")
        self.assertPath(ROOT, "/anything", "/anything")

    def test_a_nested_site_needs_its_whole_path(self):
        self.assertPath(NESTED, "/a/b", "/a/b")
        self.assertPath(NESTED, "/a/b/c", "/a/b/c")
        self.assertInvalid(NESTED, "/a", "outside", "'/a/b'")
        self.assertInvalid(NESTED, "/b", "outside")
        self.assertInvalid(NESTED, "/a/c/b", "outside")
        self.assertInvalid(NESTED, "/b/a", "outside")
        self.assertInvalid(NESTED, "/", "outside")

    def test_a_site_name_that_is_a_prefix_of_another_is_no_match(self):
        self.assertInvalid(Site("", "a"), "/ab/c", "outside")


class RelativeTests(Case):

    def test_relative_to_the_site(self):
        self.assertPath(PLONE, "docs", "/Plone/docs")
        self.assertPath(PLONE, "docs/minutes", "/Plone/docs/minutes")
        self.assertPath(ROOT, "Plone/docs", "/Plone/docs")
        self.assertPath(NESTED, "c/d", "/a/b/c/d")

    def test_a_relative_path_naming_the_site_goes_below_it(self):
        self.assertPath(PLONE, "Plone/docs", "/Plone/Plone/docs")

    def test_a_relative_path_that_looks_outside_stays_inside(self):
        self.assertPath(PLONE, "other", "/Plone/other")


class InvariantTests(Case):
    """Whatever is accepted lies inside the site and has no refused segment."""

    HOSTILE = (
        "", "/", "//", ".", "..", "...", "/..", "../..", "/Plone/..", "/Plone/../other",
        "docs/..", "docs/../../..", "%2e%2e/%2e%2e", "..\\..\\", "/Plone\\..\\other",
        "\x00", "docs\x00/..", "\udcff", " ", " / ", " /.. ", "\t..\t", "_", "/_Plone",
        "aq_parent", "@@x", "++x++", "/Plone/@@y", "/Plone/++skin++z", "a" * 5000,
        "/" * 5000, "/Plone" + "/x" * 511, "/Plone" + "/x" * 600, "～", "/Ｐlone", "/Plone ",
        "/Plone\n", "\n/other", "docs/\u2024\u2024", "docs/\uff0e\uff0e",
    )

    def test_hostile_values_give_a_path_inside_the_site_or_invalid_path(self):
        for site in (ROOT, PLONE, NESTED):
            prefix = [s for s in site.getPhysicalPath() if s]
            for path in self.HOSTILE:
                try:
                    result = normalize_path(site, path)
                except InvalidPath:
                    continue
                segments = result.split("/")[1:] if result != "/" else []
                self.assertEqual(segments[: len(prefix)], prefix, (site.physical_path, path))
                self.assertTrue(result.startswith("/"), path)
                self.assertNotIn("", segments, path)
                for segment in segments:
                    self.assertNotIn(segment, (".", ".."), path)
                    self.assertFalse(segment.startswith(("_", "aq_", "@@", "++")), path)
                    self.assertNotIn("\x00", segment, path)

    def test_normalizing_twice_changes_nothing(self):
        for site in (ROOT, PLONE, NESTED):
            for path in self.HOSTILE:
                try:
                    once = normalize_path(site, path)
                except InvalidPath:
                    continue
                self.assertEqual(normalize_path(site, once), once, path)

    def test_the_site_is_only_read(self):
        site = Site("", "Plone")
        for path in self.HOSTILE:
            try:
                normalize_path(site, path)
            except InvalidPath:
                pass
        self.assertEqual(site.getPhysicalPath(), ("", "Plone"))


if __name__ == "__main__":
    unittest.main()

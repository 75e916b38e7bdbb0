"""Tests of the report registry, parameter rules and the object inventory."""

import datetime
import io
import re
import unittest

import pypdf
import transaction
import ZODB
import zope.component.testing
from AccessControl.SecurityManagement import newSecurityManager
from AccessControl.SecurityManagement import noSecurityManager
from DateTime import DateTime
from OFS.Application import Application
from OFS.Folder import Folder
from OFS.Image import File
from zope import schema
from zope.component import provideUtility
from zope.configuration import xmlconfig
from zope.interface import Interface
from zope.interface import Invalid
from zope.interface import invariant
from zope.interface import provider
from zope.interface.verify import verifyObject
from zope.schema.interfaces import IContextSourceBinder
from zope.schema.vocabulary import SimpleTerm
from zope.schema.vocabulary import SimpleVocabulary

from collective.asyncreports import permissions
from collective.asyncreports.errors import InvalidParameters
from collective.asyncreports.errors import UnknownReport
from collective.asyncreports.permissions import ManageQueue
from collective.asyncreports.rendering import Document
from collective.asyncreports.reports.base import ReportType
from collective.asyncreports.reports.interfaces import IReportType
from collective.asyncreports.reports.inventory import ObjectInventory
from collective.asyncreports.reports.registry import get_report
from collective.asyncreports.reports.registry import parse_parameters
from collective.asyncreports.reports.registry import report_types
from collective.asyncreports.reports.registry import schema_fields
from collective.asyncreports.reports.registry import validate_parameters


ACCESS = "Access contents information"


def pdf_text(data):
    """Return the text of every page of the PDF ``data``."""
    reader = pypdf.PdfReader(io.BytesIO(data))
    return "\n".join(page.extract_text() for page in reader.pages)


def is_even(value):
    return value % 2 == 0


class IEverything(Interface):
    depth = schema.Int(title="Depth", min=1, max=10, default=1)
    ratio = schema.Float(title="Ratio", required=False, min=0.0, max=1.0)
    verbose = schema.Bool(title="Verbose", required=False)
    label = schema.TextLine(title="Label")
    notes = schema.Text(title="Notes", required=False, max_length=20)
    code = schema.ASCIILine(title="Code", required=False)
    colour = schema.Choice(title="Colour", values=["red", "green"], default="red")
    size = schema.Choice(
        title="Size",
        vocabulary=SimpleVocabulary(
            [SimpleTerm(1, "s", "Small"), SimpleTerm(2, "m", "Medium")]
        ),
        required=False,
    )
    even = schema.Int(title="Even", required=False, constraint=is_even)


class IRange(Interface):
    start = schema.Int(title="Start", default=0)
    end = schema.Int(title="End", default=10)

    @invariant
    def start_before_end(data):
        if data.start > data.end:
            raise Invalid("start must not be after end")


@provider(IContextSourceBinder)
def ids_in_context(context):
    return SimpleVocabulary.fromValues(context.objectIds())


class IPick(Interface):
    item = schema.Choice(title="Item", source=ids_in_context)


class Pick(ReportType):
    title = "Pick"
    schema = IPick


class StampedFolder(Folder):
    """A folder that, like CMF's file system objects, says when it changed."""

    def bobobase_modification_time(self):
        return DateTime("2020-01-02 03:04:05 GMT+1")


class Everything(ReportType):
    title = "Everything"
    schema = IEverything


class Range(ReportType):
    title = "range"
    schema = IRange


class Plain(ReportType):
    title = "Plain report"


class OnlyFolders(ReportType):
    title = "Another"

    def available(self, context):
        return isinstance(context, Folder)


class Broken(ReportType):
    title = "Broken"

    def available(self, context):
        raise AttributeError("oops")


class ComponentTestCase(unittest.TestCase):
    def setUp(self):
        zope.component.testing.setUp()

    def tearDown(self):
        zope.component.testing.tearDown()


class RegistryTests(ComponentTestCase):
    def test_get_report(self):
        plain = Plain()
        provideUtility(plain, IReportType, name="plain")
        self.assertIs(get_report("plain"), plain)

    def test_unknown_report_names_the_known_ones(self):
        provideUtility(Plain(), IReportType, name="plain")
        provideUtility(Range(), IReportType, name="range")
        with self.assertRaises(UnknownReport) as raised:
            get_report("nope")
        self.assertEqual(
            str(raised.exception),
            "There is no report type 'nope'; known reports: plain, range.",
        )
        with self.assertRaises(UnknownReport):
            get_report("")

    def test_unknown_report_when_none_is_registered(self):
        with self.assertRaisesRegex(UnknownReport, "known reports: none is registered"):
            get_report("plain")

    def test_report_types_sorted_by_title_and_filtered(self):
        plain, only_folders, range_ = Plain(), OnlyFolders(), Range()
        provideUtility(plain, IReportType, name="plain")
        provideUtility(only_folders, IReportType, name="folders")
        provideUtility(range_, IReportType, name="range")
        # Unnamed registrations cannot be asked for, so they are not listed.
        provideUtility(Everything(), IReportType)
        self.assertEqual(
            report_types(),
            [("folders", only_folders), ("plain", plain), ("range", range_)],
        )
        self.assertEqual(
            report_types(File("f", "", b"")), [("plain", plain), ("range", range_)]
        )
        self.assertEqual(len(report_types(Folder("f"))), 3)

    def test_report_types_skips_and_logs_a_failing_available(self):
        plain = Plain()
        provideUtility(plain, IReportType, name="plain")
        provideUtility(Broken(), IReportType, name="broken")
        with self.assertLogs("collective.asyncreports", "ERROR") as logged:
            self.assertEqual(report_types(Folder("f")), [("plain", plain)])
        self.assertIn("'broken'", logged.output[0])
        self.assertEqual(len(report_types()), 2)

    def test_schema_fields_in_schema_order(self):
        names = [name for name, _ in schema_fields(Everything())]
        self.assertEqual(
            names,
            [
                "depth",
                "ratio",
                "verbose",
                "label",
                "notes",
                "code",
                "colour",
                "size",
                "even",
            ],
        )
        self.assertEqual(schema_fields(Plain()), [])

    def test_zcml_registers_the_built_in_reports(self):
        xmlconfig.string(
            """
            <configure xmlns="http://namespaces.zope.org/zope">
              <include package="zope.component" file="meta.zcml" />
              <include package="collective.asyncreports.reports" />
            </configure>
            """
        )
        report = get_report("object-inventory")
        self.assertIsInstance(report, ObjectInventory)
        diagnostic = get_report("wait-and-report")
        self.assertEqual(diagnostic.permission, ManageQueue)
        self.assertEqual(
            report_types(), [("object-inventory", report), ("wait-and-report", diagnostic)])


class ReportTypeTests(unittest.TestCase):
    def test_defaults(self):
        report = Plain()
        self.assertTrue(verifyObject(IReportType, report))
        self.assertTrue(verifyObject(IReportType, ObjectInventory()))
        self.assertIs(report.schema, Interface)
        self.assertEqual(report.permission, permissions.QueueReport)
        self.assertTrue(report.available(object()))
        with self.assertRaises(NotImplementedError):
            report.render(None, None, {})

    def test_filename(self):
        self.assertRegex(Plain().filename(None, {}), r"^plain-report-\d{8}-\d{6}\.pdf$")
        self.assertRegex(ReportType().filename(None, {}), r"^report-\d{8}-\d{6}\.pdf$")
        stamp = ObjectInventory().filename(None, {})[len("object-inventory-") : -4]
        when = datetime.datetime.strptime(stamp, "%Y%m%d-%H%M%S")
        now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
        self.assertLess(abs(now - when), datetime.timedelta(minutes=1))


class ParseParametersTests(ComponentTestCase):
    def test_conversions(self):
        values = parse_parameters(
            Everything(),
            {
                "depth": " 3 ",
                "ratio": "0.5",
                "verbose": "on",
                "label": "Hi <there>",
                "notes": "two\nlines",
                "code": "AB-1",
                "colour": "green",
                "size": "m",
                "even": "4",
            },
        )
        self.assertEqual(
            values,
            {
                "depth": 3,
                "ratio": 0.5,
                "verbose": True,
                "label": "Hi <there>",
                "notes": "two\nlines",
                "code": "AB-1",
                "colour": "green",
                "size": 2,
                "even": 4,
            },
        )
        self.assertIs(type(values["depth"]), int)
        self.assertIs(type(values["ratio"]), float)

    def test_a_required_parameter_left_empty_is_refused(self):
        with self.assertRaises(InvalidParameters) as caught:
            parse_parameters(Everything(), {"label": "x", "depth": "  "})
        self.assertEqual(caught.exception.errors, [("depth", "is required: it was left empty")])

    def test_defaults_for_missing_and_blank_optional_values(self):
        values = parse_parameters(Everything(), {"label": "x", "notes": ""})
        self.assertEqual(
            values,
            {
                "depth": 1,
                "ratio": None,
                "verbose": False,
                "label": "x",
                "notes": None,
                "code": None,
                "colour": "red",
                "size": None,
                "even": None,
            },
        )

    def test_bool_words(self):
        for word in ("on", "true", "1", "yes", "YES", " True "):
            values = parse_parameters(Everything(), {"label": "x", "verbose": word})
            self.assertIs(values["verbose"], True, word)
        for word in ("off", "false", "0", "no", "No"):
            values = parse_parameters(Everything(), {"label": "x", "verbose": word})
            self.assertIs(values["verbose"], False, word)

    def test_every_problem_is_reported_at_once(self):
        with self.assertRaises(InvalidParameters) as raised:
            parse_parameters(
                Everything(),
                {
                    "depth": "50",
                    "ratio": "abc",
                    "verbose": "maybe",
                    "notes": "x" * 30,
                    "code": "caf\u00e9",
                    "colour": "blue",
                    "size": "xl",
                    "even": "3",
                    "bogus": "1",
                },
            )
        known = "depth, ratio, verbose, label, notes, code, colour, size, even"
        self.assertEqual(
            raised.exception.errors,
            [
                ("bogus", f"unknown parameter (known parameters: {known})"),
                ("depth", "must be at most 10 (got 50)"),
                ("ratio", "must be a number (got 'abc')"),
                ("verbose", "must be yes or no (got 'maybe')"),
                ("label", "is required"),
                ("notes", "must be at most 20 characters long (got 30)"),
                ("code", "must contain only ASCII characters (got 'caf\u00e9')"),
                ("colour", "must be one of: red, green (got 'blue')"),
                ("size", "must be one of: s, m (got 'xl')"),
                ("even", "is not an allowed value (got 3)"),
            ],
        )
        self.assertIn("depth: must be at most 10 (got 50)", str(raised.exception))

    def test_more_problems(self):
        with self.assertRaises(InvalidParameters) as raised:
            parse_parameters(
                Everything(),
                {"depth": "0", "ratio": "nan", "label": "two\nlines", "even": "2.5"},
            )
        self.assertEqual(
            raised.exception.errors,
            [
                ("depth", "must be at least 1 (got 0)"),
                ("ratio", "must be a finite number (got nan)"),
                ("label", "must be a single line"),
                ("even", "must be a whole number (got '2.5')"),
            ],
        )

    def test_values_must_be_text(self):
        with self.assertRaises(InvalidParameters) as raised:
            parse_parameters(Everything(), {"label": "x", "depth": ["1", "2"]})
        self.assertEqual(
            raised.exception.errors, [("depth", "must be given as text (got list)")]
        )

    def test_invariants(self):
        self.assertEqual(
            parse_parameters(Range(), {"start": "2"}), {"start": 2, "end": 10}
        )
        with self.assertRaises(InvalidParameters) as raised:
            parse_parameters(Range(), {"start": "5", "end": "1"})
        self.assertEqual(
            raised.exception.errors, [("parameters", "start must not be after end")]
        )

    def test_invariants_wait_for_valid_fields(self):
        with self.assertRaises(InvalidParameters) as raised:
            parse_parameters(Range(), {"start": "5", "end": "x"})
        self.assertEqual(
            raised.exception.errors, [("end", "must be a whole number (got 'x')")]
        )

    def test_report_without_parameters(self):
        self.assertEqual(parse_parameters(Plain(), {}), {})
        self.assertEqual(parse_parameters(Plain(), None), {})
        with self.assertRaises(InvalidParameters) as raised:
            parse_parameters(Plain(), {"depth": "1"})
        self.assertEqual(
            raised.exception.errors,
            [("depth", "unknown parameter (this report takes no parameters)")],
        )

    def test_fields_are_bound_to_the_context(self):
        folder = Folder("f")
        folder._setObject("one", Folder("one"))
        self.assertEqual(
            parse_parameters(Pick(), {"item": "one"}, folder), {"item": "one"}
        )
        with self.assertRaises(InvalidParameters) as raised:
            parse_parameters(Pick(), {"item": "two"}, folder)
        self.assertEqual(
            raised.exception.errors, [("item", "must be one of: one (got 'two')")]
        )

    def test_inventory_parameters(self):
        inventory = ObjectInventory()
        self.assertEqual(
            parse_parameters(inventory, {}), {"depth": 1, "max_items": 5000}
        )
        with self.assertRaises(InvalidParameters) as raised:
            parse_parameters(inventory, {"depth": "50", "max_items": "0"})
        self.assertEqual(
            str(raised.exception),
            "depth: must be at most 10 (got 50); max_items: must be at least 1 (got 0)",
        )


class ValidateParametersTests(ComponentTestCase):
    def test_typed_values_pass(self):
        params = {
            "depth": 3,
            "ratio": 1,
            "verbose": True,
            "label": "x",
            "notes": None,
            "code": "AB",
            "colour": "green",
            "size": 1,
            "even": 2,
        }
        values = validate_parameters(Everything(), params)
        # JSON may turn 1.0 into 1; a Float field gets a float back.
        self.assertEqual(values, dict(params, ratio=1.0))
        self.assertIs(type(values["ratio"]), float)

    def test_missing_values_take_defaults(self):
        self.assertEqual(validate_parameters(Range(), {}), {"start": 0, "end": 10})
        self.assertEqual(validate_parameters(Plain(), None), {})

    def test_every_problem_is_reported_at_once(self):
        with self.assertRaises(InvalidParameters) as raised:
            validate_parameters(
                Everything(),
                {
                    "depth": "3",
                    "ratio": 2.0,
                    "verbose": "yes",
                    "label": None,
                    "notes": object(),
                    "colour": "blue",
                    "size": 3,
                    "even": True,
                    "extra": 1,
                },
            )
        errors = dict(raised.exception.errors)
        self.assertEqual(
            list(errors),
            [
                "extra",
                "depth",
                "ratio",
                "verbose",
                "label",
                "notes",
                "colour",
                "size",
                "even",
            ],
        )
        self.assertEqual(errors["depth"], "must be a whole number (got str)")
        self.assertEqual(errors["ratio"], "must be at most 1.0 (got 2.0)")
        self.assertEqual(errors["verbose"], "must be true or false (got str)")
        self.assertEqual(errors["label"], "is required")
        self.assertEqual(errors["notes"], "must be plain data, not object")
        self.assertEqual(errors["colour"], "must be one of: red, green (got 'blue')")
        self.assertEqual(errors["size"], "must be one of: s, m (got 3)")
        self.assertEqual(errors["even"], "must be a whole number (got True)")
        self.assertTrue(errors["extra"].startswith("unknown parameter"))

    def test_invariants(self):
        with self.assertRaises(InvalidParameters) as raised:
            validate_parameters(Range(), {"start": 3, "end": 2})
        self.assertEqual(
            raised.exception.errors, [("parameters", "start must not be after end")]
        )

    def test_params_must_be_a_mapping(self):
        with self.assertRaises(InvalidParameters) as raised:
            validate_parameters(Range(), [("start", 1)])
        self.assertEqual(
            raised.exception.errors,
            [("parameters", "must be a mapping of names to values, not list")],
        )

    def test_parse_then_validate_round_trip(self):
        values = parse_parameters(
            Everything(), {"label": "x", "size": "s", "ratio": "0.25"}
        )
        self.assertEqual(validate_parameters(Everything(), values), values)


class ObjectInventoryTests(unittest.TestCase):
    """The inventory on a real OFS tree in a real (in-memory) ZODB."""

    def setUp(self):
        self.db = ZODB.DB(None)
        self.connection = self.db.open()
        app = Application()
        self.connection.root()["Application"] = app
        app.acl_users._doAddUser("admin", "secret", ["Manager"], [])
        app.acl_users._doAddUser("member", "secret", ["Member"], [])
        app._setObject("target", Folder("target"))
        target = app.target
        self._add_file(target, "a.txt", "Odd <b>& title", b"hello")
        self._add_folder(target, "docs", "Documents")
        self._add_file(target.docs, "readme.txt", "Read me", b"x" * 1234)
        self._add_file(target.docs, "private.txt", "Private", b"p")
        target.docs["private.txt"].manage_permission(ACCESS, ["Manager"], acquire=0)
        self._add_folder(target.docs, "deep", "")
        self._add_file(target.docs.deep, "deeper.txt", "", b"d")
        self._add_folder(target, "secret", "Secret folder")
        self._add_file(target.secret, "hidden.txt", "Hidden", b"h")
        target.secret.manage_permission(ACCESS, ["Manager"], acquire=0)
        self._add_folder(target, "empty", "")
        transaction.commit()
        self.app = app

    def tearDown(self):
        noSecurityManager()
        transaction.abort()
        self.connection.close()
        self.db.close()

    def _add_folder(self, parent, id_, title):
        folder = Folder(id_)
        folder.title = title
        parent._setObject(id_, folder)

    def _add_file(self, parent, id_, title, data):
        parent._setObject(id_, File(id_, title, data, "text/plain"))

    def _login(self, user_id):
        users = self.app.acl_users
        newSecurityManager(None, users.getUserById(user_id).__of__(users))

    def _run(self, context=None, **raw):
        report = ObjectInventory()
        context = self.app.target if context is None else context
        parameters = parse_parameters(report, {k: str(v) for k, v in raw.items()})
        document = report.render(context, None, parameters)
        self.assertIsInstance(document, Document)
        return pdf_text(document.to_pdf())

    def test_available(self):
        report = ObjectInventory()
        self.assertTrue(report.available(self.app))
        self.assertTrue(report.available(self.app.target))
        # A File acquires objectValues from its folder, yet is no folder.
        self.assertFalse(report.available(self.app.target["a.txt"]))

    def test_manager_sees_direct_contents_sorted(self):
        self._login("admin")
        text = self._run()
        self.assertIn("Object inventory", text)
        self.assertIn("Target: /target. Depth: 1. Objects listed: 4.", text)
        for header in ("Id", "Meta type", "Title", "Last modified (UTC)", "Size"):
            self.assertIn(header, text)
        positions = [text.index(name) for name in ("a.txt", "docs", "empty", "secret")]
        self.assertEqual(positions, sorted(positions))
        self.assertIn("Odd <b>& title", text)
        self.assertIn("Documents", text)
        self.assertIn("File", text)
        self.assertIn("Folder", text)
        # Depth 1: nothing from inside the subfolders.
        self.assertNotIn("readme.txt", text)
        self.assertNotIn("hidden.txt", text)
        self.assertNotIn("stops after", text)

    def test_rows_show_size_and_modification_time(self):
        self._login("admin")
        text = self._run(depth=2)
        self.assertIn("docs/readme.txt", text)
        self.assertIn("1234", text)
        modified = self.app.target.docs["readme.txt"]._p_mtime
        expected = datetime.datetime.fromtimestamp(modified, datetime.UTC)
        self.assertIn(expected.isoformat(timespec="seconds"), text)
        self.assertRegex(text, r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00")

    def test_modification_time_from_bobobase_modification_time(self):
        self.app.target._setObject("stamped", StampedFolder("stamped"))
        self._login("admin")
        text = self._run()
        self.assertIn("stamped\nFolder\n2020-01-02T02:04:05+00:00", text)

    def test_manager_sees_everything_to_depth(self):
        self._login("admin")
        text = self._run(depth=3)
        self.assertIn("Objects listed: 9.", text)
        for path in (
            "docs/deep/deeper.txt",
            "docs/private.txt",
            "docs/readme.txt",
            "secret/hidden.txt",
        ):
            self.assertIn(path, text)
        rows = [
            line
            for line in text.splitlines()
            if line.startswith(("a.txt", "docs", "empty", "secret"))
        ]
        self.assertEqual(
            rows,
            [
                "a.txt",
                "docs",
                "docs/deep",
                "docs/deep/deeper.txt",
                "docs/private.txt",
                "docs/readme.txt",
                "empty",
                "secret",
                "secret/hidden.txt",
            ],
        )

    def test_depth_limits_the_walk(self):
        self._login("admin")
        text = self._run(depth=2)
        self.assertIn("Objects listed: 8.", text)
        self.assertIn("docs/deep", text)
        self.assertNotIn("deeper.txt", text)

    def test_user_without_access_does_not_see_protected_objects(self):
        self._login("member")
        text = self._run(depth=3)
        self.assertIn("Objects listed: 6.", text)
        self.assertIn("docs/readme.txt", text)
        self.assertIn("docs/deep/deeper.txt", text)
        for hidden in (
            "secret",
            "Secret folder",
            "hidden.txt",
            "private.txt",
            "Private",
        ):
            self.assertNotIn(hidden, text)

    def test_max_items_truncates_and_says_so(self):
        self._login("admin")
        text = self._run(depth=3, max_items=3)
        self.assertIn("Objects listed: 3.", text)
        self.assertIn("The list stops after 3 objects (max_items)", text)
        self.assertIn("docs/deep", text)
        self.assertNotIn("deeper.txt", text)
        self.assertNotIn("readme.txt", text)

    def test_max_items_equal_to_count_is_no_truncation(self):
        self._login("admin")
        text = self._run(depth=3, max_items=9)
        self.assertIn("Objects listed: 9.", text)
        self.assertNotIn("stops after", text)

    def test_empty_folder(self):
        self._login("admin")
        text = self._run(context=self.app.target.empty)
        self.assertIn("Target: /target/empty. Depth: 1. Objects listed: 0.", text)
        self.assertIn("There are no objects here that you may see.", text)

    def test_large_folder(self):
        self._login("admin")
        folder = self.app.target.empty
        for number in range(1500):
            self._add_file(folder, f"f{number:04d}", f"File {number}", b"")
        transaction.commit()
        text = self._run(context=folder, max_items=1200)
        self.assertIn("Objects listed: 1200.", text)
        self.assertIn("f1199", text)
        self.assertNotIn("f1200", text)
        self.assertIsNotNone(re.search(r"Page 1 of (\d+)", text))

"""Finding report types and checking their parameters: the one place for both."""

import math
from collections.abc import Mapping
from types import SimpleNamespace

from AccessControl import getSecurityManager
from ZODB.POSException import ConflictError
from zope.component import getUtilitiesFor
from zope.component import queryUtility
from zope.interface import Invalid
from zope.interface import alsoProvides
from zope.schema import getFieldsInOrder
from zope.schema.interfaces import IASCII
from zope.schema.interfaces import ConstraintNotSatisfied
from zope.schema.interfaces import IBool
from zope.schema.interfaces import IChoice
from zope.schema.interfaces import IFloat
from zope.schema.interfaces import IFromUnicode
from zope.schema.interfaces import IIntegral
from zope.schema.interfaces import IIterableVocabulary
from zope.schema.interfaces import INumber
from zope.schema.interfaces import InvalidValue
from zope.schema.interfaces import ITextLine
from zope.schema.interfaces import IVocabularyTokenized
from zope.schema.interfaces import RequiredMissing
from zope.schema.interfaces import TooBig
from zope.schema.interfaces import TooLong
from zope.schema.interfaces import TooShort
from zope.schema.interfaces import TooSmall
from zope.schema.interfaces import ValidationError
from zope.schema.interfaces import WrongType

from collective.asyncreports import logger
from collective.asyncreports.errors import InvalidParameters
from collective.asyncreports.errors import UnknownReport
from collective.asyncreports.i18n import _
from collective.asyncreports.i18n import say
from collective.asyncreports.reports.interfaces import IReportType
from collective.asyncreports.validation import text_problem


# Problems found by a schema invariant belong to no single field.
INVARIANT_KEY = "parameters"

TRUE_WORDS = frozenset(("on", "true", "1", "yes"))
FALSE_WORDS = frozenset(("off", "false", "0", "no"))

# Longer vocabularies are not spelled out in error messages.
MAX_LISTED_CHOICES = 30
# No report parameter is a document: longer text is refused whatever the
# schema says, so nobody stores megabytes in a job through a form.
MAX_TEXT_LENGTH = 10_000

_TYPE_WORDS = {
    bool: "true or false",
    float: "a number",
    int: "a whole number",
    str: "text",
}


def get_report(name):
    """Return the report type registered under ``name``.

    :param name: Utility name of the report type, e.g. ``"object-inventory"``.
    :returns: The IReportType utility.
    :raises UnknownReport: if no report type has that name; the message
        lists the names that exist.
    """
    report = queryUtility(IReportType, name=name) if name else None
    if report is None:
        known = sorted(known for known, _ in getUtilitiesFor(IReportType) if known)
        listed = ", ".join(known) if known else say(_("none is registered"))
        raise UnknownReport(say(_("There is no report type ${name}; known reports: ${known}.",
                                  mapping={"name": repr(name), "known": listed})))
    return report


def report_types(context=None):
    """Return the registered report types, sorted by title.

    :param context: Optional target object; when given, only report types
        whose ``available(context)`` is true are returned.
    :returns: List of ``(name, report)`` pairs.
    """
    found = []
    for name, report in getUtilitiesFor(IReportType):
        # An unnamed registration cannot be asked for by name.
        if not name:
            continue
        if context is not None and not _is_available(name, report, context):
            continue
        found.append((name, report))
    return sorted(found, key=lambda item: (str(item[1].title).lower(), item[0]))


def concurrency_limits():
    """``{name: max_concurrent}`` of the report types that limit how many of
    their jobs run at once (workers claim with it)."""
    limits = {}
    for name, report in getUtilitiesFor(IReportType):
        limit = getattr(report, "max_concurrent", 0)
        if name and isinstance(limit, int) and limit > 0:
            limits[name] = limit
    return limits


def queueable_report_types(queue, context=None):
    """The report types the current user may queue on ``queue`` (and run on ``context``)."""
    return [(name, report) for name, report in report_types(context)
            if may_queue(report, queue, context)]


def may_queue(report, queue, target=None):
    """True if the current user may queue ``report``: its permission is held on
    the queue, or on the target (a local role, e.g. Editor through Sharing)."""
    security = getSecurityManager()
    return security.checkPermission(report.permission, queue) or (
        target is not None and security.checkPermission(report.permission, target))


def schema_fields(report):
    """Return the report's parameter fields in schema order, for forms.

    :param report: An IReportType.
    :returns: List of ``(name, field)`` pairs; the fields are not bound.
    """
    return getFieldsInOrder(report.schema)


def parse_parameters(report, raw, context=None):
    """Turn parameters given as text (web form, ``--param k=v``) into values.

    Each value is converted by its field: Int, Float, Bool, TextLine, Text,
    ASCIILine and Choice are supported. A Bool reads on/true/1/yes and
    off/false/0/no, and a missing or blank Bool is False (an unticked
    checkbox is not sent at all). A Choice reads a vocabulary token. A
    required parameter given blank is refused, never replaced by its default:
    the person left it empty. Parameters not given at all, and optional ones
    given blank, take the field's default; without one they are an error
    when the field is required and None otherwise. Text must pass
    ``validation.text_problem`` (no NUL, valid UTF-8, at most
    MAX_TEXT_LENGTH characters). The schema's invariants are checked once
    every field is valid.

    :param report: An IReportType.
    :param raw: Mapping of parameter name to text; None for no parameters.
    :param context: Optional target; fields are bound to it, so vocabularies
        and defaults that depend on it work.
    :returns: Dict of every parameter of the schema to its typed value.
    :raises InvalidParameters: listing every problem found, not just the first.
    """
    raw = {} if raw is None else raw
    values, problems = {}, _unknown_names(report, raw)
    for name, field in _bound_fields(report, context):
        text = raw.get(name)
        if text is not None and not isinstance(text, str):
            problems.append(
                (name, f"must be given as text (got {type(text).__name__})")
            )
            continue
        problem = None if text is None else text_problem(text, MAX_TEXT_LENGTH)
        if problem:
            problems.append((name, problem))
            continue
        if text is not None and not text.strip() and _required(field):
            # A default would hide that the person left the field empty.
            problems.append((name, say(_("is required: it was left empty"))))
            continue
        if text is None or not text.strip():
            value, problem = _missing_value(field)
        else:
            value, problem = _value_from_text(field, text)
        if problem:
            problems.append((name, problem))
        else:
            values[name] = value
    return _finish(report, values, problems)


def validate_parameters(report, params, context=None):
    """Check already typed parameter values again, e.g. when a job runs.

    Values must be plain data (str, int, float, bool, None, and lists or
    dicts of those), as stored with a job. Missing values are treated as in
    :func:`parse_parameters`, so a job still runs after its report gained a
    parameter with a default.

    :param report: An IReportType.
    :param params: Mapping of parameter name to value; None for none.
    :param context: Optional target the fields are bound to.
    :returns: Dict of every parameter of the schema to its value.
    :raises InvalidParameters: listing every problem found.
    """
    params = {} if params is None else params
    if not isinstance(params, Mapping):
        problem = f"must be a mapping of names to values, not {type(params).__name__}"
        raise InvalidParameters([(INVARIANT_KEY, problem)])
    values, problems = {}, _unknown_names(report, params)
    for name, field in _bound_fields(report, context):
        if name not in params:
            value, problem = _missing_value(field)
        else:
            value = params[name]
            # JSON does not keep 5.0 apart from 5.
            if IFloat.providedBy(field) and type(value) is int:
                value = float(value)
            if isinstance(value, str) and text_problem(value, MAX_TEXT_LENGTH):
                problem = text_problem(value, MAX_TEXT_LENGTH)
            else:
                problem = _check(field, value)
        if problem:
            problems.append((name, problem))
        else:
            values[name] = value
    return _finish(report, values, problems)


def _is_available(name, report, context):
    """Ask ``report.available(context)``; a failing report counts as unavailable.

    A bug in one add-on's report must not break every page that lists reports.
    """
    try:
        return bool(report.available(context))
    except ConflictError:
        raise
    except Exception:  # noqa: BLE001 - any add-on bug, logged below
        logger.exception("available() of report type %r failed", name)
        return False


def _bound_fields(report, context):
    """Return the report's fields, bound to ``context``."""
    return [(name, field.bind(context)) for name, field in schema_fields(report)]


def _unknown_names(report, given):
    """Return a problem for every name in ``given`` the schema does not have."""
    known = [name for name, _ in schema_fields(report)]
    if known:
        hint = "known parameters: " + ", ".join(known)
    else:
        hint = "this report takes no parameters"
    return [
        (str(name), f"unknown parameter ({hint})")
        for name in sorted(given, key=str)
        if name not in known
    ]


def _finish(report, values, problems):
    """Check invariants when every field is fine; raise if anything is wrong."""
    # Invariants read several fields and would trip over ones already wrong.
    if not problems:
        problems.extend(_invariant_problems(report.schema, values))
    if problems:
        raise InvalidParameters(problems)
    return values


def _invariant_problems(schema, values):
    """Return a problem for every invariant of ``schema`` ``values`` break."""
    data = SimpleNamespace(**values)
    alsoProvides(data, schema)
    errors = []
    try:
        schema.validateInvariants(data, errors)
    except Invalid:
        pass
    return [(INVARIANT_KEY, _describe(error)) for error in errors]


def _required(field):
    """A field a person must fill in: required, and not a checkbox."""
    return field.required and not IBool.providedBy(field)


def _missing_value(field):
    """Return ``(value, problem)`` for a parameter that was not given."""
    if IBool.providedBy(field):
        return False, _check(field, False)
    default = field.default
    if default is not None and default != field.missing_value:
        return default, None
    if field.required:
        return None, say(_("is required"))
    return field.missing_value, None


def _value_from_text(field, text):
    """Return ``(value, problem)`` for ``text`` converted by ``field``."""
    if IBool.providedBy(field):
        word = text.strip().lower()
        if word not in TRUE_WORDS | FALSE_WORDS:
            return None, say(_("must be yes or no (got ${value})",
                               mapping={"value": _show(text)}))
        value = word in TRUE_WORDS
    elif IChoice.providedBy(field):
        value = _choice_value(field, text)
    else:
        converter = IFromUnicode(field, None)
        if converter is None:
            return None, "cannot be given as text"
        try:
            value = converter.fromUnicode(text)
        except (Invalid, ValueError) as exc:
            return None, _explain(field, exc, text)
    problem = _check(field, value)
    return (None, problem) if problem else (value, None)


def _choice_value(field, text):
    """Return the vocabulary value whose token is ``text``, else ``text``."""
    vocabulary = field.vocabulary
    if IVocabularyTokenized.providedBy(vocabulary):
        try:
            return vocabulary.getTermByToken(text.strip()).value
        except LookupError:
            pass
    return text


def _check(field, value):
    """Return a problem with ``value`` for ``field``, or None when it is fine."""
    if not _is_plain(value):
        return f"must be plain data, not {type(value).__name__}"
    # bool is a subclass of int, yet True is no answer to "how many".
    if isinstance(value, bool) and INumber.providedBy(field):
        return f"must be {_type_words(field._type)} (got {value})"
    if isinstance(value, float) and not math.isfinite(value):
        return f"must be a finite number (got {value})"
    try:
        field.validate(value)
    except Invalid as exc:
        return _explain(field, exc, value)
    return None


def _is_plain(value):
    """Tell whether ``value`` is JSON-like data, safe to store with a job."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_is_plain(item) for item in value)
    if isinstance(value, dict):
        return all(
            isinstance(key, str) and _is_plain(item) for key, item in value.items()
        )
    return False


def _explain(field, exc, value):
    """Return a message a person can act on for a failed conversion or check."""
    if getattr(exc, "value", None) is not None:
        value = exc.value
    shown = _show(value)
    if isinstance(exc, RequiredMissing):
        return say(_("is required"))
    if isinstance(exc, TooBig):
        return say(_("must be at most ${bound} (got ${value})",
                     mapping={"bound": _show(exc.bound), "value": shown}))
    if isinstance(exc, TooSmall):
        return say(_("must be at least ${bound} (got ${value})",
                     mapping={"bound": _show(exc.bound), "value": shown}))
    if isinstance(exc, (TooLong, TooShort)):
        unit = "characters" if isinstance(value, str) else "items"
        limit = "most" if isinstance(exc, TooLong) else "least"
        return f"must be at {limit} {exc.bound} {unit} long (got {len(value)})"
    if isinstance(exc, WrongType):
        return f"must be {_type_words(exc.expected_type)} (got {type(value).__name__})"
    if IChoice.providedBy(field) and isinstance(exc, ConstraintNotSatisfied):
        return _choice_problem(field, shown)
    if ITextLine.providedBy(field) and isinstance(value, str) and "\n" in value:
        return say(_("must be a single line"))
    if IASCII.providedBy(field) and isinstance(exc, InvalidValue):
        return f"must contain only ASCII characters (got {shown})"
    if isinstance(exc, ValueError) and IIntegral.providedBy(field):
        return say(_("must be a whole number (got ${value})", mapping={"value": shown}))
    if isinstance(exc, ValueError) and INumber.providedBy(field):
        return say(_("must be a number (got ${value})", mapping={"value": shown}))
    if isinstance(exc, ConstraintNotSatisfied):
        return say(_("is not an allowed value (got ${value})", mapping={"value": shown}))
    return f"{_describe(exc)} (got {shown})"


def _choice_problem(field, shown):
    """Return the message for a value that is not in a Choice's vocabulary."""
    vocabulary = field.vocabulary
    if (
        IIterableVocabulary.providedBy(vocabulary)
        and len(vocabulary) <= MAX_LISTED_CHOICES
    ):
        tokens = ", ".join(term.token for term in vocabulary)
        return say(_("must be one of: ${choices} (got ${value})",
                     mapping={"choices": tokens, "value": shown}))
    return say(_("is not one of the allowed values (got ${value})", mapping={"value": shown}))


def _describe(exc):
    """Return the text of an Invalid raised by a constraint or an invariant."""
    own_doc = type(exc).__doc__
    if (
        isinstance(exc, ValidationError)
        and own_doc
        and own_doc != ValidationError.__doc__
    ):
        return exc.doc().strip()
    if exc.args and isinstance(exc.args[0], str):
        return exc.args[0]
    return "is not valid"


def _type_words(expected):
    """Return how a person would name the type(s) ``expected``."""
    if isinstance(expected, tuple):
        return " or ".join(_type_words(each) for each in expected)
    if expected in _TYPE_WORDS:
        return _TYPE_WORDS[expected]
    return getattr(expected, "__name__", "something else")


def _show(value):
    """Return ``value`` for an error message, long text shortened."""
    if isinstance(value, str):
        return repr(value if len(value) <= 40 else value[:40] + "...")
    return str(value)

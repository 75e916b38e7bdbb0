"""Checking single values from forms, query strings and the command line.

One rule for every input that is not a report parameter (those are the
report schema's business, in reports/registry.py): a value is one piece of
text (or a number where a number is asked for), of bounded size, with no NUL
bytes or broken encoding, inside its allowed range or set. ZPublisher turns
``name:list``, ``name:record``, ``name:int``, ``name:tokens`` and friends into
lists, records and numbers; these functions refuse what the field does not
expect instead of letting it reach the queue.

Each function takes a value and returns a clean one or raises BadInput. No
request is needed, so the CLI calls them too. Through the web BadInput is a
400 Bad Request, rendered by the exception view in configure.zcml with the
message escaped.
"""

import html

from zExceptions import BadRequest
from ZPublisher.HTTPResponse import status_codes

from collective.asyncreports.errors import InvalidJobRequest
from collective.asyncreports.queue.settings import MAX_DAYS
from collective.asyncreports.queue.states import ALL_STATES
from collective.asyncreports.queue.states import FINAL_STATES


# Longest value of a form field that is no report parameter (ids, paths and
# filters are far shorter; report parameters have their own limit).
MAX_TEXT_LENGTH = 1024
# Job ids are 17 hex digits; anything much longer is no job id.
MAX_JOB_ID_LENGTH = 64
# One form may act on this many jobs at once (a page shows 20).
MAX_JOB_IDS = 1000
# "Older than" more than a century is a typo, not a purge.


class BadInput(InvalidJobRequest, BadRequest):
    """A value from a form, URL or command line is not what it must be.

    An InvalidJobRequest (so the CLI exits 2 with the message) and a
    zExceptions.BadRequest (so Zope answers 400, never 500).
    """

    title = "Bad request"
    body_template = """<!DOCTYPE html>
<html><head><meta charset="utf-8" /><title>{title}</title></head>
<body><h1>{title}</h1>
{detail}
<p>Go back, correct the value and try again.</p></body></html>"""

    def __init__(self, message):
        super().__init__(message)
        self.message = message
        # zExceptions puts ``detail`` into its error page unescaped.
        self.detail = f"<p>{html.escape(message)}</p>"

    def __str__(self):
        return self.message


# Exception views (Plone's among them) set the response status from the
# exception's class name; ZPublisher knows "BadRequest", not this subclass.
status_codes.setdefault(BadInput.__name__.lower(), 400)


def _kind(value):
    """How a person would name what was sent instead of one value."""
    if isinstance(value, (list, tuple)):
        return "a list of values"
    if type(value).__name__ == "record":  # ZPublisher's name.key:record
        return "a record"
    return f"a {type(value).__name__}"


def _show(text, limit=40):
    return repr(text if len(text) <= limit else text[:limit] + "...")


def text_problem(value, max_length=MAX_TEXT_LENGTH):
    """Return what is wrong with ``value`` as one piece of text, or None.

    The rule for every text input, report parameters included: text (not a
    list, record, number or file), at most ``max_length`` characters, no NUL
    characters, and valid UTF-8 (bytes that were not arrive from ZPublisher
    as lone surrogates, which no page or PDF can show).
    """
    if not isinstance(value, str):
        return f"expected one text value, not {_kind(value)}"
    if len(value) > max_length:
        return f"is too long: at most {max_length} characters (got {len(value)})"
    if "\x00" in value:
        return "must not contain NUL characters"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid UTF-8 text"
    return None


def text(value, name, default="", max_length=MAX_TEXT_LENGTH, strip=True):
    """Return ``value`` as one piece of text; ``default`` when it is None.

    :raises BadInput: see text_problem.
    """
    if value is None:
        return default
    problem = text_problem(value, max_length)
    if problem:
        raise BadInput(f"{name}: {problem}")
    return value.strip() if strip else value


def optional_text(value, name, max_length=MAX_TEXT_LENGTH):
    """Return the text, or None when it is missing or blank."""
    return text(value, name, max_length=max_length) or None


def whole_number(value, name, default=None, minimum=None, maximum=None):
    """Return ``value`` (text or an int from ``:int``) as an int in bounds.

    Missing or blank values give ``default``; when that is None too, the
    value is required.

    :raises BadInput: not a whole number, out of bounds, or missing.
    """
    if isinstance(value, bool):
        raise BadInput(f"{name}: expected a whole number, not {_kind(value)}")
    if not isinstance(value, int):
        raw = text(value, name, max_length=40)
        if not raw:
            if default is None:
                raise BadInput(f"{name}: a whole number is required")
            return default
        try:
            value = int(raw)
        except ValueError:
            raise BadInput(f"{name}: must be a whole number (got {_show(raw)})") from None
    if minimum is not None and value < minimum:
        raise BadInput(f"{name}: must be at least {minimum} (got {value})")
    if maximum is not None and value > maximum:
        raise BadInput(f"{name}: must be at most {maximum} (got {value})")
    return value


def one_of(value, name, allowed, default=None):
    """Return ``value`` if it is one of ``allowed``; ``default`` when missing or blank.

    :raises BadInput: for any other value; the message lists the allowed ones.
    """
    choice = text(value, name)
    if not choice:
        return default
    if choice not in allowed:
        raise BadInput(
            f"{name}: must be one of {', '.join(allowed)} (got {_show(choice)})")
    return choice


def state(value, name="state", allowed=ALL_STATES):
    """A job state filter: one of ``allowed``, or None for every state."""
    return one_of(value, name, allowed)


def final_states(value, name="state"):
    """States whose jobs may be purged."""
    return one_of(value, name, FINAL_STATES)


def start(value, name="b_start"):
    """Where a page of a listing starts: 0 when missing, never negative.

    A bad offset is refused; an offset past the end gives an empty page.
    """
    return whole_number(value, name, default=0, minimum=0, maximum=10**9)


def days(value, name="older_than_days"):
    """A number of days to purge by: 0 to MAX_DAYS, None when not given.

    A negative age would be "finished before a day in the future", which is
    every finished job.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return whole_number(value, name, minimum=0, maximum=MAX_DAYS)


def job_id(value, name="job id"):
    """One job id: short text."""
    return text(value, name, max_length=MAX_JOB_ID_LENGTH)


def job_ids(value, name="job_ids"):
    """Job ids from a form: one id, or a list of them (``job_ids:list``).

    Blank entries are dropped; order is kept, duplicates removed.

    :raises BadInput: records, numbers, lists of anything but text, overlong
        ids, or more than MAX_JOB_IDS ids.
    """
    if value is None:
        return []
    values = value if isinstance(value, (list, tuple)) else [value]
    if len(values) > MAX_JOB_IDS:
        raise BadInput(f"{name}: at most {MAX_JOB_IDS} jobs at once (got {len(values)})")
    ids = [job_id(each, name) for each in values]
    return list(dict.fromkeys(each for each in ids if each))


def token_list(value, name, separator=",", max_items=MAX_JOB_IDS):
    """Ids given as one text joined by ``separator`` (``?ids=a,b``)."""
    raw = text(value, name, max_length=max_items * (MAX_JOB_ID_LENGTH + 1))
    parts = [part.strip() for part in raw.split(separator) if part.strip()]
    if len(parts) > max_items:
        raise BadInput(f"{name}: at most {max_items} values (got {len(parts)})")
    return [job_id(part, name) for part in parts]

"""Form helpers for the ZMI tabs: widgets from a report schema, settings parsing
(the settings themselves are declared in queue/settings.py)."""

from urllib.parse import urlsplit

from zope.schema.interfaces import IBool
from zope.schema.interfaces import IChoice
from zope.schema.interfaces import IText
from zope.schema.interfaces import ITextLine

from collective.asyncreports import validation
from collective.asyncreports.errors import InvalidParameters
from collective.asyncreports.queue.settings import ADDRESS
from collective.asyncreports.queue.settings import BOOL
from collective.asyncreports.queue.settings import SETTINGS
from collective.asyncreports.queue.settings import TEXT
from collective.asyncreports.reports.formats import FORMAT_FIELD
from collective.asyncreports.reports.formats import format_choices
from collective.asyncreports.reports.registry import schema_fields


PARAM_PREFIX = "param."


def _kind(field):
    if IBool.providedBy(field):
        return "checkbox"
    if IChoice.providedBy(field):
        return "select"
    if IText.providedBy(field) and not ITextLine.providedBy(field):
        return "textarea"
    return "text"


def widgets(report, form, errors):
    """Describe one input per schema field of ``report`` for the Submit template.

    ``form`` holds submitted values (re-shown after an error); ``errors`` maps
    field names to messages.
    """
    result = []
    for name, field in schema_fields(report):
        key = PARAM_PREFIX + name
        kind = _kind(field)
        if isinstance(form.get(key), str):  # what was sent; not lists or records
            value = form[key]
        elif field.default is not None:
            value = str(field.default)
        else:
            value = ""
        options = []
        if kind == "select":
            vocabulary = field.vocabulary
            options = [
                {"value": str(term.value), "title": term.title or str(term.value)}
                for term in (vocabulary or ())
            ]
        result.append(
            {
                "name": key,
                "title": field.title or name,
                "description": field.description or "",
                "required": field.required,
                "kind": kind,
                "value": value,
                "checked": kind == "checkbox" and (
                    str(value).lower() in ("on", "true", "1", "yes")
                ),
                "options": options,
                "error": errors.get(name, ""),
            }
        )
    return result


def format_options(report, form):
    """The result formats ``report`` offers, for the Submit tab's choice; the
    one sent (if offered) is selected, else the report's default."""
    offered = format_choices(report)
    sent = form.get(FORMAT_FIELD)
    chosen = sent if isinstance(sent, str) and sent in dict(offered) else offered[0][0]
    return [{"value": name, "title": title, "selected": name == chosen}
            for name, title in offered]


def raw_parameters(form):
    """The report parameters in a submitted form, as name -> string."""
    return {
        key[len(PARAM_PREFIX):]: value
        for key, value in form.items()
        if key.startswith(PARAM_PREFIX)
    }


def _setting_value(setting, raw):
    """One submitted setting as its kind's Python value (bounds are SETTINGS.problems')."""
    if setting.kind == BOOL:
        # An unticked checkbox sends only its hidden ``:default`` (''), or nothing.
        return validation.text(raw, setting.title, max_length=40) in ("on", "1", "true")
    if setting.kind in (TEXT, ADDRESS):
        return validation.text(raw, setting.title, max_length=setting.maximum)
    return validation.whole_number(raw, setting.title,
                                   minimum=setting.minimum, maximum=setting.maximum)


def parse_settings(form, current=None):
    """Validate the Settings tab; return a dict of typed values.

    A setting the form does not send keeps its value in ``current`` (name ->
    value, e.g. ``SETTINGS.of(jobs)``), so a form of an older version saves
    what it shows. Raises InvalidParameters listing every bad field.
    """
    values, errors = {}, []
    for setting in SETTINGS:
        raw = form.get(setting.name)
        if raw is None and current is not None:
            values[setting.name] = current[setting.name]
            continue
        try:
            values[setting.name] = _setting_value(setting, raw)
        except validation.BadInput as exc:
            errors.append(tuple(str(exc).split(": ", 1)))
    errors += SETTINGS.problems(values)
    try:
        server_url = validation.text(form.get("server_url"), "Server URL").rstrip("/")
    except validation.BadInput as exc:
        errors.append(tuple(str(exc).split(": ", 1)))
        server_url = ""
    if server_url:
        parts = urlsplit(server_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            errors.append(("Server URL", f"must be an http(s) URL (got {server_url!r})"))
    values["server_url"] = server_url
    if errors:
        raise InvalidParameters(errors)
    return values

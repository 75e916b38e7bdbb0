"""The "Repeat" fields of Plone's schedule forms, and the cron expression they stand for.

Daily, Weekly and Monthly are cron expressions made from a time of day (and
a weekday, a day of the month); Custom takes the expression as written. The
checks of the expression and the zone are the core's (``scheduling.add``);
this module only turns fields into an expression, back, and into words.
"""

import re
from functools import lru_cache
from zoneinfo import available_timezones

from plone import api
from z3c.form.browser.radio import RadioFieldWidget
from z3c.form.interfaces import IErrorViewSnippet
from zope import schema
from zope.component import getMultiAdapter
from zope.interface import Interface
from zope.interface import Invalid
from zope.schema.interfaces import ValidationError
from zope.schema.vocabulary import SimpleTerm
from zope.schema.vocabulary import SimpleVocabulary

from collective.asyncreports.plone import _


ONCE, DAILY, WEEKLY, MONTHLY, CUSTOM = "once", "daily", "weekly", "monthly", "custom"
REPEATS = (
    (ONCE, _("Once (now)")),
    (DAILY, _("Daily")),
    (WEEKLY, _("Weekly")),
    (MONTHLY, _("Monthly")),
    (CUSTOM, _("Custom (cron)")),
)
# Cron's day-of-week numbers, Monday first as people read a week.
WEEKDAYS = ((1, "Monday"), (2, "Tuesday"), (3, "Wednesday"), (4, "Thursday"),
            (5, "Friday"), (6, "Saturday"), (0, "Sunday"))
TIME_OF_DAY = re.compile(r"^([01]?[0-9]|2[0-3]):([0-5][0-9])$")
DEFAULT_TIME = "06:00"


class InvalidTimeOfDay(ValidationError):
    __doc__ = _("Give the time of day as HH:MM (24 hours), e.g. 06:30.")


def _time_of_day(value):
    if not TIME_OF_DAY.match(value.strip()):
        raise InvalidTimeOfDay(value)
    return True


def site_timezone():
    """The site's time zone (``plone.portal_timezone``) if it is an IANA one, else UTC."""
    zone = api.portal.get_registry_record("plone.portal_timezone", default=None)
    return zone if zone in zone_names() else "UTC"


# Files of the tz database that name no zone of their own.
NOT_ZONES = frozenset({"localtime", "posixrules", "Factory"})


@lru_cache(maxsize=1)
def zone_names():
    return frozenset(available_timezones()) - NOT_ZONES


@lru_cache(maxsize=1)
def zone_vocabulary():
    """Every IANA zone of this Python's tz database, UTC first."""
    names = ["UTC"] + sorted(zone_names() - {"UTC"})
    return SimpleVocabulary([SimpleTerm(name, name, name) for name in names])


class IRepeat(Interface):
    """When a report repeats (the Generate report and Edit schedule forms)."""

    repeat = schema.Choice(
        title=_("Repeat"),
        description=_("Once queues the report now; the others make a schedule that "
                      "queues it again and again, listed in My schedules."),
        vocabulary=SimpleVocabulary([SimpleTerm(v, v, t) for v, t in REPEATS]),
        default=ONCE,
        required=True,
    )
    time_of_day = schema.TextLine(
        title=_("Time of day"),
        description=_("Daily, Weekly, Monthly: HH:MM, 24 hours, in the time zone below."),
        default=DEFAULT_TIME,
        constraint=_time_of_day,
        max_length=5,
        required=False,
    )
    weekday = schema.Choice(
        title=_("Weekday"),
        description=_("Weekly: the day it runs."),
        vocabulary=SimpleVocabulary([SimpleTerm(n, str(n), t) for n, t in WEEKDAYS]),
        default=1,
        required=False,
    )
    day_of_month = schema.Int(
        title=_("Day of the month"),
        description=_("Monthly: 1 to 28, days every month has."),
        default=1,
        min=1,
        max=28,
        required=False,
    )
    cron = schema.TextLine(
        title=_("Cron expression"),
        description=_("Custom: five fields, minute hour day-of-month month day-of-week; "
                      "'30 2 * * 1-5' is 02:30 on weekdays."),
        max_length=200,
        required=False,
    )
    timezone = schema.Choice(
        title=_("Time zone"),
        description=_("The times above are read on this zone's clock, daylight saving "
                      "included."),
        vocabulary=zone_vocabulary(),
        defaultFactory=site_timezone,
        required=False,
    )


REPEAT_FIELDS = tuple(schema.getFieldNames(IRepeat))


def use_radio_buttons(fields):
    """Show Repeat as radio buttons: every choice in sight."""
    fields["repeat"].widgetFactory = RadioFieldWidget


def cron_for(data):
    """``(cron expression, problems)`` of a form's IRepeat ``data`` that repeats.

    ``problems`` are ``(field, message)``; the expression itself is checked
    by the core (``scheduling.add``).
    """
    repeat = data.get("repeat")
    if repeat == CUSTOM:
        return (data.get("cron") or "").strip(), []
    time = (data.get("time_of_day") or "").strip()
    match = TIME_OF_DAY.match(time)
    if not match:
        return None, [("time_of_day", "give the time of day as HH:MM, e.g. 06:30")]
    hour, minute = int(match.group(1)), int(match.group(2))
    if repeat == DAILY:
        return f"{minute} {hour} * * *", []
    if repeat == WEEKLY:
        weekday = data.get("weekday")
        return f"{minute} {hour} * * {1 if weekday is None else weekday}", []
    return f"{minute} {hour} {data.get('day_of_month') or 1} * *", []


SIMPLE_CRON = re.compile(r"^(\d{1,2}) (\d{1,2}) (\*|\d{1,2}) \* (\*|\d)$")


def repeat_of(cron):
    """The IRepeat values that make ``cron`` (the inverse of ``cron_for``):
    Daily, Weekly or Monthly where it is one of theirs, else Custom."""
    match = SIMPLE_CRON.match(cron or "")
    if match:
        minute, hour, day, weekday = match.groups()
        minute, hour = int(minute), int(hour)
        if minute < 60 and hour < 24:
            values = {"time_of_day": f"{hour:02d}:{minute:02d}", "cron": cron}
            if day == "*" and weekday == "*":
                return dict(values, repeat=DAILY)
            if day == "*" and int(weekday) in dict(WEEKDAYS):
                return dict(values, repeat=WEEKLY, weekday=int(weekday))
            if weekday == "*" and day != "*" and 1 <= int(day) <= 28:
                return dict(values, repeat=MONTHLY, day_of_month=int(day))
    return {"repeat": CUSTOM, "cron": cron}


def in_words(cron):
    """``cron`` said plainly ("Daily at 06:00"); "Custom" for what is no simple repeat."""
    values = repeat_of(cron)
    at = values.get("time_of_day")
    if values["repeat"] == DAILY:
        return f"Daily at {at}"
    if values["repeat"] == WEEKLY:
        return f"Weekly on {dict(WEEKDAYS)[values['weekday']]} at {at}"
    if values["repeat"] == MONTHLY:
        return f"Monthly on day {values['day_of_month']} at {at}"
    return "Custom"


def show_problems(form, problems, widget_of):
    """Put each ``(field, message)`` on its widget (``widget_of(field)`` names
    it, None: none has it); returns the messages no widget shows."""
    unplaced = []
    for name, message in problems:
        widget = form.widgets.get(widget_of(name) or "")
        if widget is None:
            unplaced.append(f"{name}: {message}")
            continue
        error = Invalid(message)
        snippet = getMultiAdapter((error, form.request, widget, widget.field, form,
                                   form.context), IErrorViewSnippet)
        snippet.update()
        widget.error = snippet
        form.widgets.errors += (snippet,)
    return unplaced


def timing_widget(repeat):
    """``widget_of`` for the core's timing problems: a bad expression is the
    time of day's fault unless it was typed in (Custom)."""
    def widget_of(name):
        if name == "cron":
            return "cron" if repeat == CUSTOM else "time_of_day"
        return name if name in REPEAT_FIELDS else None
    return widget_of

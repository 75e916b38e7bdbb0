"""Schedules: a report run repeated on a cron expression in an IANA time zone.

Exactly once per tick, without a leader: any worker may take a due tick
(``Schedule.take_tick``), which moves the schedule's ``next_run`` on, and
queues the job in the same transaction. Two workers taking the same tick
both write the same Schedule object, which has no conflict resolution: one
commit wins, the other gets a ConflictError, and its retry sees ``next_run``
moved on and fires nothing. Nothing else is written by a firing but the
job's own index entries (which merge), so the schedule being fired is the
only object two workers can collide on.

Ticks are found on the wall clock of the schedule's time zone, so a daily
02:30 fires once on both daylight-saving change days: where 02:30 does not
exist (the clock jumps from 02:00 to 03:00) at the change, 03:00; where it
happens twice, at the first.

Plain ZODB, no Zope: the owner's checks and the queuing are ``scheduling.py``'s.
"""

import secrets
from datetime import datetime
from typing import NamedTuple
from zoneinfo import ZoneInfo
from zoneinfo import ZoneInfoNotFoundError

from BTrees.OOBTree import OOBTree
from croniter import croniter
from persistent import Persistent

from collective.asyncreports.errors import InvalidSchedule
from collective.asyncreports.queue.clock import now_or_time


RUN_ONCE = "run-once"
SKIP = "skip"
MISSED_POLICIES = (RUN_ONCE, SKIP)

# Catching up after a long outage counts at most this many missed ticks.
MAX_COUNTED_TICKS = 10_000
# A cron expression whose next tick is not found in this many steps never fires.
MAX_SEARCH_STEPS = 1_000
MAX_CRON_LENGTH = 200
MAX_TIMEZONE_LENGTH = 64


# -- checking what a schedule is made of ---------------------------------------


def cron_problem(cron):
    """Why ``cron`` is no usable five-field cron expression, or None."""
    if not isinstance(cron, str) or not cron.strip():
        return "a cron expression is required, e.g. '30 2 * * *' (02:30 every day)"
    if len(cron) > MAX_CRON_LENGTH:
        return f"a cron expression has at most {MAX_CRON_LENGTH} characters"
    fields = cron.split()
    if len(fields) != 5:
        return (f"{cron!r} has {len(fields)} field(s); a cron expression has five: "
                "minute hour day-of-month month day-of-week")
    if not croniter.is_valid(cron):
        return f"{cron!r} is not a valid cron expression"
    try:
        _next_wall(cron, datetime(2000, 1, 1))
    except Exception:  # croniter's search gave up: e.g. the 30th of February
        return f"{cron!r} never fires"
    return None


def timezone_problem(name):
    """Why ``name`` is no IANA time zone (``Europe/Berlin``, ``UTC``), or None."""
    if not isinstance(name, str) or not name:
        return "a time zone is required, e.g. 'Europe/Berlin' or 'UTC'"
    if len(name) > MAX_TIMEZONE_LENGTH:
        return f"a time zone name has at most {MAX_TIMEZONE_LENGTH} characters"
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return f"{name!r} is not an IANA time zone (e.g. 'Europe/Berlin' or 'UTC')"
    return None


def missed_problem(policy):
    """Why ``policy`` is no missed-ticks policy, or None."""
    if policy not in MISSED_POLICIES:
        return f"missed ticks: choose {' or '.join(MISSED_POLICIES)} (got {policy!r})"
    return None


def timing_problems(cron, timezone, missed):
    """``[(field, message)]``, one per problem of a schedule's timing."""
    problems = [("cron", cron_problem(cron)), ("timezone", timezone_problem(timezone)),
                ("missed", missed_problem(missed))]
    return [(field, message) for field, message in problems if message]


def check_timing(cron, timezone, missed):
    """:raises InvalidSchedule: one message per problem of ``timing_problems``."""
    problems = timing_problems(cron, timezone, missed)
    if problems:
        raise InvalidSchedule(problems)


# -- ticks on the wall clock ---------------------------------------------------


def next_tick(cron, timezone, after):
    """The first tick of ``cron`` in ``timezone`` strictly after ``after``
    (epoch seconds), as epoch seconds."""
    zone = ZoneInfo(timezone)
    wall = datetime.fromtimestamp(after, zone).replace(tzinfo=None)
    for _ in range(MAX_SEARCH_STEPS):
        wall = _next_wall(cron, wall)
        instant = _instant(wall, zone)
        # A wall time of the repeated hour (fall-back) maps to its first
        # occurrence, which may lie before ``after``: that tick has been.
        if instant > after:
            return instant
    raise InvalidSchedule([("cron", f"{cron!r} never fires")])


def _next_wall(cron, wall):
    """The next wall-clock time of ``cron`` after the naive datetime ``wall``."""
    return croniter(cron, wall).get_next(datetime)


def _instant(wall, zone):
    """Epoch seconds of the naive wall time ``wall`` in ``zone``: the first of
    two in the repeated hour; in a skipped hour, the moment the clock jumps."""
    first = wall.replace(tzinfo=zone, fold=0).timestamp()
    if datetime.fromtimestamp(first, zone).replace(tzinfo=None) == wall:
        return first
    # In the gap, fold=1 reads the time with the offset after the change (an
    # instant before it) and fold=0 with the one before (after it): the jump
    # lies between. Find the first whole second whose wall time is past ``wall``.
    low, high = int(wall.replace(tzinfo=zone, fold=1).timestamp()), int(first)
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, zone).replace(tzinfo=None) >= wall:
            high = middle
        else:
            low = middle
    return float(high)


class Tick(NamedTuple):
    """What taking a due tick decided.

    ``time``: the tick the job stands for (the latest due one), or None when
    none fires (missed ticks skipped); ``missed``: how many earlier ticks
    passed without a job.
    """

    time: float
    missed: int


# -- the model -----------------------------------------------------------------


class Schedule(Persistent):
    """A report, target, parameters and format, run as its owner on a cron
    expression in a time zone.

    ``next_run`` is the next tick (epoch seconds; None while paused);
    ``last_run`` the tick of the last job and ``last_job_id`` that job;
    ``paused_reason`` says why a paused schedule does not fire ("paused by
    admin", "owner 'bob' no longer exists"); ``missed`` is RUN_ONCE (after
    all workers were down, one job for the missed ticks) or SKIP (none).

    No ``_p_resolveConflict``, on purpose: two concurrent firings of one
    tick must conflict (see the module's docstring).
    """

    last_run = None
    last_job_id = None
    last_fired = None
    paused_reason = ""
    fired_count = 0
    last_refusal = ""  # why the latest refused tick has no job (the owner's cap)

    def __init__(self, schedule_id, report, path, params, owner_id, cron,
                 timezone="UTC", owner_folder="/acl_users", format="pdf",
                 missed=RUN_ONCE, queue_path="", now=None):
        check_timing(cron, timezone, missed)
        now = now_or_time(now)
        self.id = schedule_id
        self.report = report
        self.path = path
        self.params = dict(params or {})
        self.owner_id = owner_id
        self.owner_folder = owner_folder
        self.format = format
        self.queue_path = queue_path
        self.cron = cron
        self.timezone = timezone
        self.missed = missed
        self.created = now
        self.enabled = True
        self.next_run = next_tick(cron, timezone, now)

    def __repr__(self):
        return f"<Schedule {self.id} {self.report!r} {self.cron!r} {self.timezone}>"

    def is_due(self, now=None):
        return self.enabled and self.next_run is not None and self.next_run <= now_or_time(now)

    def take_tick(self, now=None):
        """Move ``next_run`` past ``now`` and say which tick, if any, fires.

        The caller queues the job for ``Tick.time`` in the same transaction
        and calls ``fired``. Returns None when nothing is due.
        """
        now = now_or_time(now)
        if not self.is_due(now):
            return None
        latest, missed = self.next_run, 0
        following = next_tick(self.cron, self.timezone, latest)
        while following <= now and missed < MAX_COUNTED_TICKS:
            latest, missed = following, missed + 1
            following = next_tick(self.cron, self.timezone, latest)
        self.next_run = following if following > now else next_tick(
            self.cron, self.timezone, now)
        if missed and self.missed == SKIP:
            return Tick(None, missed + 1)
        return Tick(latest, missed)

    def fired(self, tick, job_id, now=None):
        """Record the job queued for ``tick``."""
        self.last_run = tick
        self.last_job_id = job_id
        self.last_fired = now_or_time(now)
        self.fired_count += 1
        self.last_refusal = ""

    def pause(self, reason):
        """Stop firing, saying why (shown in every listing)."""
        self.enabled = False
        self.next_run = None
        self.paused_reason = reason

    def resume(self, now=None):
        """Fire again from the next tick after ``now`` (none missed meanwhile)."""
        self.enabled = True
        self.paused_reason = ""
        self.next_run = next_tick(self.cron, self.timezone, now_or_time(now))

    def edit(self, now=None, **changes):
        """Change fields (``cron``, ``timezone``, ``missed``, ``report``, ``path``,
        ``params``, ``format``); the timing is checked, the next tick found again.

        :raises InvalidSchedule: one message per timing problem; nothing changes.
        """
        unknown = sorted(set(changes) - EDITABLE)
        if unknown:
            raise TypeError(f"Schedule.edit() got unknown fields: {', '.join(unknown)}")
        timing = {name: changes.get(name, getattr(self, name))
                  for name in ("cron", "timezone", "missed")}
        check_timing(**timing)
        for name, value in changes.items():
            setattr(self, name, dict(value) if name == "params" else value)
        if self.enabled:
            self.next_run = next_tick(self.cron, self.timezone, now_or_time(now))

    def as_dict(self):
        """The schedule as a JSON-serialisable dict (times as epoch seconds)."""
        return {
            "id": self.id,
            "queue_path": self.queue_path,
            "report": self.report,
            "path": self.path,
            "params": dict(self.params),
            "format": self.format,
            "owner": self.owner_id,
            "owner_folder": self.owner_folder,
            "cron": self.cron,
            "timezone": self.timezone,
            "missed": self.missed,
            "enabled": self.enabled,
            "paused_reason": self.paused_reason,
            "created": self.created,
            "next_run": self.next_run,
            "last_run": self.last_run,
            "last_job_id": self.last_job_id,
            "last_fired": self.last_fired,
            "fired_count": self.fired_count,
            "last_refusal": self.last_refusal,
        }


EDITABLE = frozenset({"cron", "timezone", "missed", "report", "path", "params", "format"})


def new_schedule_id():
    """A short random id (``s`` and 10 hex digits)."""
    return "s" + secrets.token_hex(5)


class ScheduleBook(Persistent):
    """A queue's schedules, by id.

    The book itself is written once, when made; adding and removing
    schedules writes its BTree, firing one writes only that Schedule.
    """

    def __init__(self):
        self._schedules = OOBTree()

    def __len__(self):
        return len(self._schedules)

    def __contains__(self, schedule_id):
        return isinstance(schedule_id, str) and schedule_id in self._schedules

    def __iter__(self):
        """The schedules in id order."""
        return iter(self._schedules.values())

    def add(self, schedule):
        if schedule.id in self._schedules:
            raise ValueError(f"a schedule {schedule.id!r} exists already")
        self._schedules[schedule.id] = schedule
        return schedule

    def get(self, schedule_id):
        """The schedule with this id, or None."""
        return self._schedules.get(schedule_id) if schedule_id in self else None

    def remove(self, schedule_id):
        return self._schedules.pop(schedule_id)

    def owned_by(self, owner_id):
        return [schedule for schedule in self if schedule.owner_id == owner_id]

    def due(self, now=None):
        """The enabled schedules whose next tick has come, earliest first."""
        now = now_or_time(now)
        return sorted((s for s in self if s.is_due(now)), key=lambda s: (s.next_run, s.id))

    def overdue(self, now=None, grace=60.0):
        """The enabled schedules whose next tick passed more than ``grace``
        seconds ago: no worker fires them (health checks, metrics)."""
        now = now_or_time(now)
        return [schedule for schedule in self.due(now) if schedule.next_run < now - grace]

    def next_due(self):
        """The earliest ``next_run`` of an enabled schedule, or None."""
        return min((s.next_run for s in self if s.enabled and s.next_run is not None),
                   default=None)


def book_of(jobs):
    """The ScheduleBook of the JobQueue ``jobs``: an empty one, not stored,
    if it has none (reading must not write the queue)."""
    book = getattr(jobs, "_schedules", None)
    return ScheduleBook() if book is None else book


def stored_book(jobs):
    """The ScheduleBook of ``jobs``, made and stored on it the first time."""
    book = getattr(jobs, "_schedules", None)
    if book is None:
        book = jobs._schedules = ScheduleBook()
    return book

"""Schedules of a queue for every UI (ZMI, CLI, and later Plone and REST), and firing them.

A schedule is made by its owner, the current user, after every check a
submission passes (``submission.checked``), and its job is queued as that
owner through ``submission.submit`` each time it fires. An owner who is
gone, or may no longer queue the report there, pauses the schedule with the
reason; it never fires as anybody else. Who may see and change a schedule is
the jobs' rule (``actions.viewer``): managers every one, others their own.

Errors are the package's own: InvalidSchedule lists one ``(field,
message)`` per problem; ScheduleNotFound; Unauthorized.
"""

import time

from AccessControl import Unauthorized
from AccessControl import getSecurityManager
from AccessControl.SecurityManagement import newSecurityManager
from AccessControl.SecurityManagement import setSecurityManager
from Acquisition import aq_inner
from Acquisition import aq_parent
from transaction.interfaces import TransientError

from collective.asyncreports import logger
from collective.asyncreports.actions import viewer
from collective.asyncreports.errors import InvalidJobRequest
from collective.asyncreports.errors import InvalidParameters
from collective.asyncreports.errors import InvalidPath
from collective.asyncreports.errors import InvalidSchedule
from collective.asyncreports.errors import ScheduleNotFound
from collective.asyncreports.errors import TooManyJobs
from collective.asyncreports.errors import UnknownReport
from collective.asyncreports.errors import UnknownUser
from collective.asyncreports.queue.clock import now_or_time
from collective.asyncreports.queue.schedules import RUN_ONCE
from collective.asyncreports.queue.schedules import Schedule
from collective.asyncreports.queue.schedules import Tick
from collective.asyncreports.queue.schedules import book_of
from collective.asyncreports.queue.schedules import new_schedule_id
from collective.asyncreports.queue.schedules import stored_book
from collective.asyncreports.queue.schedules import timing_problems
from collective.asyncreports.rows import iso_time
from collective.asyncreports.submission import checked
from collective.asyncreports.submission import submit
from collective.asyncreports.targets import path_of
from collective.asyncreports.users import load_user


SCHEDULER = "scheduler"  # the actor of a fired job's "scheduled" event

# What a refused submission of the owner raises (``run_now``).
REFUSALS = (InvalidJobRequest, Unauthorized)


def add(queue, report, path, params, cron, timezone="UTC", format=None, missed=RUN_ONCE,
        typed=False, now=None):
    """Make a schedule of ``report`` on ``path`` owned by the current user.

    :param params: parameter values, as text (form, CLI) or, with
        ``typed``, of the schema's types (``api``).
    :param cron: five-field cron expression, e.g. ``"30 2 * * *"``.
    :param timezone: IANA time zone name the expression is read in.
    :param format: result format, one the report offers (None: its default).
    :param missed: ``"run-once"`` or ``"skip"``: what happens to ticks
        missed while no worker ran.
    :returns: the new Schedule (its ``id``, ``next_run``).
    :raises InvalidSchedule: one ``(field, message)`` per problem.
    :raises Unauthorized: the user may not queue the report there.
    """
    user = getSecurityManager().getUser()
    target, params, format = _checked(queue, report, path, params, typed, format,
                                      timing_problems(cron, timezone, missed))
    folder = aq_parent(aq_inner(user))
    if folder is None:
        raise InvalidSchedule([("owner", "schedules belong to users from a user folder")])
    book = stored_book(queue.job_queue())
    schedule_id = new_schedule_id()
    while schedule_id in book:
        schedule_id = new_schedule_id()
    return book.add(Schedule(
        schedule_id, report, path_of(target), params, user.getId(), cron, timezone,
        owner_folder=path_of(folder), format=format, missed=missed,
        queue_path=path_of(queue), now=now))


def add_noted(queue, report, path, params, cron, timezone="UTC", **options):
    """:func:`add`, but the same schedule twice is one: ``(schedule, note)``.

    When the user has a schedule that queues the same report, target,
    parameters and format at the same times, that one is returned with a
    note and nothing is added (a form or a request sent twice). ``note`` is
    None for a new schedule.
    """
    schedule = add(queue, report, path, params, cron, timezone, **options)
    twin = _twin(queue, schedule)
    if twin is None:
        return schedule, None
    remove(queue, schedule.id)
    return twin, f"You have this schedule already ({twin.id}); nothing was added."


def _twin(queue, schedule):
    """Another schedule of the same owner that queues the same thing at the same times."""
    same = ("report", "path", "params", "format", "cron", "timezone")
    for other in book_of(queue.job_queue()).owned_by(schedule.owner_id):
        if other.id != schedule.id and all(
                getattr(other, name) == getattr(schedule, name) for name in same):
            return other
    return None


def edit(queue, schedule_id, report=None, path=None, params=None, cron=None, timezone=None,
         format=None, missed=None, typed=False, now=None):
    """Change a schedule the current user may change (None: keep a field).

    The report, target and parameters are checked again as the owner (the
    schedule fires as the owner; a manager editing somebody's schedule
    cannot give it more than the owner may).

    :raises InvalidSchedule, Unauthorized, ScheduleNotFound: as ``add``, ``get``.
    """
    schedule = get(queue, schedule_id)
    cron, timezone, missed = (schedule.cron if cron is None else cron,
                              schedule.timezone if timezone is None else timezone,
                              schedule.missed if missed is None else missed)
    report = schedule.report if report is None else report
    if params is None:
        params, typed = dict(schedule.params), True
    with _as_owner(queue, schedule):
        target, params, format = _checked(
            queue, report, schedule.path if path is None else path, params, typed,
            schedule.format if format is None else format,
            timing_problems(cron, timezone, missed))
    schedule.edit(now=now, report=report, path=path_of(target), params=params,
                  format=format, cron=cron, timezone=timezone, missed=missed)
    return schedule


def get(queue, schedule_id):
    """The schedule ``schedule_id``, if the current user may see it.

    :raises ScheduleNotFound: there is none.
    :raises Unauthorized: it is somebody else's, and the user does not
        manage the queue.
    """
    schedule = book_of(queue.job_queue()).get(schedule_id)
    if schedule is None:
        raise ScheduleNotFound(schedule_id)
    if not viewer(queue).may_see(schedule):
        raise Unauthorized(f"you may not see schedule {schedule_id}")
    return schedule


def listing(queue):
    """The schedules the current user may see: every one for managers."""
    who = viewer(queue)
    book = book_of(queue.job_queue())
    return list(book) if who.manager else book.owned_by(who.user_id)


def pause(queue, schedule_id):
    schedule = get(queue, schedule_id)
    schedule.pause(f"paused by {_actor()}")
    return schedule


def resume(queue, schedule_id, now=None):
    """Fire again from the next tick; the owner's right is checked when it fires."""
    schedule = get(queue, schedule_id)
    schedule.resume(now)
    return schedule


def remove(queue, schedule_id):
    schedule = get(queue, schedule_id)
    book_of(queue.job_queue()).remove(schedule.id)
    return schedule


def run_now(queue, schedule_id, now=None):
    """Queue the schedule's job now, as its owner; its next tick stays.

    :returns: the Job.
    :raises InvalidJobRequest, Unauthorized: the owner's submission is refused
        (the schedule is left as it is: the person asking hears why).
    """
    schedule = get(queue, schedule_id)
    now, asked_by = now_or_time(now), _actor()
    with _as_owner(queue, schedule):
        return _queued(queue, schedule, Tick(now, 0), now,
                       f"schedule {schedule.id}, run now by {asked_by}")


def schedule_json(schedule):
    """The public JSON shape of a schedule (``schedule list --json``): times
    in ISO 8601, UTC."""
    data = schedule.as_dict()
    for name in ("created", "next_run", "last_run", "last_fired"):
        data[name] = iso_time(data[name])
    return data


# -- firing, in a worker ---------------------------------------------------------


def fire_due(queue, now=None):
    """Take every due tick of ``queue``'s schedules and queue their jobs.

    Runs in a worker's write step: the tick moves on and the job is queued
    in that one transaction, so of two workers only the one whose commit
    wins has fired (the other's conflicts; see ``queue/schedules.py``).
    Returns ``[(schedule id, job id or None, what happened)]``.
    """
    now = now_or_time(now)
    fired = []
    for schedule in book_of(queue.job_queue()).due(now):
        tick = schedule.take_tick(now)
        if tick.time is None:
            fired.append((schedule.id, None, f"skipped {tick.missed} missed tick(s)"))
            continue
        job = _fire(queue, schedule, tick, now)
        fired.append((schedule.id, job and job.id,
                      f"tick {tick.time:.0f}" if job else schedule.paused_reason))
    return fired


def _fire(queue, schedule, tick, now):
    """Queue ``tick``'s job as the owner; pause the schedule if that is refused
    (the owner's cap on waiting jobs only costs this tick its job)."""
    try:
        owner = load_user(queue.getPhysicalRoot(), schedule.owner_folder, schedule.owner_id)
    except UnknownUser:
        schedule.pause(f"owner {schedule.owner_id!r} no longer exists")
        return None
    savepoint = queue._p_jar.transaction_manager.get().savepoint()
    before = getSecurityManager()
    newSecurityManager(None, owner)
    try:
        detail = f"schedule {schedule.id}" + (
            f" ({tick.missed} missed tick(s) run once)" if tick.missed else "")
        return _queued(queue, schedule, tick, now, detail)
    except TransientError:
        raise
    except Unauthorized as exc:
        savepoint.rollback()
        schedule.pause(f"owner {schedule.owner_id!r} may no longer queue it: {exc}")
    except TooManyJobs as exc:  # passes: this tick has no job, the next may
        savepoint.rollback()
        schedule.last_refusal = f"tick {tick.time:.0f} not queued: {exc}"
        logger.warning("schedule %s: %s", schedule.id, schedule.last_refusal)
    except InvalidJobRequest as exc:
        savepoint.rollback()
        schedule.pause(f"refused: {exc}")
    except Exception as exc:  # a JobQueued subscriber: the job is not queued
        savepoint.rollback()
        logger.exception("schedule %s: queuing its job failed", schedule.id)
        schedule.pause(f"queuing failed: {type(exc).__name__}: {exc}")
    finally:
        setSecurityManager(before)
    return None


def _queued(queue, schedule, tick, now, detail):
    """Submit the schedule's job as the current user (its owner) and mark it."""
    asked = time.time()
    job = submit(queue, schedule.report, schedule.path, dict(schedule.params), typed=True,
                 format=schedule.format)
    if job.created >= asked:
        job.schedule_id, job.schedule_tick = schedule.id, tick.time
        job.add_event(now, SCHEDULER, "scheduled", detail)
    # else: an identical job of the owner still waits (submission's dedup): that
    # one stands for this tick too, and keeps the tick it was queued for.
    schedule.fired(tick.time, job.id, now)
    return job


# -- helpers -------------------------------------------------------------------


def _checked(queue, report, path, params, typed, format, problems):
    """``submission.checked``, its problem added to the timing ``problems``:
    one InvalidSchedule with all of them."""
    try:
        target, params, format = checked(queue, report, path, params, typed, format)
    except InvalidParameters as exc:
        problems = problems + exc.errors
    except InvalidJobRequest as exc:
        problems = problems + [(_field_of(exc), str(exc))]
    if problems:
        raise InvalidSchedule(problems)
    return target, params, format


def _actor():
    """Who acts, for reasons and history: a user id, or the user's name for
    Zope's system user (the command line)."""
    user = getSecurityManager().getUser()
    return user.getId() or user.getUserName()


def _field_of(exc):
    if isinstance(exc, UnknownReport):
        return "report"
    if isinstance(exc, InvalidPath):
        return "path"
    return "format" if "format" in str(exc) else "report"


class _as_owner:
    """Run a block as the schedule's owner; UnknownUser is InvalidSchedule."""

    def __init__(self, queue, schedule):
        self.queue, self.schedule = queue, schedule

    def __enter__(self):
        try:
            owner = load_user(self.queue.getPhysicalRoot(), self.schedule.owner_folder,
                              self.schedule.owner_id)
        except UnknownUser as exc:
            raise InvalidSchedule([("owner", str(exc))]) from None
        self.before = getSecurityManager()
        newSecurityManager(None, owner)
        return owner

    def __exit__(self, *exc_info):
        setSecurityManager(self.before)

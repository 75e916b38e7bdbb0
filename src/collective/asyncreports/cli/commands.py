"""The ``asyncreports`` commands, each run on a booted Zope root: worker,
submit, jobs, show, health."""

import json
import sys
import time

import transaction
from AccessControl.SecurityManagement import newSecurityManager
from AccessControl.SecurityManagement import noSecurityManager
from Acquisition import aq_base
from zope.component.hooks import setSite

from collective.asyncreports.cli.health import queue_problems
from collective.asyncreports.errors import AsyncReportsError
from collective.asyncreports.interfaces import IAsyncReportQueue
from collective.asyncreports.locations import queue_paths
from collective.asyncreports.metrics import exposition_text
from collective.asyncreports.public_url import known_public_url
from collective.asyncreports.public_url import unknown_url_warning
from collective.asyncreports.rows import iso_time
from collective.asyncreports.rows import job_json
from collective.asyncreports.sites import nearest_site
from collective.asyncreports.worker.exit_codes import EXIT_OK
from collective.asyncreports.worker.exit_codes import EXIT_UNHEALTHY


def _params(pairs):
    params = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise AsyncReportsError(f"--param {pair!r}: expected NAME=VALUE")
        params[name.strip()] = value
    return params


def _find_queue(app, path):
    if path is None:
        paths = queue_paths(app._p_jar.root())
        if len(paths) != 1:
            found = ", ".join(paths) or "none"
            raise AsyncReportsError(f"choose a queue with --queue (queues: {found})")
        path = paths[0]
    try:
        queue = app.unrestrictedTraverse(path.lstrip("/"))
    except (AttributeError, KeyError, LookupError, TypeError) as exc:
        raise AsyncReportsError(f"no Async Report Queue at {path!r}") from exc
    # The queue itself, not something that acquires from it (/asyncreports/results).
    if not IAsyncReportQueue.providedBy(aq_base(queue)):
        raise AsyncReportsError(f"no Async Report Queue at {path!r}")
    # The site holding the queue (a Plone site) has local components: its
    # report types and settings are found only while it is the current site.
    setSite(nearest_site(queue))
    return queue


def _print_job(job, out):
    out.write(f"{job.id}  {job.state:<9} {job.report:<20} {job.path}  "
              f"owner={job.owner_id} attempts={job.attempts}/{job.max_attempts}\n")


def command_worker(app, args, out):
    from collective.asyncreports.worker.process import serve

    for path in args.queue or ():
        _find_queue(app, path)  # a queue that is not there: exit 2, not a traceback
    setSite(None)
    return serve(app._p_jar.db(), args)


# Imported by the commands that write, not at the top: they pull in the
# rendering (ReportLab), which the read-only commands never need and which
# is a fifth of their start-up (``python -X importtime``).


def command_submit(app, args, out):
    from collective.asyncreports.submission import submit_noted
    from collective.asyncreports.users import find_user

    queue = _find_queue(app, args.queue)
    user = find_user(queue, args.user)
    newSecurityManager(None, user)
    try:
        job, note = submit_noted(queue, args.report, args.path, _params(args.param),
                                 priority=args.priority, format=args.format)
        transaction.commit()
    finally:
        noSecurityManager()
    out.write(job.id + "\n")
    if note:  # an earlier job, not a new one: stdout still has just its id
        sys.stderr.write(note + "\n")
    return EXIT_OK


def command_jobs(app, args, out):
    queue = _find_queue(app, args.queue)
    jobs, total = queue.job_queue().list_jobs(
        state=args.state, owner=args.owner, size=args.limit)
    if args.json:
        json.dump([job_json(job, queue) for job in jobs], out, indent=2)
        out.write("\n")
    else:
        for job in jobs:
            _print_job(job, out)
        out.write(f"{len(jobs)} of {total} job(s)\n")
    return EXIT_OK


def command_show(app, args, out):
    queue = _find_queue(app, args.queue)
    job = queue.job_queue().get(args.job_id)
    data = job_json(job, queue)
    if args.json:
        json.dump(data, out, indent=2)
        out.write("\n")
    else:
        for name, value in data.items():
            if name != "history":
                out.write(f"{name:>16}: {value}\n")
        for event in job.history:
            out.write(f"{iso_time(event['time'])}  {event['event']:<10} "
                      f"{event.get('actor') or '-'}  {event.get('detail') or ''}\n")
    return EXIT_OK


def command_keep(app, args, out):
    """``keep JOB_ID [--off]``, as the CLI's trusted operator (a manager)."""
    from collective.asyncreports.actions import keep_job

    queue = _find_queue(app, args.queue)
    job = queue.job_queue().get(args.job_id)  # JobNotFound: exit 2, as for show
    newSecurityManager(None, _system_manager())
    try:
        sentence = keep_job(queue, job.id, keep=not args.off)
        transaction.commit()
    finally:
        noSecurityManager()
    out.write(sentence + "\n")
    return EXIT_OK


def command_metrics(app, args, out):
    paths = args.queue or queue_paths(app._p_jar.root())
    queues = [(path, _find_queue(app, path).job_queue()) for path in paths]
    text, _ = exposition_text(queues, openmetrics_format=args.openmetrics)
    out.write(text.decode("utf-8"))
    return EXIT_OK


def command_health(app, args, out):
    paths = args.queue or queue_paths(app._p_jar.root())
    problems = [] if paths else ["no queues: add an Async Report Queue"]
    warnings = []
    now = time.time()
    for path in paths:
        queue = _find_queue(app, path)
        problems += queue_problems(path, queue.job_queue(), now, args.max_wait, args.window)
        if known_public_url(queue) is None:
            # Wrong links are no outage: said, but health still passes.
            warnings.append(f"warning: queue {path}: {unknown_url_warning()}")
    for problem in problems:
        out.write(problem + "\n")
    if not problems:
        out.write(f"ok: {len(paths)} queue(s) served\n")
    for warning in warnings:
        out.write(warning + "\n")
    return EXIT_UNHEALTHY if problems else EXIT_OK


def command_schedule(app, args, out):
    """``schedule ACTION``: the queue's schedules, as the CLI's trusted operator
    (a manager); ``add`` makes one owned by ``--user``, after its checks as them."""
    from collective.asyncreports import scheduling
    from collective.asyncreports.users import find_user

    queue = _find_queue(app, args.queue)
    if args.schedule_command == "add":
        newSecurityManager(None, find_user(queue, args.user))
        try:
            schedule = scheduling.add(queue, args.report, args.path, _params(args.param),
                                      args.cron, args.timezone, format=args.format,
                                      missed=args.missed)
            transaction.commit()
        finally:
            noSecurityManager()
        out.write(schedule.id + "\n")
        return EXIT_OK
    newSecurityManager(None, _system_manager())
    try:
        if args.schedule_command == "list":
            return _list_schedules(queue, args, out)
        if args.schedule_command == "run-now":
            job = scheduling.run_now(queue, args.schedule_id)
            transaction.commit()
            out.write(job.id + "\n")
            return EXIT_OK
        change = {"pause": scheduling.pause, "resume": scheduling.resume,
                  "remove": scheduling.remove}[args.schedule_command]
        schedule = change(queue, args.schedule_id)
        transaction.commit()
    finally:
        noSecurityManager()
    out.write(f"{args.schedule_command}: {schedule.id}\n")
    return EXIT_OK


def _list_schedules(queue, args, out):
    from collective.asyncreports import scheduling

    schedules = scheduling.listing(queue)
    if args.json:
        json.dump([scheduling.schedule_json(schedule) for schedule in schedules], out, indent=2)
        out.write("\n")
        return EXIT_OK
    for schedule in schedules:
        state = "enabled" if schedule.enabled else f"paused ({schedule.paused_reason})"
        out.write(f"{schedule.id}  {schedule.report:<20} {schedule.path}  "
                  f"owner={schedule.owner_id} cron='{schedule.cron}' {schedule.timezone}  "
                  f"next={iso_time(schedule.next_run) or '-'} "
                  f"last={schedule.last_job_id or '-'}  {state}\n")
    out.write(f"{len(schedules)} schedule(s)\n")
    return EXIT_OK


def _system_manager():
    """The CLI runs as the instance's operator: Zope's system user, a manager."""
    from AccessControl.users import system
    return system


COMMANDS = {
    "worker": command_worker,
    "submit": command_submit,
    "jobs": command_jobs,
    "show": command_show,
    "keep": command_keep,
    "health": command_health,
    "metrics": command_metrics,
    "schedule": command_schedule,
}

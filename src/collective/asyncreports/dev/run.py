"""``make run`` (start everything, stop it all in order) and ``make stop``."""

import os
import signal
import time

from collective.asyncreports.dev import postgresql
from collective.asyncreports.dev.bootstrap import ADMIN
from collective.asyncreports.dev.bootstrap import EDITOR
from collective.asyncreports.dev.bootstrap import PLONE_ID
from collective.asyncreports.dev.bootstrap import QUEUE_ID
from collective.asyncreports.dev.bootstrap import plone_installed
from collective.asyncreports.dev.processes import LAUNCHER_STOP_SECONDS
from collective.asyncreports.dev.processes import STOP_ORDER
from collective.asyncreports.dev.processes import STOP_SIGNALS
from collective.asyncreports.dev.processes import WORKER_STOP_SECONDS
from collective.asyncreports.dev.processes import is_worker
from collective.asyncreports.worker.host import pid_alive


def stop_background_run(instance):
    """``make stop``: signal the launcher recorded in var/run.pids, once.

    The launcher stops its children in order (see ``Instance.stop_all``); a
    second signal to a worker would make it stop at once, before it handed
    its jobs back. Children left by a launcher that died are stopped here,
    in the same order.
    """
    pids_file = instance.var / "run.pids"
    if not pids_file.exists():
        print("nothing to stop (no var/run.pids)")
        return 0
    entries = _read_pids(pids_file)
    launcher = entries[0][0] if entries and entries[0][1] == "launcher" else None
    if launcher is not None and pid_alive(launcher):
        os.kill(launcher, signal.SIGTERM)
        print(f"stopping (workers, then Zope, then the database; up to "
              f"{LAUNCHER_STOP_SECONDS}s)",
              flush=True)
        _wait_for_exit(launcher, LAUNCHER_STOP_SECONDS)
    children = sorted((entry for entry in entries if entry[1] != "launcher"),
                      key=lambda entry: STOP_ORDER.get(entry[1], 0))
    for pid, name in children:
        if pid_alive(pid):
            os.kill(pid, STOP_SIGNALS.get(name, signal.SIGTERM))
            _wait_for_exit(pid, WORKER_STOP_SECONDS if is_worker(name) else 30)
    pids_file.unlink(missing_ok=True)
    print("stopped")
    return 0


def _read_pids(path):
    """[(pid, name)] from var/run.pids ("PID NAME" lines; an old file has PIDs
    alone, the launcher first)."""
    entries = []
    for number, line in enumerate(path.read_text().splitlines()):
        pid, _, name = line.strip().partition(" ")
        if pid.isdigit():
            entries.append((int(pid), name or ("launcher" if number == 0 else "worker")))
    return entries


def _wait_for_exit(pid, timeout):
    """Wait for ``pid`` to exit; SIGKILL it after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and pid_alive(pid):
        time.sleep(0.2)
    if pid_alive(pid):
        print(f"process {pid} did not stop in {timeout}s: killing it", flush=True)
        os.kill(pid, signal.SIGKILL)


def run(instance, grace=None, plone=None):
    """``make run``: start everything, print where it is, stop it all on Ctrl-C.

    ``grace`` is the worker's ``--grace``; ``plone=False`` makes no Plone site
    even when Plone is installed.
    """
    instance.write_configuration()
    password = instance.admin_password()
    plone = plone_installed() if plone is None else plone

    def handle(signum, frame):
        # From now on further signals only say what happens: stopping in
        # order must not be cut short (see Instance.stop_all).
        signal.signal(signal.SIGTERM, stopping)
        signal.signal(signal.SIGINT, stopping)
        raise KeyboardInterrupt

    def stopping(signum, frame):
        print("stopping in order: workers, then Zope, then the database; please wait",
              flush=True)

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
    worker_timeout = WORKER_STOP_SECONDS
    try:
        instance.start_database()
        # No --password: bootstrap reads the same file, and a generated one may
        # start with "-", which the command line would take for an option.
        instance.bootstrap(*(["--plone"] if plone else []))
        instance.start_zope()
        instance.start_worker(*(["--grace", grace] if grace is not None else []))
        worker_timeout = (grace or 30) + WORKER_STOP_SECONDS - 30
        plone_lines = ""
        if plone:
            plone_lines = (
                f"  Plone:      {instance.url}/{PLONE_ID} (Site Setup > Async reports)\n"
                f"  Editor:     {EDITOR} / {instance.editor_password()}\n"
            )
        print(f"""
collective.asyncreports is running (Ctrl-C or `make stop` stops it all)
  ZMI:        {instance.url}/manage_main
  Queue:      {instance.url}/{QUEUE_ID}/manage_queue
  Login:      {ADMIN} / {password}
{plone_lines}  {instance.describe_database()}
  Logs:       {instance.var}/log/
""", flush=True)
        while all(p.poll() is None for p in instance.processes):
            time.sleep(0.5)
        dead = [p.name for p in instance.processes if p.poll() is not None]
        print(f"{', '.join(dead)} exited; stopping everything (see var/log)", flush=True)
        return 1
    except KeyboardInterrupt:
        return 0
    except postgresql.Unavailable as exc:
        print(f"cannot start PostgreSQL: {exc}", flush=True)
        return 1
    finally:
        signal.signal(signal.SIGTERM, stopping)
        signal.signal(signal.SIGINT, stopping)
        instance.stop_all(worker_timeout)
        (instance.var / "run.pids").unlink(missing_ok=True)
        print("stopped", flush=True)

"""A real system for process-level tests: database server, queue, worker processes.

The database is a ZEO server, or with ``STORAGE=postgresql`` in the environment
(``make test STORAGE=postgresql``) RelStorage on a PostgreSQL server that the
system starts and stops by PID. The test process talks to the same database
through a connection of its own, so it sees exactly what the workers committed.
"""

import io
import os
import shutil
import signal
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import pypdf
import transaction

from collective.asyncreports.dev import postgresql
from collective.asyncreports.dev.processes import STORAGES
from collective.asyncreports.dev.processes import Instance
from collective.asyncreports.dev.processes import free_port
from collective.asyncreports.dev.processes import kill_server


ADDONS = Path(__file__).parent / "addons"
QUEUE = "/asyncreports"
# The storage of every system the tests start: zeo (default) or postgresql.
STORAGE = os.environ.get("STORAGE") or "zeo"
if STORAGE not in STORAGES:
    raise ValueError(f"STORAGE={STORAGE} is not one of {', '.join(STORAGES)}")


def storage_unavailable():
    """Why the tests' storage cannot run here (None when it can): PostgreSQL's
    server programs or the [postgresql] extra missing."""
    if STORAGE != "postgresql":
        return None
    try:
        import psycopg2  # noqa: F401
        import relstorage  # noqa: F401
    except ImportError as exc:
        return (f"STORAGE=postgresql needs the [postgresql] extra ({exc}): "
                "make install STORAGE=postgresql")
    try:
        postgresql.bindir()
        postgresql.server_user()
    except postgresql.Unavailable as exc:
        return str(exc)
    return None


_printed = set()


def skip_unless_storage():
    """Raise unittest.SkipTest when the tests' storage cannot run here; the
    reason is printed (once), so a run that skips them says why."""
    import unittest

    reason = storage_unavailable()
    if reason:
        if reason not in _printed:
            _printed.add(reason)
            print(f"\n  the {STORAGE} system tests skip: {reason}", flush=True)
        raise unittest.SkipTest(reason)


def zeo_only(reason):
    """A class or test decorator: skip under another storage, saying why (printed too)."""
    import unittest

    if STORAGE == "zeo":
        return lambda thing: thing
    message = f"ZEO only ({reason}); STORAGE={STORAGE}"
    print(f"\n  {message}", flush=True)
    return unittest.skip(message)


def instance_options(**options):
    """Instance keyword arguments for a test system on the tests' storage."""
    options.setdefault("storage", STORAGE)
    # A test's server dies with its processes, not with the machine: no fsync.
    options.setdefault("durable", False)
    return options


def started_instance(home, bootstrap_args, prepare=None, **options):
    """An Instance in ``home``, running: ZEO server, ``bootstrap``, then
    ``prepare(app)`` committed over a ZEO connection of our own, then Zope.

    If any step fails, everything started is stopped and ``home`` removed.
    """
    instance = Instance(home, free_port(), free_port(), **instance_options(**options))
    try:
        instance.write_configuration()
        instance.start_database()
        instance.bootstrap(*bootstrap_args)
        if prepare is not None:
            write_over_zeo(instance, prepare)
        instance.start_zope()
    except BaseException:
        discard(instance)
        raise
    return instance


def discard(instance):
    """Stop every process of ``instance`` by PID and remove its home."""
    instance.stop_all()
    shutil.rmtree(instance.home, ignore_errors=True)


def write_over_zeo(instance, step):
    """Run ``step(app)`` and commit, over a database connection of our own (ZEO's
    or RelStorage's: the name is older than STORAGE)."""
    db = instance.open_db()
    try:
        with db.transaction() as connection:
            step(connection.root()["Application"])
    finally:
        transaction.abort()  # OFS adds may take savepoints of the thread's transaction
        db.close()


def pdf_text(data):
    """The text of a PDF, page after page (pypdf)."""
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(data)).pages)


def wait_for(predicate, timeout=60, what="condition"):
    """Poll ``predicate`` until it returns something true; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@contextmanager
def queue_in(db, path=QUEUE):
    """The queue at ``path`` in ``db``, in a fresh transaction, committed on success."""
    manager = transaction.TransactionManager()
    connection = db.open(transaction_manager=manager)
    try:
        with manager:
            yield connection.root()["Application"].unrestrictedTraverse(path.lstrip("/"))
    finally:
        connection.close()


class System:
    """Database server (ZEO, or PostgreSQL with STORAGE=postgresql) + /asyncreports
    queue (with test report types), stopped by PID."""

    def __init__(self, lease_seconds=2, max_attempts=3, cache_size=10000, addons=()):
        """``addons``: more test add-ons of tests/addons/ to load, by package name.

        Raises unittest.SkipTest (in a setUp: the test skips) when the storage
        cannot run here."""
        skip_unless_storage()
        self.home = Path(tempfile.mkdtemp(prefix="asyncreports-sys-"))
        self.instance = Instance(
            self.home, free_port(), free_port(), extra_packages=["faultreports", *addons],
            env={"PYTHONPATH": str(ADDONS)}, **instance_options(cache_size=cache_size))
        self.workers = []
        self.db = None
        try:
            self.instance.write_configuration()
            self.instance.start_database()
            self.instance.bootstrap("--password", "admin-password")
            self.db = self.instance.open_db()
            with self.queue() as queue:
                jobs = queue.job_queue()
                jobs.lease_seconds = lease_seconds
                jobs.max_attempts = max_attempts
                jobs.backoff_seconds = 0
                jobs.backoff_max = 0
        except BaseException:
            self.close()
            raise

    def close(self):
        for worker in list(self.workers):
            self.stop_worker(worker, sig=signal.SIGKILL)
        if self.db is not None:
            self.db.close()
        discard(self.instance)

    # -- looking at the database ---------------------------------------------------

    def queue(self):
        """The queue object in a fresh transaction, committed on success."""
        return queue_in(self.db)

    def write(self, step, attempts=5):
        """Run ``step(queue)`` in a transaction of its own and commit it, again
        on a conflict with the workers' commits (as any ZEO client must)."""
        manager = transaction.TransactionManager()
        connection = self.db.open(transaction_manager=manager)
        try:
            for attempt in manager.attempts(attempts):
                with attempt:
                    result = step(connection.root()["Application"].unrestrictedTraverse(
                        QUEUE.lstrip("/")))
            return result
        finally:
            connection.close()

    def submit(self, report, params=None, owner="admin", path="/", **options):
        """Enqueue directly (as a web request would) and return the job id."""
        with self.queue() as queue:
            job = queue.job_queue().enqueue(
                report, path, params or {}, owner_id=owner, queue_path=QUEUE, **options)
            return job.id

    def job(self, job_id):
        with self.queue() as queue:
            return queue.job_queue().get(job_id).as_dict()

    def stored_data(self, path):
        """The bytes of a stored result or error log, by its physical path."""
        with self.queue() as queue:
            return bytes(queue.getPhysicalRoot().unrestrictedTraverse(path.lstrip("/")).data)

    def states(self):
        with self.queue() as queue:
            return queue.job_queue().stats()

    def result_ids(self):
        with self.queue() as queue:
            return list(queue.results.objectIds())

    def wait_for(self, predicate, timeout=60, what="condition"):
        return wait_for(predicate, timeout, what)

    def wait_for_state(self, job_id, *states, timeout=60):
        return self.wait_for(
            lambda: (job := self.job(job_id))["state"] in states and job,
            timeout, f"job {job_id} to be {'/'.join(states)}")

    # -- processes -------------------------------------------------------------------

    def start_worker(self, *args, name=None, env=None):
        name = name or f"worker{len(self.workers) + 1}"
        worker = self.instance.start_worker(
            "--poll-interval", "0.5", *args, name=name, env=env)
        worker.log = self.home / "var" / "log" / f"{name}.out"
        self.workers.append(worker)
        return worker

    def signal_worker(self, worker, sig):
        """Send ``sig`` to a worker by PID (its process group), without waiting."""
        if worker.poll() is None:
            try:
                os.killpg(worker.pid, sig)
            except ProcessLookupError:
                pass

    def stop_worker(self, worker, sig=signal.SIGTERM, timeout=60):
        """Signal a worker by PID and wait for it; return its exit code."""
        self.signal_worker(worker, sig)
        if worker.poll() is None:
            worker.wait(timeout)
        if worker in self.workers:
            self.workers.remove(worker)
        self.instance.stop(worker)
        return worker.returncode

    def worker_log(self, worker):
        return worker.log.read_text() if worker.log.exists() else ""

    def wait_for_log(self, worker, text, timeout=60):
        return self.wait_for(lambda: text in self.worker_log(worker), timeout,
                             f"{text!r} in {worker.name}'s log")

    def kill_zeo(self):
        """Kill the database server (SIGKILL), ZEO's or PostgreSQL's with all its
        processes, as a crash of its machine would."""
        server = next(p for p in self.instance.processes
                      if p.name == self.instance.database_name)
        if not kill_server(server):
            raise AssertionError("the database server's processes did not exit in 30s")
        self.instance.processes.remove(server)

    kill_database = kill_zeo

    def restart_zeo(self, down_seconds=0.0):
        """Kill the database server and start it again after ``down_seconds``."""
        self.kill_zeo()
        time.sleep(down_seconds)
        self.instance.start_database()

    restart_database = restart_zeo

"""RelStorage's lost database connections are transient errors, as ZEO's are.

A ZEO client whose server is away raises ``ClientDisconnected``, a
``TransientError``: the worker and the publisher retry the step, and a job
whose report met it runs again. RelStorage raises its driver's own errors
instead (``psycopg2.OperationalError: server closed the connection
unexpectedly``, "Connection refused" while PostgreSQL restarts), which
``transaction`` and the worker take for bugs: a report failed for good, a
heartbeat thread dead. Here every storage method that ZODB calls re-raises
those errors as ``DatabaseUnavailable``, a ``TransientError`` (and still the
driver's error as its ``__cause__``). RelStorage reconnects on the next call.

Applied in every process that loads this package, like ``zeo_oids``.
"""

import importlib.abc
import importlib.util
import sys
import threading
import time
from contextlib import contextmanager
from functools import wraps

from transaction.interfaces import TransientError


# Seconds between tries to open a RelStorage whose database is away.
OPEN_RETRY_SECONDS = 2.0
# The module whose import applies the patch.
TARGET = "relstorage.storage"
# What ZODB's Connection, DB and blobs call on a storage: RelStorage's own methods,
# and those it copies from its loaders and storers into each storage instance.
STORAGE_METHODS = (
    "poll_invalidations", "sync", "new_oid", "tpc_begin", "checkCurrentSerialInTransaction",
    "tpc_vote", "tpc_finish", "lastTransaction", "afterCompletion",
)
DELEGATE_METHODS = {
    "relstorage.storage.load": {"Loader": ("load", "prefetch", "loadSerial", "loadBefore",
                                           "getTid"),
                                "BlobLoader": ("loadBlob", "openCommittedBlobFile")},
    "relstorage.storage.store": {"Storer": ("store", "restore", "deleteObject"),
                                 "BlobStorer": ("storeBlob", "restoreBlob")},
}


class DatabaseUnavailable(TransientError):
    """The relational database did not answer (it is restarting, or the network is
    down); the step may be tried again."""


def disconnected_errors():
    """The driver errors that mean the connection is gone (RelStorage's own list
    for its PostgreSQL drivers: OperationalError and InterfaceError)."""
    errors = []
    try:
        import psycopg2
    except ImportError:
        pass
    else:
        errors += [psycopg2.OperationalError, psycopg2.InterfaceError]
    from relstorage.adapters.interfaces import ReplicaClosedException

    return tuple(errors) + (ReplicaClosedException,)


# While a process starts (worker.boot), a call waits for the database instead
# of failing: Zope's startup opens connections, and it cannot be run again.
_waiting = threading.local()


@contextmanager
def waiting_for_the_database():
    """Within this block (in this thread), storage calls wait while the database
    is away, as a ZEO client waits for its server."""
    _waiting.on = True
    try:
        yield
    finally:
        _waiting.on = False


def _until_available(method, errors, waits):
    """``method``, waiting while the database is away when ``waits()`` says so,
    else raising its disconnects as DatabaseUnavailable."""
    @wraps(method)  # also copies RelStorage's markers (storage_method, phase_dependent)
    def call(*args, **kwargs):
        announced = False
        while True:
            try:
                return method(*args, **kwargs)
            except errors as exc:
                if not waits():
                    raise DatabaseUnavailable(f"{type(exc).__name__}: {exc}".strip()) from exc
                if not announced:
                    _announce(exc)
                    announced = True
                time.sleep(OPEN_RETRY_SECONDS)

    call.disconnects_are_transient = True
    return call


def _transient(method, errors):
    """A storage method: it waits only within waiting_for_the_database()."""
    return _until_available(method, errors, waits=lambda: getattr(_waiting, "on", False))


def _patch(cls, names, errors):
    from relstorage.storage.util import stale_aware

    for name in names:
        method = cls.__dict__.get(name)
        if isinstance(method, stale_aware):  # a descriptor: wrap the function it binds
            if not getattr(method._func, "disconnects_are_transient", False):
                method._func = _transient(method._func, errors)
        elif method is not None and not getattr(method, "disconnects_are_transient", False):
            setattr(cls, name, _transient(method, errors))


def _announce(exc):
    from collective.asyncreports import logger

    text = str(exc).strip()
    logger.warning("the database is not available (%s: %s); waiting, retrying every %ss",
                   type(exc).__name__, text.splitlines()[0] if text else "",
                   OPEN_RETRY_SECONDS)


def _waiting_open(open_storage, errors):
    """RelStorageFactory.open that waits while the database is away, as a ZEO
    client waits for its server: a process that starts during an outage (or
    whose database goes away while it starts) serves once it is back."""
    return _until_available(open_storage, errors, waits=lambda: True)


def _patch_config():
    from relstorage.config import RelStorageFactory

    if not getattr(RelStorageFactory.open, "disconnects_are_transient", False):
        RelStorageFactory.open = _waiting_open(RelStorageFactory.open, disconnected_errors())


def _patch_relstorage():
    import importlib

    from relstorage.storage import RelStorage

    errors = disconnected_errors()
    _patch(RelStorage, STORAGE_METHODS, errors)
    for module_name, classes in DELEGATE_METHODS.items():
        module = importlib.import_module(module_name)
        for class_name, names in classes.items():
            _patch(getattr(module, class_name), names, errors)


# Module -> its patch, applied once the module is imported (relstorage.config
# imports relstorage.storage first).
PATCHES = {TARGET: _patch_relstorage, "relstorage.config": _patch_config}


class _PatchOnImport(importlib.abc.MetaPathFinder):
    """Patches RelStorage when something imports it: importing it here would
    add a third of a second to every process of a ZEO site that has it installed."""

    def __init__(self):
        self.pending = dict(PATCHES)

    def find_spec(self, name, path, target=None):
        if name not in self.pending:
            return None
        patch = self.pending.pop(name)
        if not self.pending:
            sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module

        def exec_and_patch(module):
            exec_module(module)
            patch()

        spec.loader.exec_module = exec_and_patch
        return spec


def apply():
    """Patch RelStorage's classes once, now or when it is imported; a no-op without
    RelStorage (ZEO sites)."""
    if all(name in sys.modules for name in PATCHES):
        for patch in PATCHES.values():
            patch()
    elif importlib.util.find_spec("relstorage") is not None and not any(
            isinstance(finder, _PatchOnImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _PatchOnImport())

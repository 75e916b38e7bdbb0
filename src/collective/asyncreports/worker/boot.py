"""Booting Zope from zope.conf in a script, the way zconsole does, ZEO-aware."""

import socket
import time
from pathlib import Path

from collective.asyncreports import logger
from collective.asyncreports.errors import ConfigurationError


def check_config_file(zope_conf):
    """Return the absolute path of a readable zope.conf or raise ConfigurationError."""
    path = Path(zope_conf).expanduser().resolve()
    if not path.is_file():
        raise ConfigurationError(f"zope.conf not found: {path}")
    try:
        path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"cannot read {path}: {exc.strerror}") from exc
    return path


def load_options(zope_conf):
    """zope.conf read as Zope reads it (ZopeWSGIOptions), or ConfigurationError."""
    from Zope2.Startup.options import ZopeWSGIOptions

    try:
        return ZopeWSGIOptions(configfile=str(zope_conf))()
    except Exception as exc:  # ZConfig raises several unrelated types
        raise ConfigurationError(f"{zope_conf} is not a valid zope.conf: {exc}") from exc


def zeo_addresses(zope_conf, opts=None):
    """The (host, port) ZEO server addresses that zope.conf's databases use
    (``opts``: zope.conf already read by ``load_options``)."""
    opts = load_options(zope_conf) if opts is None else opts
    addresses = []
    for database in opts.configroot.databases or ():
        storage = database.config.storage.config
        for address in getattr(storage, "server", None) or ():
            if isinstance(address.address, tuple):
                addresses.append(address.address)
    return addresses


# Storages one process opens alone (the file is locked): the web instance
# holds them, so a worker cannot share them.
UNSHARED_STORAGES = ("filestorage",)


def share_storages(configroot, zope_conf):
    """Make zope.conf's databases fit for a process beside the web instance.

    A ZEO client's persistent cache (its ``client`` name) is a file only
    one process may open: the instance has it, so ours has none (ZEO then
    keeps its cache in a temporary file). A FileStorage cannot be shared at
    all: say so (ConfigurationError) instead of failing on its lock.
    """
    for database in configroot.databases or ():
        storage = database.config.storage.config
        kind = storage.getSectionType()
        if kind in UNSHARED_STORAGES:
            mount = ", ".join(database.config.mount_points or ()) or database.name
            raise ConfigurationError(
                f"{zope_conf}: the database at {mount} is a {kind}, which only one process "
                "may open; workers and the asyncreports command need a shared storage: "
                "ZEO (<zeoclient>) or RelStorage")
        if kind == "zeoclient" and getattr(storage, "client", None):
            storage.client = None


def wait_for_zeo(addresses, interval=2.0, timeout=None):
    """Block until every ZEO address accepts TCP connections, logging while waiting.

    Raises ConfigurationError after ``timeout`` seconds (None waits for ever).
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    for host, port in addresses:
        announced = False
        while True:
            try:
                socket.create_connection((host, port), timeout=interval).close()
                break
            except OSError as exc:
                if deadline is not None and time.monotonic() > deadline:
                    raise ConfigurationError(
                        f"ZEO server {host}:{port} unreachable: {exc.strerror or exc}"
                    ) from exc
                if not announced:
                    logger.warning(
                        "ZEO server %s:%s is not reachable (%s); waiting, retrying every %ss",
                        host, port, exc.strerror or exc, interval,
                    )
                    announced = True
                time.sleep(interval)
        if announced:
            logger.info("ZEO server %s:%s is up", host, port)


def postgresql_dsns(opts):
    """The libpq DSNs of zope.conf's RelStorage databases on PostgreSQL."""
    dsns = []
    for database in opts.configroot.databases or ():
        storage = database.config.storage.config
        adapter = getattr(storage, "adapter", None)
        if storage.getSectionType() == "relstorage" and adapter is not None and \
                adapter.config.getSectionType() == "postgresql":
            dsns.append(adapter.config.dsn)
    return dsns


def wait_for_postgresql(dsns, interval=2.0, timeout=None):
    """Block until every DSN accepts a connection, logging while waiting (as
    wait_for_zeo does: Zope's startup opens the database and would fail).

    Raises ConfigurationError after ``timeout`` seconds (None waits for ever).
    """
    if not dsns:
        return
    import psycopg2

    deadline = None if timeout is None else time.monotonic() + timeout
    for dsn in dsns:
        announced = False
        while True:
            try:
                psycopg2.connect(dsn, connect_timeout=max(1, int(interval))).close()
                break
            except psycopg2.OperationalError as exc:
                reason = str(exc).strip().splitlines()[0] if str(exc).strip() else exc
                if deadline is not None and time.monotonic() > deadline:
                    raise ConfigurationError(f"PostgreSQL unreachable: {reason}") from exc
                if not announced:
                    logger.warning("PostgreSQL is not reachable (%s); waiting, retrying "
                                   "every %ss", reason, interval)
                    announced = True
                time.sleep(interval)
        if announced:
            logger.info("PostgreSQL is up")


def _configure(zope_conf, zeo_timeout):
    """zope.conf read, its databases made shareable, its ZEO servers (or
    PostgreSQL) up, and
    Zope's configuration set from it (what make_wsgi_app does before startup)."""
    from App.config import setConfiguration
    from Zope2.Startup.handlers import handleWSGIConfig

    path = check_config_file(zope_conf)
    opts = load_options(path)
    share_storages(opts.configroot, path)
    wait_for_zeo(zeo_addresses(path, opts), timeout=zeo_timeout)
    wait_for_postgresql(postgresql_dsns(opts), timeout=zeo_timeout)
    handleWSGIConfig(opts.configroot, opts.confighandlers)
    setConfiguration(opts.configroot)
    return path, opts


def boot(zope_conf, zeo_timeout=None):
    """Configure Zope from ``zope_conf`` and return the root application object.

    Waits for the ZEO server first, so a worker started before its server
    comes up cleanly instead of failing after the client's wait timeout.
    The databases are opened as ``share_storages`` leaves them: the
    instance's own zope.conf works while the instance runs.
    """
    from zc.lockfile import LockError
    from Zope2.Startup import get_wsgi_starter

    path, opts = _configure(zope_conf, zeo_timeout)
    # What Zope2.Startup.run.make_wsgi_app does, with our databases.
    starter = get_wsgi_starter()
    starter.setConfiguration(opts.configroot)
    from collective.asyncreports.relstorage_errors import waiting_for_the_database

    try:
        with waiting_for_the_database():  # RelStorage's: startup cannot run again
            starter.prepare()
    except LockError as exc:
        raise _locked(path, exc) from exc
    import Zope2

    return Zope2.app()


def open_root(zope_conf, zeo_timeout=None):
    """The root application object of zope.conf's main database, opened
    without starting Zope: for commands that only read a queue.

    Starting Zope loads every package's ZCML (with Plone, about 3 s of the
    2.5-4 s a command took, two thirds of it imports). Reading jobs needs
    none of it: the queue, its jobs and the objects on the way there are
    plain persistent objects whose classes are imported as they are loaded,
    and the commands that use this look nothing up in the component
    registry but the site's own (persistent) one. Who may run them is
    unchanged: whoever can read zope.conf, the same as with ``boot``.
    """
    from zc.lockfile import LockError

    path, opts = _configure(zope_conf, zeo_timeout)
    try:
        # The database Zope2.App.startup opens, from the same table.
        db = opts.configroot.dbtab.getDatabase("/", is_root=1)
    except LockError as exc:
        raise _locked(path, exc) from exc
    return db.open().root()["Application"]


def _locked(path, exc):
    return ConfigurationError(
        f"{path}: a storage is locked by another process ({exc}); workers and the "
        "asyncreports command need a shared storage: ZEO or RelStorage")

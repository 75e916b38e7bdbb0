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


def zeo_addresses(zope_conf):
    """The (host, port) ZEO server addresses that zope.conf's databases use."""
    from Zope2.Startup.options import ZopeWSGIOptions

    try:
        opts = ZopeWSGIOptions(configfile=str(zope_conf))()
    except Exception as exc:  # ZConfig raises several unrelated types
        raise ConfigurationError(f"{zope_conf} is not a valid zope.conf: {exc}") from exc
    addresses = []
    for database in opts.configroot.databases or ():
        storage = database.config.storage.config
        for address in getattr(storage, "server", None) or ():
            if isinstance(address.address, tuple):
                addresses.append(address.address)
    return addresses


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


def boot(zope_conf, zeo_timeout=None):
    """Configure Zope from ``zope_conf`` and return the root application object.

    Waits for the ZEO server first, so a worker started before its server
    comes up cleanly instead of failing after the client's wait timeout.
    """
    path = check_config_file(zope_conf)
    wait_for_zeo(zeo_addresses(path), timeout=zeo_timeout)
    from Zope2.Startup.run import make_wsgi_app

    make_wsgi_app({}, str(path))
    import Zope2

    return Zope2.app()

"""The PostgreSQL wake source: a worker LISTENs on a connection of its own.

The transactions that make a job due send NOTIFY (``notices``, where the
delivery guarantee is explained); this is the receiving end.
"""

import os
import select
import threading
import time

from zope.interface import implementer

from collective.asyncreports import logger
from collective.asyncreports.interfaces import IWakeSource
from collective.asyncreports.wakeup.notices import CHANNEL


# The LISTEN connection's options. TCP keepalives: a peer that vanished
# without a word (a host down, a firewall's dropped state) is noticed within
# a minute, and the worker falls back on polling and connects again.
# Keepalive probes are no queries: an idle worker still sends none.
CONNECT_OPTIONS = {"application_name": "asyncreports-listen", "connect_timeout": 10,
                   "keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10,
                   "keepalives_count": 3}

# After losing its LISTEN connection a worker tries again at most this often.
RECONNECT_SECONDS = 5.0


def listen(dsn):
    """A new autocommit psycopg2 connection that LISTENs on ``CHANNEL``."""
    import psycopg2

    connection = psycopg2.connect(dsn, **CONNECT_OPTIONS)
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(f"LISTEN {CHANNEL}")
    return connection


@implementer(IWakeSource)
class NotifyWake:
    """Wakes on NOTIFY, LISTENing on a connection of its own.

    When that connection breaks, the worker sleeps out its poll interval
    (the fallback) and ``arm()`` connects again, at most every
    ``RECONNECT_SECONDS``. Commits made while it was away are seen by the
    look at the queue that follows ``arm()``.
    """

    def __init__(self, dsn, connect=listen, reconnect_seconds=RECONNECT_SECONDS):
        self.dsn = dsn
        self.connect = connect
        self.reconnect_seconds = reconnect_seconds
        self.connection = None
        self.retry_at = 0.0  # monotonic time before which no new connection is tried
        self.lost = False  # the connection broke: say so when it is back
        self.woken = False  # a notification came since arm()
        self.interrupted = threading.Event()
        self._pipe = os.pipe()  # interrupt() writes a byte to end a select()
        for end in self._pipe:
            os.set_blocking(end, False)

    def arm(self):
        if self.connection is None and time.monotonic() >= self.retry_at:
            self._connect()
        self._receive()  # what came before is seen by the look that follows
        self.woken = False

    def wait(self, timeout):
        deadline = time.monotonic() + timeout
        while not self.woken and not self.interrupted.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            watched = [self._pipe[0]] + ([self.connection] if self.connection else [])
            readable, _, _ = select.select(watched, [], [], remaining)
            if self.connection is not None and self.connection in readable:
                self._receive()
        return self.woken and not self.interrupted.is_set()

    def interrupt(self):
        self.interrupted.set()
        try:
            os.write(self._pipe[1], b"x")
        except OSError:  # the pipe is full or closed: it is woken already
            pass

    def close(self):
        self._drop()
        for end in self._pipe:
            os.close(end)

    def _connect(self):
        try:
            self.connection = self.connect(self.dsn)
        except Exception as exc:  # psycopg2.Error, OSError: the database is away
            self.retry_at = time.monotonic() + self.reconnect_seconds
            if not self.lost:
                logger.warning("cannot LISTEN for new jobs (%s); polling until it works",
                               _first_line(exc))
            self.lost = True
            return
        if self.lost:
            logger.info("listening for new jobs again")
        self.lost = False

    def _receive(self):
        """Take the notifications that arrived; a broken connection is dropped."""
        if self.connection is None:
            return
        try:
            self.connection.poll()
        except Exception as exc:  # the backend was terminated, the server restarted...
            logger.warning("LISTEN connection lost (%s); polling until it is back",
                           _first_line(exc))
            self.lost = True
            self.retry_at = time.monotonic() + self.reconnect_seconds
            self._drop()
            return
        if self.connection.notifies:
            self.connection.notifies.clear()
            self.woken = True

    def _drop(self):
        if self.connection is not None:
            try:
                self.connection.close()
            except Exception:
                pass
            self.connection = None


def _first_line(exc):
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]

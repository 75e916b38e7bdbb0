"""Wake sources without a database server: waits, interrupts, a LISTEN
connection that breaks (tests/system/test_wakeup.py has the real ones)."""

import os
import threading
import time
import unittest
from types import SimpleNamespace

from zope.interface.verify import verifyClass

from collective.asyncreports.interfaces import IWakeSource
from collective.asyncreports.wakeup.invalidations import Announcer
from collective.asyncreports.wakeup.invalidations import InvalidationWake
from collective.asyncreports.wakeup.postgresql import NotifyWake


class FakeListen:
    """A LISTEN connection: readable when a byte is in its pipe."""

    def __init__(self, broken=False):
        self.read_end, self.write_end = os.pipe()
        os.set_blocking(self.read_end, False)
        self.notifies = []
        self.broken = broken
        self.closed = False

    def fileno(self):
        return self.read_end

    def notify(self):
        self.notifies.append(SimpleNamespace(channel="collective_asyncreports"))
        os.write(self.write_end, b"n")

    def poll(self):
        if self.broken:
            raise OSError("server closed the connection unexpectedly")
        try:
            os.read(self.read_end, 100)
        except BlockingIOError:
            pass

    def close(self):
        self.closed = True


class NotifyWakeTests(unittest.TestCase):
    def _makeOne(self, *connections):
        made = list(connections)

        def connect(dsn):
            if not made:
                raise OSError("could not connect to server")
            return made.pop(0)

        wake = NotifyWake("dbname=x", connect=connect, reconnect_seconds=0)
        self.addCleanup(wake.close)
        return wake

    def test_it_is_a_wake_source(self):
        verifyClass(IWakeSource, NotifyWake)

    def test_a_notification_ends_the_wait_at_once(self):
        connection = FakeListen()
        wake = self._makeOne(connection)
        wake.arm()
        threading.Timer(0.1, connection.notify).start()
        started = time.monotonic()
        self.assertTrue(wake.wait(10))
        self.assertLess(time.monotonic() - started, 2)

    def test_a_notification_before_arm_is_for_the_look_that_follows(self):
        connection = FakeListen()
        wake = self._makeOne(connection)
        wake.arm()
        connection.notify()
        wake.arm()
        self.assertFalse(wake.wait(0.2))

    def test_a_notification_between_arm_and_wait_ends_the_wait(self):
        connection = FakeListen()
        wake = self._makeOne(connection)
        wake.arm()
        connection.notify()
        self.assertTrue(wake.wait(10))

    def test_a_broken_connection_falls_back_on_the_timeout_and_connects_again(self):
        broken, fresh = FakeListen(), FakeListen()
        wake = self._makeOne(broken, fresh)
        wake.arm()
        broken.broken = True
        broken.notify()  # readable; poll() raises
        started = time.monotonic()
        with self.assertLogs("collective.asyncreports", "WARNING"):
            self.assertFalse(wake.wait(0.5))
        self.assertGreaterEqual(time.monotonic() - started, 0.45)
        self.assertTrue(broken.closed)
        with self.assertLogs("collective.asyncreports", "INFO") as logs:
            wake.arm()
        self.assertIn("listening for new jobs again", logs.output[0])
        fresh.notify()
        self.assertTrue(wake.wait(10))

    def test_no_database_waits_out_the_timeout(self):
        wake = self._makeOne()
        with self.assertLogs("collective.asyncreports", "WARNING"):
            wake.arm()
        started = time.monotonic()
        self.assertFalse(wake.wait(0.3))
        self.assertGreaterEqual(time.monotonic() - started, 0.25)

    def test_interrupt_ends_the_wait(self):
        wake = self._makeOne(FakeListen())
        wake.arm()
        threading.Timer(0.1, wake.interrupt).start()
        started = time.monotonic()
        self.assertFalse(wake.wait(10))
        self.assertLess(time.monotonic() - started, 2)


class InvalidationWakeTests(unittest.TestCase):
    def test_it_is_a_wake_source(self):
        verifyClass(IWakeSource, InvalidationWake)

    def test_a_commit_of_this_process_ends_the_wait(self):
        db = SimpleNamespace(storage=object(), last=b"1")
        db.lastTransaction = lambda: db.last
        wake = InvalidationWake(db, local_commits_seconds=0.01)
        wake.arm()
        threading.Timer(0.1, lambda: setattr(db, "last", b"2")).start()
        self.assertTrue(wake.wait(10))
        wake.arm()
        self.assertFalse(wake.wait(0.1))

    def test_the_announcer_passes_invalidations_on_before_it_wakes(self):
        seen = []
        wrapped = SimpleNamespace(invalidate=lambda tid, oids: seen.append((tid, oids)),
                                  invalidateCache=lambda: seen.append("cache"),
                                  references="references")
        announcer = Announcer(wrapped)
        woken = []

        def wait():
            with announcer.condition:
                announcer.condition.wait_for(lambda: announcer.count, 10)
                woken.append(list(seen))

        thread = threading.Thread(target=wait)
        thread.start()
        time.sleep(0.05)
        announcer.invalidate(b"tid", [b"oid"])
        thread.join(10)
        self.assertEqual(woken, [[(b"tid", [b"oid"])]])
        announcer.invalidateCache()
        self.assertEqual(announcer.count, 2)
        self.assertEqual(announcer.references, "references")

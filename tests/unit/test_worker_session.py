"""The worker's one retry helper and session, on a real in-memory ZODB: no Zope, no processes."""

import threading
import time
import unittest

import transaction
from persistent.mapping import PersistentMapping
from ZEO.Exceptions import ClientDisconnected
from ZODB import DB
from ZODB.POSException import ConflictError

from collective.asyncreports.worker.session import Backoff
from collective.asyncreports.worker.session import Session


class BackoffTests(unittest.TestCase):
    def test_pauses_double_with_jitter_up_to_the_cap(self):
        backoff = Backoff(0.1, cap=0.3)
        for retry, longest in [(1, 0.1), (2, 0.2), (3, 0.3), (4, 0.3), (10, 0.3)]:
            delays = {backoff.delay(retry) for _ in range(50)}
            self.assertTrue(all(longest / 2 <= d <= longest for d in delays), (retry, delays))
            self.assertGreater(len(delays), 1, "jittered")

    def test_no_backoff_retries_at_once(self):
        self.assertEqual({Backoff(0, 1).delay(n) for n in range(1, 6)}, {0})

    def test_tries_pause_between_tries_only(self):
        backoff = Backoff(0.02, cap=0.02)
        began = time.monotonic()
        tries = iter(backoff.tries(3))
        self.assertEqual(next(tries), 1)
        self.assertLess(time.monotonic() - began, 0.01)  # the first try: no pause
        self.assertEqual(list(tries), [2, 3])
        self.assertGreaterEqual(time.monotonic() - began, 0.02)  # two pauses of 0.01 or more


class SessionTests(unittest.TestCase):
    def setUp(self):
        self.db = DB(None)
        self.addCleanup(self.db.close)
        with self.db.transaction() as connection:
            connection.root()["Application"] = PersistentMapping(writes=0)
        self.session = Session(self.db)
        self.addCleanup(self.session.close)
        self.no_pause = Backoff(0, 0)

    def committed(self):
        with self.db.transaction() as connection:
            return dict(connection.root()["Application"])

    def flaky(self, *errors):
        """A step that raises ``errors`` one per try, then writes."""
        errors = list(errors)
        tries = []

        def step(app):
            tries.append(1)
            app["writes"] += 1
            if errors:
                raise errors.pop(0)
            return len(tries)
        return step, tries

    def test_write_commits_what_the_step_wrote_and_returns_its_result(self):
        self.assertEqual(self.session.write(lambda app: app.setdefault("a", 1)), 1)
        self.assertEqual(self.committed(), {"writes": 0, "a": 1})

    def test_conflicts_and_disconnects_are_retried_in_a_fresh_transaction(self):
        step, tries = self.flaky(ConflictError("busy"), ClientDisconnected("ZEO down"))
        self.assertEqual(self.session.write(step, attempts=3, backoff=self.no_pause), 3)
        self.assertEqual(self.committed()["writes"], 1)  # the failed tries were aborted

    def test_the_last_tries_error_is_raised_with_nothing_written(self):
        step, tries = self.flaky(*[ClientDisconnected("ZEO down")] * 5)
        with self.assertRaises(ClientDisconnected):
            self.session.write(step, attempts=5, backoff=self.no_pause)
        self.assertEqual(len(tries), 5)
        self.assertEqual(self.committed()["writes"], 0)

    def test_other_errors_are_not_retried(self):
        step, tries = self.flaky(ValueError("a bug"))
        with self.assertRaises(ValueError):
            self.session.write(step, attempts=5, backoff=self.no_pause)
        self.assertEqual((len(tries), self.committed()["writes"]), (1, 0))

    def test_a_conflict_at_commit_is_retried(self):
        other = self.db.open(transaction_manager=transaction.TransactionManager())
        self.addCleanup(other.close)
        tries = []

        def step(app):
            tries.append(1)
            app["writes"] += 1
            if len(tries) == 1:  # another client writes the same object meanwhile
                other.transaction_manager.begin()
                other.root()["Application"]["writes"] += 10
                other.transaction_manager.commit()

        self.session.write(step, attempts=2, backoff=self.no_pause)
        self.assertEqual((len(tries), self.committed()["writes"]), (2, 11))

    def test_read_writes_nothing(self):
        def step(app):
            app["writes"] = 99
            return "seen"
        self.assertEqual(self.session.read(step), "seen")
        self.assertEqual(self.committed()["writes"], 0)

    def test_each_session_has_its_own_transactions(self):
        # The thread-global transaction is not the session's: committing it
        # (as other code in the thread might) writes nothing of the session's.
        self.session.manager.begin()
        self.session.app()["writes"] = 5
        transaction.commit()
        self.assertEqual(self.committed()["writes"], 0)
        self.session.manager.commit()
        self.assertEqual(self.committed()["writes"], 5)

    def test_sessions_in_threads_do_not_share_a_connection(self):
        seen = []

        def in_a_thread():
            with Session(self.db) as session:
                seen.append(session.connection)
        thread = threading.Thread(target=in_a_thread)
        thread.start()
        thread.join(5)
        self.assertEqual(len(seen), 1)
        self.assertIsNot(seen[0], self.session.connection)
        self.assertIsNone(seen[0].opened)  # closed on leaving

"""A worker's own connection and transaction manager, and how it retries.

Every thread of a worker (the loop, the heartbeat, each job) works through a
``Session``: a connection with a transaction manager of its own, so that no
thread commits or aborts another's changes. A step that fails with a
``TransientError`` (a ConflictError, ``ClientDisconnected`` while the ZEO
server is away, or RelStorage's ``DatabaseUnavailable``: see relstorage_errors)
is tried again after a ``Backoff`` pause.
"""

import random
import time

from transaction import TransactionManager
from transaction._transaction import Status
from transaction.interfaces import AlreadyInTransaction
from transaction.interfaces import NoTransaction
from transaction.interfaces import TransientError


class Backoff:
    """Jittered exponential pauses between tries of a step.

    The pause before retry ``n`` (1 for the second try) lies between half and
    all of ``first * 2 ** (n - 1)``, at most ``cap``: the jitter keeps workers
    that conflicted with each other from retrying in step; the floor keeps a
    step that waits for a ZEO server from giving up sooner than planned.
    """

    def __init__(self, first, cap):
        self.first = first
        self.cap = cap

    def delay(self, retry):
        """Seconds to wait before retry number ``retry`` (1, 2, ...)."""
        longest = min(self.cap, self.first * 2 ** (retry - 1))
        return random.uniform(longest / 2, longest)

    def tries(self, number):
        """Yield the try numbers 1 to ``number``, pausing before each retry.

        The caller stops iterating once a try succeeds, so no pause follows
        the last try.
        """
        for tried in range(1, number + 1):
            if tried > 1:
                delay = self.delay(tried - 1)
                if delay > 0:
                    time.sleep(delay)
            yield tried


# Control steps (heartbeat, claim, reap) are short: retry almost at once.
CONTROL_BACKOFF = Backoff(0.005, 0.05)
CONTROL_ATTEMPTS = 5


class SessionTransactionManager(TransactionManager):
    """A transaction manager whose commit, once done, stays done.

    ZODB's connection polls its storage after every transaction, in a synch's
    ``afterCompletion``; RelStorage polls the database there, which may be
    away by then (DatabaseUnavailable). ``transaction`` then raises from a
    commit that succeeded and leaves the transaction current: a retry would
    run the step twice (a second claim, a second ending), and an explicit
    manager would refuse every later ``begin()``. The next beginning polls
    again and says so if the database is still away.
    """

    def commit(self):
        txn = self.get()
        try:
            return super().commit()
        except TransientError:
            if txn.status is not Status.COMMITTED:
                raise
            try:
                self.free(txn)
            except ValueError:  # already freed
                pass
            return None


class ExplicitTransactionManager(SessionTransactionManager):
    """A transaction manager in explicit mode (transactions begin only by
    ``begin()``) whose ``abort()`` between transactions does nothing: the
    session's own, and ``DB.close()``'s, which aborts every connection's."""

    def __init__(self):
        super().__init__(explicit=True)

    def abort(self):
        try:
            super().abort()
        except NoTransaction:
            pass

    def begin(self):
        try:
            return super().begin()
        except AlreadyInTransaction:
            # A transaction that a failure inside transaction's own code left
            # current (a commit whose cleanup polled a database that had gone):
            # end it, as an implicit manager's begin() does.
            self._abort_quietly()
            return super().begin()
        except BaseException:
            # The transaction is made before its synchs run, and RelStorage's
            # polls in one (DatabaseUnavailable while PostgreSQL restarts): end
            # it, or every later begin() raises AlreadyInTransaction.
            self._abort_quietly()
            raise

    def _abort_quietly(self):
        try:
            self.abort()
        except Exception:  # noqa: S110 - the database is away; the next begin() says why
            pass


class Session:
    """A connection with a transaction manager of its own.

    Also a context manager that closes the session on leaving.

    ``explicit``: a transaction begins only in ``read`` and ``write``, not
    again as the last one ends. On RelStorage every beginning is a poll of
    the database: the worker loop's session, idle between its looks, polls
    once per look, not twice.
    """

    def __init__(self, db, explicit=False):
        self.manager = ExplicitTransactionManager() if explicit else SessionTransactionManager()
        self.connection = db.open(transaction_manager=self.manager)

    def app(self):
        """The Zope root object, as this session's connection sees it."""
        return self.connection.root()["Application"]

    def attempts(self, number, backoff):
        """``manager.attempts(number)``, pausing with ``backoff`` before each retry.

        Use as ``for attempt in session.attempts(...): with attempt: ...``:
        each attempt begins a transaction and commits it; a TransientError
        (in the step or its commit) aborts it and leads to the next attempt;
        the last attempt's error, and any other error, is raised.
        """
        tries = backoff.tries(number)
        for attempt in self.manager.attempts(number):
            next(tries)  # pauses before a retry, after the failed try was aborted
            yield attempt

    def read(self, step):
        """Return ``step(app)`` from a fresh view of the database, writing nothing."""
        self.manager.begin()
        try:
            return step(self.app())
        finally:
            self.manager.abort()

    def write(self, step, attempts=CONTROL_ATTEMPTS, backoff=CONTROL_BACKOFF):
        """Run ``step(app)`` and commit, retrying on conflicts and disconnects.

        ``step`` may run more than once: it must only write.
        """
        for attempt in self.attempts(attempts, backoff):
            with attempt:
                result = step(self.app())
        return result

    def abort(self):
        self.manager.abort()

    def close(self):
        """Abort and close; a database that is away (RelStorage polls it even
        on abort) does not stop the closing."""
        try:
            self.abort()
        except TransientError:
            pass
        self.connection.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

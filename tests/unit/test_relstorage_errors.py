"""RelStorage's lost connections become transient errors (relstorage_errors)."""

import unittest

from transaction.interfaces import TransientError


try:
    import psycopg2
    import relstorage  # noqa: F401
except ImportError:  # the [postgresql] extra is not installed
    psycopg2 = None


@unittest.skipIf(psycopg2 is None, "needs the [postgresql] extra (RelStorage, psycopg2)")
class RelStorageErrorsTests(unittest.TestCase):

    def test_every_storage_method_zodb_calls_is_patched_once_relstorage_is_imported(self):
        from relstorage.storage import RelStorage
        from relstorage.storage.load import BlobLoader
        from relstorage.storage.load import Loader
        from relstorage.storage.store import Storer

        import collective.asyncreports  # noqa: F401  (applies the patch)

        for method in (RelStorage.tpc_vote, RelStorage.poll_invalidations,
                       Loader.load._func, Loader.loadBefore._func, BlobLoader.loadBlob,
                       Storer.store):
            self.assertTrue(getattr(method, "disconnects_are_transient", False), method)
        # RelStorage still copies the loader's methods into each storage.
        self.assertTrue(Loader.load._func.storage_method)

    def test_a_lost_connection_is_a_transient_error_with_the_driver_error_as_cause(self):
        from collective.asyncreports.relstorage_errors import DatabaseUnavailable
        from collective.asyncreports.relstorage_errors import _transient
        from collective.asyncreports.relstorage_errors import disconnected_errors

        def load():
            raise psycopg2.OperationalError("server closed the connection unexpectedly")

        with self.assertRaises(DatabaseUnavailable) as raised:
            _transient(load, disconnected_errors())()
        self.assertIsInstance(raised.exception, TransientError)
        self.assertIsInstance(raised.exception.__cause__, psycopg2.OperationalError)
        self.assertIn("server closed the connection", str(raised.exception))

    def test_other_errors_pass_unchanged(self):
        from collective.asyncreports.relstorage_errors import _transient
        from collective.asyncreports.relstorage_errors import disconnected_errors

        def load():
            raise psycopg2.ProgrammingError("syntax error")

        with self.assertRaises(psycopg2.ProgrammingError):
            _transient(load, disconnected_errors())()

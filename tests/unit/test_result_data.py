"""Tests of how a ZMI result's bytes are stored: small inline, big as a Pdata chain."""

import unittest

import transaction
from OFS.Image import File
from OFS.Image import Pdata
from Products.BTreeFolder2.BTreeFolder2 import BTreeFolder2
from ZODB.DB import DB
from ZODB.MappingStorage import MappingStorage

from collective.asyncreports.results.folder import CHUNK
from collective.asyncreports.results.folder import _write_data


class WriteDataTests(unittest.TestCase):
    def setUp(self):
        self.db = DB(MappingStorage())
        # The worker's own transaction manager, not the thread's default one.
        self.manager = transaction.TransactionManager()
        self.connection = self.db.open(transaction_manager=self.manager)
        self.manager.begin()
        self.connection.root()["results"] = BTreeFolder2("results")
        self.manager.commit()

    def tearDown(self):
        self.manager.abort()
        self.connection.close()
        self.db.close()

    def _store(self, data):
        self.manager.begin()
        folder = self.connection.root()["results"]
        folder._setObject("result", File("result", "", b"", "application/pdf"))
        _write_data(folder._getOb("result"), data, "application/pdf", self.connection)
        self.manager.commit()
        # A fresh connection: what another client reads back.
        other = self.db.open(transaction_manager=transaction.TransactionManager())
        self.addCleanup(other.close)
        return other.root()["results"]._getOb("result")

    def test_small_data_stays_inline_bytes(self):
        result = self._store(b"%PDF-1.4 tiny")
        self.assertEqual(result.data, b"%PDF-1.4 tiny")
        self.assertEqual(result.size, 13)
        self.assertEqual(result.content_type, "application/pdf")

    def test_big_data_is_a_chain_of_64k_records_read_back_whole(self):
        data = b"%PDF-" + bytes(range(256)) * (5 * CHUNK // 256) + b"end"
        result = self._store(data)
        self.assertIsInstance(result.data, Pdata)
        self.assertEqual(bytes(result.data), data)
        self.assertEqual(result.size, len(data))
        lengths = []
        record = result.data
        while record is not None:
            lengths.append(len(record.data))
            record = record.next
        # As OFS cuts an upload: 64 KB records, the first one 64-128 KB.
        self.assertEqual(sum(lengths), len(data))
        self.assertTrue(all(length == CHUNK for length in lengths[1:]))
        self.assertTrue(CHUNK <= lengths[0] < 2 * CHUNK)

    def test_big_data_records_are_saved_and_ghosted_as_they_are_made(self):
        self.manager.begin()
        folder = self.connection.root()["results"]
        folder._setObject("result", File("result", "", b"", "application/pdf"))
        result = folder._getOb("result")
        _write_data(result, b"x" * (4 * CHUNK), "application/pdf", self.connection)
        record = result.data
        while record is not None:
            self.assertIsNotNone(record._p_oid)
            self.assertEqual(record._p_state, -1)  # a ghost, its bytes out of memory
            record = record.next
        self.manager.abort()

"""The declared contracts: both queue objects and both result stores implement them."""

import unittest

from zope.interface.verify import verifyClass
from zope.interface.verify import verifyObject

from collective.asyncreports import testing
from collective.asyncreports.interfaces import IAsyncReportQueue
from collective.asyncreports.interfaces import IResultStore
from collective.asyncreports.plone import testing as plone_testing
from collective.asyncreports.plone.queue import QUEUE_ID
from collective.asyncreports.plone.queue import PloneReportQueue
from collective.asyncreports.plone.results import PloneResultStore
from collective.asyncreports.results.folder import FolderResultStore
from collective.asyncreports.zmi.queue import AsyncReportQueue


class ClassContractTests(unittest.TestCase):
    def test_the_queue_classes_implement_the_queue_contract(self):
        for cls in (AsyncReportQueue, PloneReportQueue):
            self.assertTrue(verifyClass(IAsyncReportQueue, cls), cls)

    def test_the_result_stores_implement_the_store_contract(self):
        for cls in (FolderResultStore, PloneResultStore):
            self.assertTrue(verifyClass(IResultStore, cls), cls)


class ZMIQueueContractTests(unittest.TestCase):
    layer = testing.INTEGRATION_TESTING

    def test_a_zmi_queue_and_its_store(self):
        queue = self.layer["app"]._getOb(testing.QUEUE_ID)
        self.assertTrue(verifyObject(IAsyncReportQueue, queue))
        store = queue.result_store()
        self.assertTrue(verifyObject(IResultStore, store))
        self.assertIsInstance(store, FolderResultStore)
        self.assertEqual(store.folder().getPhysicalPath(),
                         queue.getPhysicalPath() + ("results",))


class PloneQueueContractTests(unittest.TestCase):
    layer = plone_testing.INTEGRATION_TESTING

    def test_a_plone_queue_and_its_store(self):
        queue = self.layer["portal"]._getOb(QUEUE_ID)
        self.assertTrue(verifyObject(IAsyncReportQueue, queue))
        store = queue.result_store()
        self.assertTrue(verifyObject(IResultStore, store))
        self.assertIsInstance(store, PloneResultStore)
        self.assertEqual(store.folder().getPhysicalPath(), ("", "plone", "reports"))

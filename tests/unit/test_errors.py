"""Tests of the exception hierarchy."""

import unittest

from collective.asyncreports import errors


class InvalidParametersTests(unittest.TestCase):
    def test_message_lists_every_field(self):
        exc = errors.InvalidParameters([("depth", "too big"), ("x", "unknown")])
        self.assertEqual(str(exc), "depth: too big; x: unknown")
        self.assertIsInstance(exc, ValueError)

    def test_job_not_found_message(self):
        self.assertEqual(str(errors.JobNotFound("abc")), "no job with id 'abc'")

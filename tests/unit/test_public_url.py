"""remember_served_url: the URL last served is recorded only where it is used."""

import unittest

from collective.asyncreports import public_url


class FakeQueue:
    def __init__(self, configured=""):
        self.configured = configured

    def configured_url(self):
        return self.configured


class RememberServedUrlTests(unittest.TestCase):
    def test_recorded_when_no_server_url_is_set(self):
        queue = FakeQueue()
        public_url.remember_served_url(queue, "http://intranet.example.org/")
        self.assertEqual(public_url.served_url(queue), "http://intranet.example.org")
        self.assertEqual(public_url.known_public_url(queue), "http://intranet.example.org")

    def test_not_written_when_a_server_url_is_set(self):
        # Two instances at two addresses would rewrite the queue on every submission.
        queue = FakeQueue("https://reports.example.org")
        public_url.remember_served_url(queue, "http://127.0.0.1:8081")
        public_url.remember_served_url(queue, "http://127.0.0.1:8082")
        self.assertFalse(hasattr(queue, public_url.SERVED_URL_ATTRIBUTE))
        self.assertEqual(public_url.known_public_url(queue), "https://reports.example.org")

    def test_not_written_again_when_unchanged(self):
        queue = FakeQueue()
        public_url.remember_served_url(queue, "http://a.example.org")
        queue.__dict__[public_url.SERVED_URL_ATTRIBUTE] = "http://a.example.org"
        public_url.remember_served_url(queue, "http://a.example.org/")
        self.assertEqual(public_url.served_url(queue), "http://a.example.org")

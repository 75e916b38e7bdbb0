"""Helpers for the real-browser tests (tests/browser/test_browser.py)."""

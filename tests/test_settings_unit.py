"""The one table of queue settings, without Zope: defaults, bounds, the joint rule."""

import unittest

from collective.asyncreports.queue.settings import SETTINGS


class SettingsTableTests(unittest.TestCase):
    def test_defaults_are_within_their_bounds(self):
        self.assertEqual(SETTINGS.problems(SETTINGS.defaults()), [])
        self.assertEqual(set(SETTINGS.defaults()), {
            "lease_seconds", "max_attempts", "backoff_seconds", "backoff_max", "retention_days"})

    def test_every_setting_has_a_title_and_help(self):
        for setting in SETTINGS:
            self.assertTrue(setting.title and setting.description, setting.name)
            self.assertLessEqual(setting.minimum, setting.default)
            self.assertLessEqual(setting.default, setting.maximum)

    def test_values_out_of_bounds_are_named(self):
        for name, value in (("lease_seconds", 9), ("max_attempts", 0), ("max_attempts", 101),
                            ("backoff_seconds", -1), ("retention_days", 36501)):
            problems = SETTINGS.problems({name: value})
            self.assertEqual(len(problems), 1, (name, value))
            title, message = problems[0]
            self.assertEqual(title, SETTINGS.get(name).title)
            self.assertIn(f"(got {value})", message)

    def test_the_longest_backoff_may_not_be_below_the_backoff(self):
        self.assertEqual(SETTINGS.problems({"backoff_seconds": 60, "backoff_max": 30}),
                         [("Longest backoff (seconds)", "must not be below the backoff")])
        self.assertEqual(SETTINGS.problems({"backoff_seconds": 60, "backoff_max": 60}), [])

    def test_missing_values_are_not_checked(self):
        self.assertEqual(SETTINGS.problems({}), [])
        self.assertEqual(SETTINGS.problems({"backoff_max": 0}), [])

    def test_an_unknown_name_is_an_error(self):
        with self.assertRaises(KeyError):
            SETTINGS.get("lease")

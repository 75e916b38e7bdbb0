"""The one table of queue settings, without Zope: defaults, bounds, the joint rule."""

import unittest

from collective.asyncreports.queue.settings import SETTINGS


class SettingsTableTests(unittest.TestCase):
    def test_defaults_are_within_their_bounds(self):
        self.assertEqual(SETTINGS.problems(SETTINGS.defaults()), [])
        self.assertEqual(set(SETTINGS.defaults()), {
            "lease_seconds", "max_attempts", "backoff_seconds", "backoff_max", "retention_days",
            "time_limit", "notify_submitter", "mail_host", "mail_from", "notify_address",
            "attach_limit_mb", "max_queued_per_user"})

    def test_every_setting_has_a_title_and_help(self):
        for setting in SETTINGS:
            self.assertTrue(setting.title and setting.description, setting.name)
        # Every default passes its own check (bounds for numbers, length for text).
        for setting in SETTINGS:
            self.assertEqual(SETTINGS.problems({setting.name: setting.default}), [])

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

    def test_mail_settings_are_checked_by_kind(self):
        self.assertEqual(SETTINGS.problems({"notify_submitter": True,
                                            "mail_from": "reports@example.org",
                                            "notify_address": "", "attach_limit_mb": 25}), [])
        for name, value in (("notify_submitter", "yes"), ("mail_from", "nobody"),
                            ("mail_from", "a@b.org, c@d.org"),
                            ("notify_address", "x@y.org\nBcc: z"),
                            ("notify_address", "a" * 250 + "@b.org"), ("mail_host", 3),
                            ("attach_limit_mb", 26), ("attach_limit_mb", True)):
            self.assertEqual(len(SETTINGS.problems({name: value})), 1, (name, value))

    def test_notifications_need_a_from_address_outside_plone(self):
        self.assertEqual(SETTINGS.problems({"notify_submitter": True, "mail_from": ""}),
                         [("From address", "is needed to send notifications")])
        # Plone's values have no mail_from: the site's own address is used.
        self.assertEqual(SETTINGS.problems({"notify_submitter": True}), [])
        self.assertNotIn("mail_from", [setting.name for setting in SETTINGS.in_plone()])

    def test_an_unknown_name_is_an_error(self):
        with self.assertRaises(KeyError):
            SETTINGS.get("lease")


class SettingsFormTests(unittest.TestCase):
    """The ZMI Settings tab's parsing (zmi/forms.py), from the same table."""

    def parse(self, **fields):
        from collective.asyncreports.zmi.forms import parse_settings

        form = {name: str(value) for name, value in SETTINGS.defaults().items()}
        form["server_url"] = ""
        form.update(fields)
        return parse_settings(form)

    def problems(self, **fields):
        from collective.asyncreports.errors import InvalidParameters

        with self.assertRaises(InvalidParameters) as caught:
            self.parse(**fields)
        return dict(caught.exception.errors)

    def test_the_defaults_parse_to_whole_numbers(self):
        values = self.parse()
        self.assertEqual(values, dict(SETTINGS.defaults(), server_url=""))

    def test_checkbox_and_text_settings(self):
        values = self.parse(notify_submitter="on", mail_from=" r@example.org ",
                            attach_limit_mb="5")
        self.assertEqual((values["notify_submitter"], values["mail_from"],
                          values["attach_limit_mb"]), (True, "r@example.org", 5))
        form_without_box = {"notify_submitter": None}
        self.assertFalse(self.parse(**form_without_box)["notify_submitter"])
        self.assertIn("From address", self.problems(notify_submitter="on", mail_from=""))
        self.assertIn("Fallback address", self.problems(notify_address=["a@b.org"]))

    def test_bad_numbers_are_each_named_by_their_title(self):
        problems = self.problems(lease_seconds="9", max_attempts="many", retention_days="")
        self.assertEqual(set(problems), {
            "Lease time (seconds)", "Maximum attempts", "Retention (days)"})

    def test_hostile_values_are_refused_not_raised(self):
        for value in (["1", "2"], {"a": "1"}, "1e3", "0x10", "1.5", "\x00", "9" * 50, True):
            self.assertIn("Maximum attempts", self.problems(max_attempts=value), value)

    def test_the_joint_rule_and_the_server_url(self):
        problems = self.problems(backoff_seconds="600", backoff_max="60",
                                 server_url="ftp://example.org")
        self.assertEqual(problems["Longest backoff (seconds)"], "must not be below the backoff")
        self.assertIn("must be an http(s) URL", problems["Server URL"])
        self.assertEqual(self.parse(server_url="https://example.org/")["server_url"],
                         "https://example.org")

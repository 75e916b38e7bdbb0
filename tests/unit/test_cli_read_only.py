"""Which commands open the database without starting Zope (cli.READ_ONLY_COMMANDS)."""

import unittest
from unittest import mock

from collective.asyncreports import cli


class ReadOnlyCommandsTests(unittest.TestCase):
    def _main(self, *argv):
        with mock.patch.object(cli, "boot", return_value="booted") as boot, \
                mock.patch.object(cli, "open_root", return_value="opened") as open_root, \
                mock.patch.object(cli, "execute", return_value=0) as execute:
            self.assertEqual(cli.main(["-C", "/etc/zope.conf", *argv]), 0)
        return boot, open_root, execute.call_args[0][0]

    def test_commands_that_only_read_do_not_start_zope(self):
        for argv in (["jobs"], ["jobs", "--json"], ["show", "0123456789abcdef0"],
                     ["metrics"]):
            boot, open_root, app = self._main(*argv)
            self.assertEqual(app, "opened", argv)
            boot.assert_not_called()
            open_root.assert_called_once_with("/etc/zope.conf")

    def test_health_checks_the_servers_then_reads_without_starting_zope(self):
        with mock.patch.object(cli, "_unreachable_zeo_servers", return_value=[]):
            boot, open_root, app = self._main("health")
        self.assertEqual(app, "opened")
        boot.assert_not_called()

    def test_commands_that_write_or_run_reports_start_zope(self):
        for argv in (["submit", "noop", "--path", "/", "--user", "admin"],
                     ["keep", "0123456789abcdef0"], ["worker"], ["schedule", "list"]):
            boot, open_root, app = self._main(*argv)
            self.assertEqual(app, "booted", argv)
            open_root.assert_not_called()

    def test_the_read_only_set_names_only_known_commands(self):
        from collective.asyncreports.cli.commands import COMMANDS

        self.assertLessEqual(cli.READ_ONLY_COMMANDS, set(COMMANDS))

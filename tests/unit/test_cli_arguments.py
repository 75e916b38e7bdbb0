"""The ``asyncreports`` argument parser, every command: no Zope, no processes.

A bad value exits with code 2 and one line on stderr that names the option
and says what is wrong; good values arrive converted, with their defaults.
"""

import contextlib
import io
import unittest

from collective.asyncreports.cli.arguments import MAX_CONCURRENCY
from collective.asyncreports.cli.arguments import parse_arguments
from collective.asyncreports.queue.states import ALL_STATES


class ParserCase(unittest.TestCase):
    def parse(self, *argv):
        return parse_arguments(list(argv))

    def assertUsageError(self, argv, *words):
        err = io.StringIO()
        with contextlib.redirect_stderr(err), self.assertRaises(SystemExit) as exited:
            parse_arguments(list(argv))
        self.assertEqual(exited.exception.code, 2, argv)
        lines = err.getvalue().splitlines()
        self.assertEqual(len(lines), 1, (argv, err.getvalue()))
        self.assertRegex(lines[0], r"^asyncreports( \w+)?: error: ", argv)
        for word in words:
            self.assertIn(word, lines[0], argv)
        return lines[0]


class CommonOptionsTests(ParserCase):
    def test_config_and_logging_options_go_before_or_after_the_command(self):
        for argv in (["-C", "z.conf", "--log-level", "DEBUG", "--log-file", "w.log", "jobs"],
                     ["jobs", "-C", "z.conf", "--log-level", "DEBUG", "--log-file", "w.log"]):
            args = self.parse(*argv)
            self.assertEqual((args.config, args.log_level, args.log_file),
                             ("z.conf", "DEBUG", "w.log"), argv)

    def test_an_option_before_the_command_is_not_reset_by_the_command(self):
        # bin/worker puts its own -C before the command line it is given.
        args = self.parse("-C", "z.conf", "worker", "--once")
        self.assertEqual(args.config, "z.conf")

    def test_options_not_given_are_absent_not_defaulted(self):
        args = self.parse("jobs")
        self.assertFalse(hasattr(args, "config"))
        self.assertFalse(hasattr(args, "log_level"))

    def test_a_command_is_required_and_must_exist(self):
        self.assertUsageError([], "COMMAND")
        self.assertUsageError(["bogus-command"], "bogus-command")

    def test_log_level_is_one_of_four(self):
        self.assertUsageError(["--log-level", "LOUD", "jobs"], "--log-level", "LOUD")

    def test_paths_must_be_valid_text(self):
        self.assertUsageError(["-C", "z\x00.conf", "jobs"], "-C/--config")
        self.assertUsageError(["jobs", "--queue", "/" + "q" * 5000], "--queue")
        self.assertUsageError(["jobs", "--queue", "/async\udcffreports"], "--queue")

    def test_help_exits_0(self):
        out = io.StringIO()
        with contextlib.redirect_stdout(out), self.assertRaises(SystemExit) as exited:
            self.parse("worker", "--help")
        self.assertEqual(exited.exception.code, 0)
        self.assertIn("--max-jobs", out.getvalue())


class WorkerTests(ParserCase):
    def test_defaults(self):
        args = self.parse("worker")
        self.assertEqual(
            (args.command, args.once, args.max_jobs, args.max_memory, args.grace,
             args.concurrency, args.poll_interval, args.queue),
            ("worker", False, None, None, 30.0, 1, 5.0, None))

    def test_values_are_converted_and_queues_repeat(self):
        args = self.parse("worker", "--once", "--max-jobs", "100", "--max-memory", "512",
                          "--grace", "2.5", "--concurrency", str(MAX_CONCURRENCY),
                          "--poll-interval", "0.5", "--queue", "/a", "--queue", "/b")
        self.assertEqual(
            (args.once, args.max_jobs, args.max_memory, args.grace, args.concurrency,
             args.poll_interval, args.queue),
            (True, 100, 512, 2.5, MAX_CONCURRENCY, 0.5, ["/a", "/b"]))

    def test_bad_numbers(self):
        cases = [
            (["--grace", "nan"], "--grace", "got nan"),
            (["--grace", "inf"], "--grace", "from 0.001 to 31536000"),
            (["--poll-interval", "-1"], "--poll-interval", "from 0.001"),
            (["--poll-interval", "soon"], "--poll-interval", "must be a number"),
            (["--concurrency", "100000"], "--concurrency", f"from 1 to {MAX_CONCURRENCY}"),
            (["--concurrency", "2.5"], "--concurrency", "must be a whole number"),
            (["--max-jobs", "0"], "--max-jobs", "from 1 to 1000000000"),
            (["--max-memory", "-1"], "--max-memory", "got -1"),
            (["--max-jobs", "9" * 5000], "--max-jobs"),
        ]
        for extra, *words in cases:
            with self.subTest(extra=extra):
                self.assertUsageError(["worker", *extra], *words)

    def test_a_long_bad_value_is_cut_short_in_the_message(self):
        line = self.assertUsageError(["worker", "--max-jobs", "x" * 5000], "--max-jobs")
        self.assertLess(len(line), 200)


class SubmitTests(ParserCase):
    REQUIRED = ("--path", "/docs", "--user", "admin")

    def test_values(self):
        args = self.parse("submit", "object-inventory", *self.REQUIRED, "--param", "a=1",
                          "--param", "b=x=y", "--priority", "-5", "--queue", "/q")
        self.assertEqual(
            (args.command, args.report, args.path, args.user, args.param, args.priority,
             args.queue),
            ("submit", "object-inventory", "/docs", "admin", ["a=1", "b=x=y"], -5, "/q"))

    def test_defaults(self):
        args = self.parse("submit", "noop", *self.REQUIRED)
        self.assertEqual((args.param, args.priority, args.queue), ([], 0, None))

    def test_report_path_and_user_are_required(self):
        self.assertUsageError(["submit", "--path", "/", "--user", "admin"], "report")
        self.assertUsageError(["submit", "noop", "--path", "/"], "--user")
        self.assertUsageError(["submit", "noop", "--user", "admin"], "--path")

    def test_bad_values(self):
        cases = [
            (["--priority", "1.5"], "--priority", "must be a whole number"),
            (["--priority", "10" * 20], "--priority", "from -1000000 to 1000000"),
            (["--user", "adm\udcffin"], "--user"),
        ]
        for extra, *words in cases:
            with self.subTest(extra=extra):
                self.assertUsageError(["submit", "noop", *self.REQUIRED, *extra], *words)
        self.assertUsageError(["submit", "no\udcffop", *self.REQUIRED], "report")


class JobsTests(ParserCase):
    def test_defaults_and_values(self):
        args = self.parse("jobs")
        self.assertEqual((args.state, args.owner, args.limit, args.json, args.queue),
                         (None, None, 100, False, None))
        args = self.parse("jobs", "--state", "failed", "--owner", "bob", "--limit", "5",
                          "--json", "--queue", "/q")
        self.assertEqual((args.state, args.owner, args.limit, args.json, args.queue),
                         ("failed", "bob", 5, True, "/q"))

    def test_every_state_is_a_choice(self):
        for state in ALL_STATES:
            self.assertEqual(self.parse("jobs", "--state", state).state, state)

    def test_bad_values(self):
        self.assertUsageError(["jobs", "--state", "bogus"], "--state", "invalid choice")
        for limit in ("-1", "0", "ten", "9" * 5000):
            with self.subTest(limit=limit):
                self.assertUsageError(["jobs", "--limit", limit], "--limit")
        self.assertUsageError(["jobs", "--owner", "\udcff\udcfe"], "--owner")


class ShowTests(ParserCase):
    def test_values(self):
        args = self.parse("show", "0123456789abcdef0", "--json", "--queue", "/q")
        self.assertEqual((args.command, args.job_id, args.json, args.queue),
                         ("show", "0123456789abcdef0", True, "/q"))

    def test_bad_values(self):
        self.assertUsageError(["show"], "job_id")
        self.assertUsageError(["show", "f" * 100], "job_id")
        self.assertUsageError(["show", "\udcff"], "job_id")


class HealthTests(ParserCase):
    def test_defaults_and_values(self):
        args = self.parse("health")
        self.assertEqual((args.queue, args.max_wait, args.window), (None, 300.0, None))
        args = self.parse("health", "--queue", "/a", "--queue", "/b", "--max-wait", "60",
                          "--window", "90")
        self.assertEqual((args.queue, args.max_wait, args.window), (["/a", "/b"], 60.0, 90.0))

    def test_bad_values(self):
        for extra in (["--max-wait", "nan"], ["--max-wait", "inf"], ["--max-wait", "-5"],
                      ["--window", "0"]):
            with self.subTest(extra=extra):
                self.assertUsageError(["health", *extra], extra[0])

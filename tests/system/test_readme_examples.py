"""The command-line examples of the docs work verbatim on a system like ``make run``'s.

The commands (``$ ...`` lines, with their ``\\`` continuations) of the literal
blocks under "Examples" in ``docs/reference/cli.rst`` (the reference's command
line page; the README's until the docs site) are run in order against a live
system started as ``make run`` starts it: ZEO server, bootstrap with the
Plone site, Zope and one worker. Each must exit 0 and print what the page
shows: ``...`` alone on a line stands for any lines, within a line for any
text, and the page's job ids stand for the ids the submits printed.
"""

import re
import shlex
import subprocess
import tempfile
import time
import unittest
from pathlib import Path

import ZEO

from collective.asyncreports.dev.bootstrap import plone_installed
from collective.asyncreports.dev.processes import asyncreports_command
from tests.processes import discard
from tests.processes import queue_in
from tests.processes import started_instance
from tests.processes import wait_for


# The command line's reference page, where the examples live.
CLI_PAGE = Path(__file__).parents[2] / "docs" / "reference" / "cli.rst"
COMMAND = ".venv/bin/asyncreports -C etc/zope.conf"
JOB_ID = re.compile(r"\b[0-9a-f]{17}\b")


def section(text, title, underline):
    """The text of the section ``title`` (underlined with ``underline``)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines)
                 if line == title and lines[i + 1].startswith(underline * 3))
    end = next((i for i in range(start + 2, len(lines) - 1)
                if lines[i + 1][:3] in ("===", "---") and lines[i]
                and len(lines[i + 1]) >= len(lines[i])), len(lines))
    return "\n".join(lines[start + 2:end])


def literal_blocks(text):
    """The indented blocks that follow a ``::`` paragraph, dedented."""
    blocks, lines = [], text.splitlines()
    for i, line in enumerate(lines):
        if line.endswith("::"):
            block = []
            for following in lines[i + 2:]:
                if following and not following.startswith("    "):
                    break
                block.append(following[4:])
            blocks.append("\n".join(block).strip("\n"))
    return blocks


def examples(block):
    """[(command line, expected output lines)] of one literal block."""
    found, lines = [], iter(block.splitlines())
    for line in lines:
        if line.startswith("$ "):
            command = line[2:]
            while command.endswith("\\"):
                command = command[:-1] + " " + next(lines).strip()
            found.append((command, []))
        elif found:
            found[-1][1].append(line)
    return found


def matches(expected, actual):
    """True if ``actual`` lines are what the page shows (see the module doc)."""
    if not expected:
        return not actual
    if expected[0] == "...":
        return any(matches(expected[1:], actual[i:]) for i in range(len(actual) + 1))
    pattern = ".*".join(re.escape(part) for part in expected[0].split("..."))
    return bool(actual) and re.fullmatch(pattern, actual[0].rstrip()) is not None \
        and matches(expected[1:], actual[1:])


class CliPageTests(unittest.TestCase):
    def test_the_cli_page_extracts_are_what_this_test_runs(self):
        block = literal_blocks(section(CLI_PAGE.read_text(), "Examples", "-"))
        commands = [command for text in block for command, _ in examples(text)]
        self.assertGreaterEqual(len(commands), 5, commands)
        self.assertTrue(all(c.startswith(COMMAND + " ") for c in commands), commands)
        self.assertTrue(all("--queue" in c for c in commands if " health" not in c))

    def test_matching_of_shown_output(self):
        self.assertTrue(matches(["a", "...", "z"], ["a", "b", "c", "z"]))
        self.assertTrue(matches(["job ... done"], ["job 1 done"]))
        self.assertFalse(matches(["a"], ["a", "b"]))


@unittest.skipUnless(plone_installed(), "make run makes a Plone site: needs the [plone] extra")
class CliPageExamplesTests(unittest.TestCase):
    """Against a system started as ``make run`` starts it."""

    def setUp(self):
        home = Path(tempfile.mkdtemp(prefix="asyncreports-readme-"))
        self.instance = started_instance(home, ["--password", "secret", "--plone"])
        self.addCleanup(discard, self.instance)  # stops it all by PID, removes home
        self.instance.start_worker()

    def run_example(self, command):
        args = shlex.split(command)[len(shlex.split(COMMAND)):]
        return subprocess.run(
            asyncreports_command("-C", self.instance.zope_conf, *args), capture_output=True,
            text=True, timeout=300, cwd=self.instance.home, env=self.instance.env)

    def wait_until_done(self, job_ids):
        """What "within a second or two" means on a loaded test machine."""
        db = ZEO.DB(("127.0.0.1", self.instance.zeo_port))
        try:
            def done():
                states = []
                for queue_path, job_id in job_ids:
                    with queue_in(db, queue_path) as queue:
                        states.append(queue.job_queue().get(job_id).state)
                return all(state == "done" for state in states)
            wait_for(done, timeout=120, what="the examples' jobs to be done")
        finally:
            db.close()

    def test_every_command_example_runs_and_prints_what_the_cli_page_shows(self):
        blocks = literal_blocks(section(CLI_PAGE.read_text(), "Examples", "-"))
        ids = {}  # the page's job id -> the real one
        submitted = []
        ran = 0
        for block in blocks:
            for command, shown in examples(block):
                real = JOB_ID.sub(lambda m: ids.get(m.group(), m.group()), command)
                if " submit " not in real and submitted:
                    self.wait_until_done(submitted)
                    submitted = []
                started = time.monotonic()
                result = self.run_example(real)
                self.assertEqual(result.returncode, 0, (real, result.stdout, result.stderr))
                actual = result.stdout.splitlines()
                if " submit " in real:
                    (readme_id,) = JOB_ID.findall(shown[0])
                    ids[readme_id] = actual[0].strip()
                    queue = shlex.split(real)[shlex.split(real).index("--queue") + 1]
                    submitted.append((queue, ids[readme_id]))
                expected = [JOB_ID.sub(lambda m: ids.get(m.group(), m.group()), line)
                            for line in shown]
                self.assertTrue(matches(expected, actual), (real, expected, actual))
                ran += 1
                self.assertLess(time.monotonic() - started, 300)
        self.assertGreaterEqual(ran, 5)

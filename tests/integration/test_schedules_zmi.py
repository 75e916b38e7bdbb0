"""The ZMI Schedules tab over HTTP (zope.testbrowser), and firing as the owner."""

import io
import re
import time
import unittest
from contextlib import redirect_stderr

import transaction
from AccessControl.SecurityManagement import newSecurityManager
from AccessControl.SecurityManagement import noSecurityManager

from collective.asyncreports import scheduling
from collective.asyncreports import testing
from collective.asyncreports.cli import run
from collective.asyncreports.errors import InvalidSchedule
from collective.asyncreports.permissions import QueueReport
from collective.asyncreports.queue.schedules import book_of


QUEUE_URL = "http://nohost/asyncreports"


class SchedulesTestCase(unittest.TestCase):
    layer = testing.FUNCTIONAL_TESTING

    def setUp(self):
        self.app = self.layer["app"]
        self.queue = self.app[testing.QUEUE_ID]
        self.jobs = self.queue.job_queue()

    def browser(self, user):
        browser = testing.browser(self.app, user)
        browser.handleErrors = True  # error pages with their status, as a browser sees them
        browser.raiseHttpErrors = False
        return browser

    def add_as(self, user, cron="0 6 * * *", path="/docs", **options):
        newSecurityManager(None, self.app.acl_users.getUserById(user).__of__(
            self.app.acl_users))
        try:
            schedule = scheduling.add(self.queue, "object-inventory", path, {"depth": "2"},
                                      cron, **options)
        finally:
            noSecurityManager()
        transaction.commit()
        return schedule

    def token(self, browser):
        browser.open(QUEUE_URL + "/manage_schedules")
        return re.search(r'name="_authenticator" value="([0-9a-f]+)"', browser.contents).group(1)

    def post(self, user, method, **data):
        browser = self.browser(user)
        data.setdefault("_authenticator", self.token(browser))
        browser.post(f"{QUEUE_URL}/{method}", data)
        return browser

    def status(self, browser):
        return int(browser.headers["status"].split()[0])

    def book(self):
        transaction.begin()
        return book_of(self.jobs)


class TabTests(SchedulesTestCase):
    def test_reporter_adds_a_schedule_from_the_form(self):
        browser = self.post(testing.REPORTER, "manage_addSchedule", report="object-inventory",
                            path="/docs", cron="30 2 * * *", timezone="Europe/Berlin",
                            missed="skip", **{"param.depth": "3"})
        self.assertEqual(self.status(browser), 200, browser.contents[:500])
        self.assertIn("Added schedule", browser.contents)
        [schedule] = list(self.book())
        self.assertEqual((schedule.owner_id, schedule.path, schedule.params["depth"],
                          schedule.missed), ("alice", "/docs", 3, "skip"))
        row = browser.contents[browser.contents.index(f"schedule-{schedule.id}"):]
        self.assertIn("Object inventory", row)
        self.assertIn("30 2 * * *", row)
        self.assertIn("Europe/Berlin", row)
        self.assertRegex(row, r'<time datetime="[0-9T:-]+Z" title="[^"]+UTC')

    def test_bad_input_is_a_400_with_one_message_per_problem(self):
        browser = self.post(testing.REPORTER, "manage_addSchedule", report="object-inventory",
                            path="/nowhere", cron="99 * * *", timezone="Mars/Base",
                            missed="often", **{"param.depth": "50"})
        self.assertEqual(self.status(browser), 400)
        for text in ("cron: ", "has 4 field(s)", "timezone: ", "not an IANA time zone",
                     "missed: ", "run-once or skip", "/nowhere"):
            self.assertIn(text, browser.contents)
        self.assertEqual(len(self.book()), 0)

    def test_bad_parameters_are_each_shown(self):
        browser = self.post(testing.REPORTER, "manage_addSchedule", report="object-inventory",
                            path="/docs", cron="0 6 * * *", timezone="UTC",
                            **{"param.depth": "50"})
        self.assertEqual(self.status(browser), 400)
        self.assertIn("at most 10", browser.contents)

    def test_list_values_are_a_400_not_a_500(self):
        browser = self.post(testing.REPORTER, "manage_addSchedule", report="object-inventory",
                            path="/docs", timezone="UTC", **{"cron:list": ["a", "b"]})
        self.assertEqual(self.status(browser), 400)

    def test_reporter_sees_own_schedules_manager_sees_all(self):
        mine = self.add_as(testing.REPORTER)
        theirs = self.add_as(testing.OTHER_REPORTER)
        alice = self.browser(testing.REPORTER)
        alice.open(QUEUE_URL + "/manage_schedules")
        self.assertIn(mine.id, alice.contents)
        self.assertNotIn(theirs.id, alice.contents)
        manager = self.browser(testing.MANAGER)
        manager.open(QUEUE_URL + "/manage_schedules")
        self.assertIn(mine.id, manager.contents)
        self.assertIn(theirs.id, manager.contents)

    def test_reporter_cannot_touch_somebody_elses_schedule(self):
        theirs = self.add_as(testing.OTHER_REPORTER)
        for action in ("pause", "remove", "run_now"):
            browser = self.post(testing.REPORTER, "manage_scheduleAction",
                                schedule_id=theirs.id, action=action)
            self.assertEqual(self.status(browser), 401, action)
        edit = self.browser(testing.REPORTER)
        edit.open(QUEUE_URL + f"/manage_schedules?schedule_id={theirs.id}")
        self.assertEqual(self.status(edit), 401)
        self.assertTrue(self.book().get(theirs.id).enabled)

    def test_pause_resume_run_now_delete(self):
        schedule = self.add_as(testing.REPORTER)
        browser = self.post(testing.REPORTER, "manage_scheduleAction",
                            schedule_id=schedule.id, action="pause")
        self.assertIn("Paused schedule", browser.contents)
        self.assertIn("paused: paused by alice", browser.contents)
        self.assertFalse(self.book().get(schedule.id).enabled)
        self.post(testing.REPORTER, "manage_scheduleAction", schedule_id=schedule.id,
                  action="resume")
        self.assertTrue(self.book().get(schedule.id).enabled)
        browser = self.post(testing.REPORTER, "manage_scheduleAction",
                            schedule_id=schedule.id, action="run_now")
        self.assertIn("Queued job", browser.contents)
        transaction.begin()
        [job] = self.jobs.list_jobs()[0]
        self.assertEqual((job.owner_id, job.schedule_id, job.params["depth"]),
                         ("alice", schedule.id, 2))
        self.assertIn(f"manage_job?job_id={job.id}", browser.contents)
        self.post(testing.REPORTER, "manage_scheduleAction", schedule_id=schedule.id,
                  action="remove")
        self.assertEqual(len(self.book()), 0)

    def test_edit_form_keeps_values_and_saves(self):
        schedule = self.add_as(testing.REPORTER)
        browser = self.browser(testing.REPORTER)
        browser.open(QUEUE_URL + f"/manage_schedules?schedule_id={schedule.id}")
        self.assertEqual(browser.getControl(name="cron").value, "0 6 * * *")
        self.assertEqual(browser.getControl(name="param.depth").value, "2")
        browser.getControl(name="cron").value = "15 7 * * 1-5"
        browser.getControl(name="timezone").value = "America/New_York"
        browser.getForm(action="manage_editSchedule").submit()
        self.assertIn("Saved schedule", browser.contents)
        saved = self.book().get(schedule.id)
        self.assertEqual((saved.cron, saved.timezone), ("15 7 * * 1-5", "America/New_York"))
        browser = self.post(testing.REPORTER, "manage_editSchedule", schedule_id=schedule.id,
                            report="object-inventory", path="/docs", cron="bad",
                            timezone="UTC")
        self.assertEqual(self.status(browser), 400)
        self.assertEqual(self.book().get(schedule.id).cron, "15 7 * * 1-5")

    def test_changes_need_post_and_token(self):
        schedule = self.add_as(testing.REPORTER)
        browser = self.browser(testing.REPORTER)
        browser.open(QUEUE_URL + f"/manage_scheduleAction?schedule_id={schedule.id}"
                     "&action=remove")
        self.assertIn(self.status(browser), (403, 404, 405))
        browser = self.post(testing.REPORTER, "manage_scheduleAction", schedule_id=schedule.id,
                            action="remove", _authenticator="0" * 64)
        self.assertEqual(self.status(browser), 403)
        self.assertEqual(len(self.book()), 1)

    def test_unknown_schedule_is_a_404_and_bystander_is_refused(self):
        browser = self.post(testing.MANAGER, "manage_scheduleAction", schedule_id="snope",
                            action="pause")
        self.assertEqual(self.status(browser), 404)
        bystander = self.browser(testing.BYSTANDER)
        bystander.open(QUEUE_URL + "/manage_schedules")
        self.assertEqual(self.status(bystander), 401)


class FiringTests(SchedulesTestCase):
    """scheduling.fire_due as a worker's step runs it (here in-process)."""

    def fire(self, now):
        fired = scheduling.fire_due(self.queue, now)
        transaction.commit()
        return fired

    def test_fires_as_the_owner(self):
        schedule = self.add_as(testing.REPORTER)
        [(schedule_id, job_id, _)] = self.fire(schedule.next_run + 1)
        job = self.jobs.get(job_id)
        self.assertEqual((job.owner_id, job.report, job.path, job.schedule_id),
                         ("alice", "object-inventory", "/docs", schedule.id))
        self.assertEqual(job.schedule_tick, self.book().get(schedule.id).last_run)
        self.assertEqual(job.history[-1]["event"], "scheduled")
        self.assertEqual(self.book().get(schedule.id).last_job_id, job_id)
        self.assertEqual(self.fire(time.time()), [])

    def test_deleted_owner_pauses_with_the_reason(self):
        schedule = self.add_as(testing.OTHER_REPORTER)
        self.app.acl_users._doDelUsers([testing.OTHER_REPORTER])
        transaction.commit()
        [(_, job_id, what)] = self.fire(schedule.next_run + 1)
        self.assertIsNone(job_id)
        paused = self.book().get(schedule.id)
        self.assertFalse(paused.enabled)
        self.assertIn("'carol' no longer exists", paused.paused_reason)
        self.assertEqual(len(self.jobs), 0)
        self.app.acl_users._doAddUser(testing.OTHER_REPORTER, testing.PASSWORD,
                                      [testing.REPORTER_ROLE], [])
        transaction.commit()
        browser = self.browser(testing.MANAGER)
        browser.open(QUEUE_URL + "/manage_schedules")
        self.assertIn("no longer exists", browser.contents)

    def test_owner_who_lost_the_permission_pauses_and_fires_as_nobody_else(self):
        schedule = self.add_as(testing.REPORTER)
        self.queue.manage_permission(QueueReport, ["Manager"], acquire=0)
        transaction.commit()
        [(_, job_id, _)] = self.fire(schedule.next_run + 1)
        self.assertIsNone(job_id)
        paused = self.book().get(schedule.id)
        self.assertIn("may no longer queue it", paused.paused_reason)
        self.assertEqual(len(self.jobs), 0)

    def test_owner_at_the_cap_of_waiting_jobs_loses_the_tick_not_the_schedule(self):
        schedule = self.add_as(testing.REPORTER)
        self.jobs.max_queued_per_user = 1
        self.jobs.enqueue("object-inventory", "/", {}, testing.REPORTER)
        transaction.commit()
        [(_, job_id, _)] = self.fire(schedule.next_run + 1)
        self.assertIsNone(job_id)
        kept = self.book().get(schedule.id)
        self.assertTrue(kept.enabled)
        self.assertIn("not queued", kept.last_refusal)
        self.assertEqual(len(self.jobs), 1)
        browser = self.browser(testing.REPORTER)
        browser.open(QUEUE_URL + "/manage_schedules")
        self.assertIn("not queued", browser.contents)

    def test_api_level_errors_are_the_packages_own(self):
        newSecurityManager(None, self.app.acl_users.getUserById(testing.REPORTER).__of__(
            self.app.acl_users))
        try:
            with self.assertRaises(InvalidSchedule) as caught:
                scheduling.add(self.queue, "no-such-report", "/docs", {}, "0 6 * * *",
                               "Nowhere/Town")
        finally:
            noSecurityManager()
        self.assertEqual([field for field, _ in caught.exception.errors],
                         ["timezone", "report"])


class CommandLineTests(SchedulesTestCase):
    """``asyncreports schedule ...`` on this app (cli.run), output and exit codes."""

    def cli(self, *argv):
        out, err = io.StringIO(), io.StringIO()
        with redirect_stderr(err):
            code = run(self.app, list(argv), out)
        return code, out.getvalue(), err.getvalue()

    def test_add_list_pause_resume_run_now_remove(self):
        code, out, err = self.cli("schedule", "add", "object-inventory", "--path", "/docs",
                                  "--user", "alice", "--cron", "0 6 * * 1",
                                  "--timezone", "Europe/Berlin", "--param", "depth=2")
        self.assertEqual(code, 0, err)
        schedule_id = out.strip()
        code, out, _ = self.cli("schedule", "list")
        self.assertIn(schedule_id, out)
        self.assertIn("cron='0 6 * * 1' Europe/Berlin", out)
        self.assertIn("1 schedule(s)", out)
        self.assertEqual(self.cli("schedule", "pause", schedule_id)[0], 0)
        code, out, _ = self.cli("schedule", "list", "--json")
        self.assertIn('"paused_reason": "paused by System Processes"', out)
        self.assertEqual(self.cli("schedule", "resume", schedule_id)[0], 0)
        code, out, _ = self.cli("schedule", "run-now", schedule_id)
        self.assertEqual(code, 0)
        transaction.begin()
        self.assertEqual(self.jobs.get(out.strip()).owner_id, "alice")
        self.assertEqual(self.cli("schedule", "remove", schedule_id)[0], 0)
        self.assertEqual(self.cli("schedule", "list")[1], "0 schedule(s)\n")

    def test_refusals_exit_2_with_one_line(self):
        for argv, text in (
            (("--cron", "bad cron"), "cron: 'bad cron' has 2 field(s)"),
            (("--cron", "0 6 * * *", "--timezone", "Nowhere/Town"), "timezone: "),
            (("--cron", "0 6 * * *", "--param", "depth=99"), "depth: "),
        ):
            code, out, err = self.cli("schedule", "add", "object-inventory", "--path", "/docs",
                                      "--user", "alice", *argv)
            self.assertEqual(code, 2, err)
            self.assertIn(text, err)
            self.assertEqual(err.count("\n"), 1, err)
            self.assertNotIn("Traceback", err)
        code, _, err = self.cli("schedule", "pause", "snope")
        self.assertEqual((code, err.strip()), (2, "asyncreports: error: no schedule with id "
                                                  "'snope'"))
        self.assertEqual(len(self.book()), 0)

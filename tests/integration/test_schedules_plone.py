"""Schedules in Plone: Repeat on Generate report, My schedules, Edit, Site Setup."""

import re

import transaction
from plone import api

from collective.asyncreports import scheduling
from collective.asyncreports.plone import testing
from collective.asyncreports.plone.queue import QUEUE_ID
from collective.asyncreports.queue.schedules import book_of
from tests.integration.test_ui_plone import TIME
from tests.integration.test_ui_plone import PloneUITestCase


GENERATE = "/docs/@@generate-report?report=content-inventory"


class SchedulesTestCase(PloneUITestCase):
    def schedules(self, owner=None):
        transaction.begin()
        book = book_of(self.jobs)
        return book.owned_by(owner) if owner else list(book)

    def add(self, owner=testing.EDITOR, cron="30 7 * * *", timezone="Europe/Berlin"):
        """A schedule made as ``owner`` through the core, committed."""
        with api.env.adopt_user(username=owner):
            schedule = scheduling.add(self.portal[QUEUE_ID], "content-inventory",
                                      "/plone/docs", {}, cron, timezone)
        transaction.commit()
        return schedule

    def generate(self, user=testing.EDITOR, **fields):
        """Send Generate report with the Repeat ``fields`` (widget name: value)."""
        browser = self.browser(user)
        browser.open(self.portal_url + GENERATE)
        for name, value in fields.items():
            control = browser.getControl(name=f"form.widgets.{name}")
            control.value = value
        browser.getControl(name="form.buttons.queue").click()
        return browser

    def field_html(self, browser, widget):
        """The HTML of one z3c.form field, up to the next field."""
        start = browser.contents.index(f'id="formfield-form-widgets-{widget}"')
        end = browser.contents.find('id="formfield-', start + 1)
        return browser.contents[start:end if end > 0 else None]


class GenerateRepeatTests(SchedulesTestCase):
    def test_once_is_the_default_and_queues_a_job_now(self):
        browser = self.browser(testing.EDITOR)
        browser.open(self.portal_url + GENERATE)
        self.assertEqual(browser.getControl(name="form.widgets.repeat").value, ["once"])
        browser.getControl(name="form.buttons.queue").click()
        self.assertIn("is queued", browser.contents)
        self.assertEqual(self.jobs.list_jobs()[1], 1)
        self.assertEqual(self.schedules(), [])

    def test_daily_makes_a_schedule_and_queues_nothing_now(self):
        browser = self.generate(**{"repeat": ["daily"], "time_of_day": "07:30",
                                   "timezone:list": ["Europe/Berlin"]})
        (schedule,) = self.schedules(testing.EDITOR)
        self.assertEqual((schedule.cron, schedule.timezone, schedule.path, schedule.format),
                         ("30 7 * * *", "Europe/Berlin", "/plone/docs", "pdf"))
        self.assertTrue(browser.url.endswith(f"/@@my-schedules?schedule={schedule.id}"))
        self.assertIn("Scheduled: “Content inventory”, daily at 07:30 (Europe/Berlin); "
                      "next run ", browser.contents)
        self.assertEqual(self.jobs.list_jobs()[1], 0)

    def test_weekly_monthly_and_custom_crons(self):
        for fields, cron in (
            ({"repeat": ["weekly"], "time_of_day": "18:05", "weekday:list": ["5"]},
             "5 18 * * 5"),
            ({"repeat": ["monthly"], "time_of_day": "6:00", "day_of_month": "15"},
             "0 6 15 * *"),
            ({"repeat": ["custom"], "cron": "*/15 8-17 * * 1-5"}, "*/15 8-17 * * 1-5"),
        ):
            self.generate(**fields)
            self.assertIn(cron, [s.cron for s in self.schedules(testing.EDITOR)], fields)

    def test_time_zone_defaults_to_the_sites(self):
        for zone, shown in (("Asia/Tokyo", "Asia/Tokyo"), ("Europe/Berlin", "Europe/Berlin")):
            api.portal.set_registry_record("plone.portal_timezone", zone)
            transaction.commit()
            browser = self.browser(testing.EDITOR)
            browser.open(self.portal_url + GENERATE)
            self.assertEqual(browser.getControl(name="form.widgets.timezone:list").value,
                             [shown], zone)

    def test_a_form_sent_twice_makes_one_schedule(self):
        fields = {"repeat": ["daily"], "time_of_day": "07:30"}
        self.generate(**fields)
        browser = self.generate(**fields)
        self.assertIn("You have this schedule already", browser.contents)
        self.assertEqual(len(self.schedules(testing.EDITOR)), 1)

    def test_bad_cron_time_and_zone_are_errors_on_their_fields(self):
        browser = self.generate(**{"repeat": ["custom"], "cron": "61 * * * *"})
        self.assertIn("is not a valid cron expression", self.field_html(browser, "cron"))
        browser = self.generate(**{"repeat": ["custom"], "cron": "0 6 * *"})
        self.assertIn("has 4 field(s)", self.field_html(browser, "cron"))
        browser = self.generate(**{"repeat": ["daily"], "time_of_day": "25:00"})
        self.assertIn("HH:MM", self.field_html(browser, "time_of_day"))
        self.assertEqual(self.schedules(), [])

        # A zone no choice offers (a hand-made POST): z3c.form drops it, the core asks.
        browser = self.browser(testing.EDITOR)
        browser.open(self.portal_url + GENERATE)
        browser.getControl(name="form.widgets.repeat").value = ["daily"]
        sent = dict(browser.getForm(id="form")._form.submit_fields())  # webtest's
        sent.update({"form.widgets.timezone:list": "Mars/Olympus_Mons",
                     "form.buttons.queue": "Queue report"})
        browser.post(self.portal_url + GENERATE, sent)
        self.assertIn("a time zone is required", self.field_html(browser, "timezone"))
        self.assertEqual(self.schedules(), [])

    def test_a_bad_time_and_zone_are_told_together(self):
        browser = self.browser(testing.EDITOR)
        browser.open(self.portal_url + GENERATE)
        browser.getControl(name="form.widgets.repeat").value = ["weekly"]
        browser.getControl(name="form.widgets.time_of_day").value = ""
        browser.getControl(name="form.widgets.timezone:list").value = ["--NOVALUE--"]
        browser.getControl(name="form.buttons.queue").click()
        self.assertIn("give the time of day", self.field_html(browser, "time_of_day"))
        self.assertIn("a time zone is required", self.field_html(browser, "timezone"))

    def test_member_without_queue_report_may_not_schedule(self):
        self.assertRefused(self.portal_url + GENERATE, testing.MEMBER)
        status, url = self.refused(self.browser(testing.MEMBER), self.portal_url + GENERATE,
                                   "form.widgets.repeat=daily&form.buttons.queue=Queue")
        self.assertRefusedAt(status, url)
        self.assertEqual(self.schedules(), [])


class MySchedulesTests(SchedulesTestCase):
    def my_schedules(self, user=testing.EDITOR):
        browser = self.browser(user)
        browser.open(self.portal_url + "/@@my-schedules")
        return browser

    def test_lists_own_schedules_in_words_with_times_and_links(self):
        schedule = self.add()
        theirs = self.add(testing.OTHER_EDITOR, cron="0 6 * * 1")
        browser = self.my_schedules()
        self.assertIn(f'data-schedule="{schedule.id}"', browser.contents)
        self.assertNotIn(theirs.id, browser.contents)
        for text in ("Content inventory", "Daily at 07:30", "<code>30 7 * * *</code>",
                     "Europe/Berlin", 'href="http://nohost/plone/docs">/plone/docs</a>',
                     "enabled", f"@@edit-schedule?schedule={schedule.id}"):
            self.assertIn(text, browser.contents)
        self.assertTrue(TIME.search(browser.contents))
        self.assertIn("Weekly on Monday at 06:00", self.my_schedules(testing.OTHER_EDITOR).contents)

    def test_my_reports_and_the_personal_bar_link_it(self):
        browser = self.browser(testing.EDITOR)
        browser.open(self.portal_url + "/@@my-reports")
        self.assertIn(f'href="{self.portal_url}/@@my-schedules"', browser.contents)
        self.assertIn("asyncreports_my_schedules",
                      api.portal.get_tool("portal_actions").user.objectIds())
        browser.open(self.portal_url)
        self.assertIn(f"{self.portal_url}/@@my-schedules", browser.contents)

    def test_upgrade_from_1002_adds_the_personal_bar_link(self):
        profile = "collective.asyncreports:default"
        user_actions = api.portal.get_tool("portal_actions").user
        user_actions.manage_delObjects(["asyncreports_my_schedules"])
        setup = api.portal.get_tool("portal_setup")
        setup.setLastVersionForProfile(profile, "1002")
        [step] = setup.listUpgrades(profile)
        self.assertEqual(step["title"], "My schedules")
        setup.upgradeProfile(profile)
        self.assertIn("asyncreports_my_schedules", user_actions.objectIds())
        self.assertIn("asyncreports_my_reports", user_actions.objectIds())

    def test_anonymous_is_asked_to_log_in(self):
        self.assertRefused(self.portal_url + "/@@my-schedules")

    def test_pause_resume_and_delete(self):
        schedule = self.add()
        browser = self.my_schedules()
        browser.getControl("Pause").click()
        self.assertIn(f"Paused schedule {schedule.id}.", browser.contents)
        (stored,) = self.schedules()
        self.assertEqual((stored.enabled, stored.paused_reason),
                         (False, f"paused by {testing.EDITOR}"))
        self.assertIn(f"paused by {testing.EDITOR}", browser.contents)
        browser.getControl("Resume").click()
        self.assertIn(f"Resumed schedule {schedule.id}.", browser.contents)
        self.assertTrue(self.schedules()[0].enabled)
        browser.getControl("Delete").click()
        self.assertIn(f"Deleted schedule {schedule.id}.", browser.contents)
        self.assertEqual(self.schedules(), [])
        self.assertIn("You have no schedules", browser.contents)

    def test_another_editor_is_refused_on_post(self):
        schedule = self.add()
        self.add(testing.OTHER_EDITOR)
        intruder = self.my_schedules(testing.OTHER_EDITOR)
        self.assertNotIn(schedule.id, intruder.contents)
        token = self.token_of(intruder)
        for action in ("pause", "run_now", "remove"):
            status, url = self.refused(intruder, self.portal_url + "/@@my-schedules",
                                       f"_authenticator={token}&action={action}"
                                       f"&schedule_id={schedule.id}")
            self.assertRefusedAt(status, url)
        self.assertRefusedAt(*self.refused(
            self.browser(testing.OTHER_EDITOR),
            f"{self.portal_url}/@@edit-schedule?schedule={schedule.id}"))
        (stored,) = self.schedules(testing.EDITOR)
        self.assertTrue(stored.enabled)
        self.assertEqual(self.jobs.list_jobs()[1], 0)

    def test_get_and_missing_token_change_nothing(self):
        schedule = self.add()
        browser = self.my_schedules()
        browser.open(f"{self.portal_url}/@@my-schedules?action=remove"
                     f"&schedule_id={schedule.id}")
        self.assertIn(schedule.id, browser.contents)
        status, _ = self.refused(browser, self.portal_url + "/@@my-schedules",
                                 f"action=pause&schedule_id={schedule.id}")
        self.assertEqual(status, "403")
        self.assertTrue(self.schedules()[0].enabled)

    def test_hostile_ids_and_actions(self):
        schedule = self.add()
        browser = self.my_schedules()
        token = self.token_of(browser)
        for data, expected in ((f"action=explode&schedule_id={schedule.id}", "400"),
                               ("action=pause&schedule_id=nope", "404"),
                               ("action=pause&schedule_id:list=a&schedule_id:list=b", "400")):
            status, _ = self.refused(browser, self.portal_url + "/@@my-schedules",
                                     f"_authenticator={token}&{data}")
            self.assertEqual(status, expected, data)
        status, _ = self.refused(browser, self.portal_url + "/@@edit-schedule?schedule=nope")
        self.assertEqual(status, "404")

    def test_edit_shows_the_schedule_and_saves_new_times(self):
        schedule = self.add()
        browser = self.browser(testing.EDITOR)
        browser.open(f"{self.portal_url}/@@edit-schedule?schedule={schedule.id}")
        self.assertEqual(browser.getControl(name="form.widgets.repeat").value, ["daily"])
        self.assertEqual(browser.getControl(name="form.widgets.time_of_day").value, "07:30")
        self.assertEqual(browser.getControl(name="form.widgets.timezone:list").value,
                         ["Europe/Berlin"])
        browser.getControl(name="form.widgets.repeat").value = ["weekly"]
        browser.getControl(name="form.widgets.weekday:list").value = ["2"]
        browser.getControl(name="form.widgets.time_of_day").value = "09:00"
        browser.getControl(name="form.widgets.format:list").value = ["csv"]
        browser.getControl(name="form.buttons.save").click()
        self.assertIn("Saved: “Content inventory”, weekly on Tuesday at 09:00", browser.contents)
        (stored,) = self.schedules()
        self.assertEqual((stored.cron, stored.format), ("0 9 * * 2", "csv"))

    def test_edit_refuses_a_bad_cron_on_its_field(self):
        schedule = self.add()
        browser = self.browser(testing.EDITOR)
        browser.open(f"{self.portal_url}/@@edit-schedule?schedule={schedule.id}")
        browser.getControl(name="form.widgets.repeat").value = ["custom"]
        browser.getControl(name="form.widgets.cron").value = "0 0 30 2 *"
        browser.getControl(name="form.buttons.save").click()
        self.assertIn("never fires", self.field_html(browser, "cron"))
        self.assertEqual(self.schedules()[0].cron, "30 7 * * *")

    def token_of(self, browser):
        return browser.getControl(name="_authenticator", index=0).value


class SiteSetupSchedulesTests(SchedulesTestCase):
    def test_managers_see_every_schedule_and_filter_by_owner(self):
        mine, theirs = self.add(), self.add(testing.OTHER_EDITOR)
        browser = self.browser(testing.SITE_ADMIN)
        browser.open(self.portal_url + "/@@asyncreports-jobs")
        browser.getLink("Schedules").click()
        self.assertIn(mine.id, browser.contents)
        self.assertIn(theirs.id, browser.contents)
        browser.getControl(name="owner").value = [testing.OTHER_EDITOR]
        browser.getControl("Filter").click()
        self.assertNotIn(mine.id, browser.contents)
        self.assertIn(theirs.id, browser.contents)
        browser.getControl("Pause").click()
        self.assertIn(f"Paused schedule {theirs.id}.", browser.contents)
        self.assertIn(f"owner={testing.OTHER_EDITOR}", browser.url)
        self.assertFalse(book_of(self.jobs).get(theirs.id).enabled)
        self.assertIn(f"paused by {testing.SITE_ADMIN}", browser.contents)

    def test_a_manager_edits_somebodys_schedule_as_its_owner(self):
        schedule = self.add()
        browser = self.browser(testing.SITE_ADMIN)
        browser.open(f"{self.portal_url}/@@edit-schedule?schedule={schedule.id}")
        browser.getControl(name="form.widgets.time_of_day").value = "08:15"
        browser.getControl(name="form.buttons.save").click()
        self.assertTrue(browser.url.endswith("/@@asyncreports-schedules"), browser.url)
        transaction.begin()
        self.assertEqual(book_of(self.jobs).get(schedule.id).cron, "15 8 * * *")
        self.assertEqual(book_of(self.jobs).get(schedule.id).owner_id, testing.EDITOR)

    def test_the_settings_form_links_it(self):
        browser = self.browser(testing.SITE_ADMIN)
        browser.open(self.portal_url + "/@@asyncreports-controlpanel")
        self.assertIn("@@asyncreports-schedules", browser.contents)

    def test_editors_and_members_may_not_open_it(self):
        for user in (testing.EDITOR, testing.MEMBER, None):
            self.assertRefused(self.portal_url + "/@@asyncreports-schedules", user)


class RunNowTests(SchedulesTestCase):
    layer = testing.EAGER_FUNCTIONAL_TESTING

    def test_run_now_queues_a_job_that_is_done_and_linked_as_the_last_run(self):
        schedule = self.add()
        browser = self.browser(testing.EDITOR)
        browser.open(self.portal_url + "/@@my-schedules")
        browser.getControl("Run now").click()
        match = re.search(r"Queued job (\S+) of schedule " + schedule.id, browser.contents)
        self.assertTrue(match, browser.contents)
        transaction.begin()
        job = self.jobs.get(match.group(1))
        self.assertEqual((job.state, job.owner_id, job.schedule_id),
                         ("done", testing.EDITOR, schedule.id))
        self.assertIn(f"@@asyncreports-job?job={job.id}", browser.contents)
        (stored,) = self.schedules()
        self.assertEqual(stored.next_run, schedule.next_run)  # the next tick stays

"""``@report-schedules`` over HTTP (issue 15): every endpoint, who may see and
do what, and hostile input, which is a 400 or 415 and never a 500."""

from datetime import datetime
from zoneinfo import ZoneInfo

import transaction

from collective.asyncreports.queue.schedules import book_of
from tests.integration.test_restapi import RestTestCase as BaseTestCase
from tests.integration.test_restapi_hostile import NO_BOUNDARY


WEEKLY = {"report": "content-inventory", "parameters": {"max_items": 50}, "format": "csv",
          "cron": "30 6 * * 1", "timezone": "Europe/Berlin"}
ISO_UTC = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$"


class RestTestCase(BaseTestCase):

    def schedule(self, session=None, path="docs", **changes):
        response = (session or self.editor).post(f"{path}/@report-schedules",
                                                 json=dict(WEEKLY, **changes))
        self.assertEqual(response.status_code, 201, response.text)
        return response.json()

    def stored(self):
        transaction.begin()  # see what the server's requests committed
        return book_of(self.jobs())

    def assert_problems(self, response, *fields):
        """A 400 in plone.restapi's error shape with one entry per ``fields``."""
        self.assertEqual(response.status_code, 400, response.text)
        error = response.json()
        self.assertEqual(error["type"], "BadRequest")
        self.assertEqual(sorted(entry["field"] for entry in error["errors"]), sorted(fields),
                         error)
        self.assertNotIn("traceback", error)
        return error


class AddScheduleTests(RestTestCase):

    def test_post_gives_201_the_schedule_and_its_location(self):
        response = self.editor.post("docs/@report-schedules", json=WEEKLY)
        self.assertEqual(response.status_code, 201, response.text)
        schedule = response.json()
        self.assertEqual(response.headers["Location"], schedule["@id"])
        self.assertEqual(schedule["@id"],
                         f"{self.portal_url}/@report-schedules/{schedule['id']}")
        self.assertEqual(
            {name: schedule[name] for name in ("owner", "path", "report", "format", "cron",
                                               "timezone", "missed", "enabled")},
            {"owner": "editor", "path": "/plone/docs", "report": "content-inventory",
             "format": "csv", "cron": "30 6 * * 1", "timezone": "Europe/Berlin",
             "missed": "run-once", "enabled": True})
        self.assertEqual(schedule["parameters"], {"max_items": 50})
        self.assertEqual(schedule["target"]["@id"], f"{self.portal_url}/docs")
        self.assertEqual((schedule["last_run"], schedule["last_job"]), (None, None))
        self.assertNotIn("owner_folder", schedule)
        self.assertRegex(schedule["created"], ISO_UTC)
        next_run = datetime.fromisoformat(schedule["next_run"]).astimezone(
            ZoneInfo("Europe/Berlin"))
        self.assertEqual((next_run.weekday(), next_run.hour, next_run.minute), (0, 6, 30))
        self.assertEqual(len(self.stored()), 1)

    def test_the_same_schedule_twice_is_one_200_with_a_note(self):
        first = self.schedule()
        again = self.editor.post("docs/@report-schedules", json=WEEKLY)
        self.assertEqual(again.status_code, 200, again.text)
        self.assertNotIn("Location", again.headers)
        self.assertEqual(again.json()["id"], first["id"])
        self.assertEqual(again.json()["note"],
                         f"You have this schedule already ({first['id']}); nothing was added.")
        other_time = self.schedule(cron="30 7 * * 1")  # at other times: another one
        self.assertNotEqual(other_time["id"], first["id"])
        self.assertEqual(len(self.stored()), 2)

    def test_defaults_the_site_zone_the_reports_format_and_run_once(self):
        schedule = self.schedule(timezone=None, format=None, cron="0 2 * * *")
        self.assertEqual(schedule["timezone"], "UTC")  # the test site names no zone
        self.assertEqual((schedule["format"], schedule["missed"]), ("pdf", "run-once"))
        skip = self.schedule(missed="skip", cron="0 3 * * *")
        self.assertEqual(skip["missed"], "skip")

    def test_one_message_per_problem(self):
        response = self.editor.post("docs/@report-schedules", json=dict(
            WEEKLY, cron="61 * * * *", timezone="Mars/Olympus", missed="sometimes",
            parameters={"max_items": 0}))
        error = self.assert_problems(response, "cron", "timezone", "missed", "max_items")
        self.assertIn("Mars/Olympus", error["message"])
        self.assertEqual(len(self.stored()), 0)

    def test_unknown_report_fields_format_and_missing_ones(self):
        self.assert_problems(self.editor.post("docs/@report-schedules",
                                              json=dict(WEEKLY, report="nope")), "report")
        self.assert_problems(self.editor.post("docs/@report-schedules",
                                              json=dict(WEEKLY, colour="red")), "colour")
        self.assert_problems(self.editor.post("docs/@report-schedules",
                                              json=dict(WEEKLY, format="docx")), "format")
        self.assert_problems(self.editor.post("docs/@report-schedules",
                                              json={"report": "content-inventory"}), "cron")
        self.assert_problems(self.editor.post("docs/@report-schedules",
                                              json={"cron": "* * * * *"}), "report")
        self.assert_problems(self.editor.post("docs/welcome/@report-schedules", json=WEEKLY),
                             "report")  # not offered on a page
        self.assertEqual(len(self.stored()), 0)

    def test_hostile_values_are_400_never_500(self):
        for value in ({"cron": 5}, {"cron": ["*"] * 5}, {"cron": "* * * * * * *"},
                      {"cron": "0 0 30 2 *"}, {"cron": "x" * 300}, {"timezone": 7},
                      {"timezone": "../../etc/passwd"}, {"timezone": "Z" * 100},
                      {"timezone": ""}, {"missed": ["skip"]}, {"parameters": []},
                      {"parameters": "max_items=3"}, {"report": 3}, {"format": {"a": 1}},
                      {"parameters": {"max_items": "many"}}, {"report": "\x00"}):
            with self.subTest(value=value):
                response = self.editor.post("docs/@report-schedules",
                                            json=dict(WEEKLY, **value))
                self.assertEqual(response.status_code, 400, response.text)
                self.assertNotIn("traceback", response.json())
        self.assertEqual(len(self.stored()), 0)

    def test_bodies_that_are_no_json_object(self):
        for raw in (b"[1]", b"null", b'"text"', b"{", b"\xff\xfe"):
            with self.subTest(raw=raw):
                response = self.editor.post("docs/@report-schedules", data=raw,
                                            headers={"Content-Type": "application/json"})
                self.assertEqual(response.status_code, 400, response.text)
        self.assertEqual(self.editor.post("docs/@report-schedules", data=WEEKLY).status_code,
                         415)
        self.assertEqual(self.editor.post("docs/@report-schedules", headers=NO_BOUNDARY)
                         .status_code, 400)
        self.assertEqual(len(self.stored()), 0)

    def test_anonymous_and_members_without_queue_report_get_401(self):
        self.assertEqual(self.anonymous.post("docs/@report-schedules", json=WEEKLY)
                         .status_code, 401)
        response = self.member.post("docs/@report-schedules", json=WEEKLY)
        self.assertEqual(response.status_code, 401, response.text)
        self.assertEqual(len(self.stored()), 0)


class ListingTests(RestTestCase):

    def test_users_see_their_own_managers_all_and_filter_by_owner(self):
        mine = self.schedule()
        theirs = self.schedule(self.other)
        listed = self.editor.get("@report-schedules").json()
        self.assertEqual([item["id"] for item in listed["items"]], [mine["id"]])
        self.assertEqual(listed["items_total"], 1)
        every = self.manager.get("@report-schedules").json()
        self.assertEqual({item["id"] for item in every["items"]}, {mine["id"], theirs["id"]})
        olivias = self.manager.get("@report-schedules", params={"owner": "olivia"}).json()
        self.assertEqual([item["id"] for item in olivias["items"]], [theirs["id"]])
        self.assertEqual(self.editor.get("@report-schedules", params={"owner": "olivia"})
                         .status_code, 401)
        self.assertEqual(self.editor.get("@report-schedules", params={"owner": "editor"})
                         .json()["items_total"], 1)

    def test_anonymous_gets_401_a_member_none(self):
        self.schedule()
        self.assertEqual(self.anonymous.get("@report-schedules").status_code, 401)
        self.assertEqual(self.member.get("@report-schedules").json()["items"], [])

    def test_batching_by_next_run_paused_last(self):
        first = self.schedule(cron="* * * * *")
        paused = self.schedule(cron="0 0 1 1 *")
        self.editor.post(f"@report-schedules/{paused['id']}/pause")
        later = self.schedule(cron="0 0 1 1 *", timezone="UTC")
        page = self.editor.get("@report-schedules", params={"b_size": 2}).json()
        self.assertEqual(page["items_total"], 3)
        self.assertEqual([item["id"] for item in page["items"]], [first["id"], later["id"]])
        self.assertIn("next", page["batching"])
        rest = self.editor.get(page["batching"]["next"]).json()
        self.assertEqual([item["id"] for item in rest["items"]], [paused["id"]])
        for bad in ({"b_size": 0}, {"b_size": "x"}, {"b_start": -1}, {"owner": "x" * 300}):
            with self.subTest(bad=bad):
                self.assertEqual(self.editor.get("@report-schedules", params=bad).status_code,
                                 400)


class OneScheduleTests(RestTestCase):

    def test_owner_and_manager_see_it_others_do_not(self):
        url = f"@report-schedules/{self.schedule()['id']}"
        self.assertEqual(self.editor.get(url).json()["owner"], "editor")
        self.assertEqual(self.manager.get(url).status_code, 200)
        self.assertIn(self.other.get(url).status_code, (401, 404))
        self.assertEqual(self.anonymous.get(url).status_code, 401)
        self.assertEqual(self.editor.get("@report-schedules/s0000000000").status_code, 404)
        self.assertEqual(self.editor.get("@report-schedules/" + "x" * 50).status_code, 400)

    def test_nobody_else_changes_it(self):
        schedule = self.schedule()
        url = f"@report-schedules/{schedule['id']}"
        for method, path, payload in (("patch", url, {"cron": "* * * * *"}),
                                      ("delete", url, None),
                                      ("post", f"{url}/pause", None),
                                      ("post", f"{url}/resume", None),
                                      ("post", f"{url}/run-now", None)):
            for session in (self.other, self.member, self.anonymous):
                with self.subTest(method=method, path=path, user=session.auth):
                    response = session.request(method, path, json=payload)
                    self.assertIn(response.status_code, (401, 404), response.text)
        stored = self.stored().get(schedule["id"])
        self.assertEqual((stored.cron, stored.enabled, stored.last_job_id),
                         ("30 6 * * 1", True, None))

    def test_patch_changes_the_fields_given_and_checks_them_again(self):
        schedule = self.schedule()
        url = f"@report-schedules/{schedule['id']}"
        changed = self.editor.patch(url, json={"cron": "0 7 * * *", "timezone": "UTC"})
        self.assertEqual(changed.status_code, 200, changed.text)
        data = changed.json()
        self.assertEqual((data["cron"], data["timezone"], data["format"], data["parameters"]),
                         ("0 7 * * *", "UTC", "csv", {"max_items": 50}))
        self.assertTrue(data["next_run"].endswith("T07:00:00Z"), data["next_run"])
        self.assert_problems(self.editor.patch(url, json={"cron": "nope", "parameters": {
            "max_items": -1}}), "cron", "max_items")
        self.assert_problems(self.editor.patch(url, json={"path": "/plone"}), "path")
        self.assertEqual(self.editor.patch(url, data={"cron": "* * * * *"}).status_code, 415)
        self.assertEqual(self.stored().get(schedule["id"]).cron, "0 7 * * *")

    def test_a_manager_edits_someone_elses_schedule_which_stays_theirs(self):
        schedule = self.schedule()
        url = f"@report-schedules/{schedule['id']}"
        changed = self.manager.patch(url, json={"parameters": {"max_items": 9}})
        self.assertEqual(changed.status_code, 200, changed.text)
        self.assertEqual((changed.json()["owner"], changed.json()["parameters"]),
                         ("editor", {"max_items": 9}))

    def test_pause_and_resume(self):
        url = f"@report-schedules/{self.schedule()['id']}"
        paused = self.editor.post(f"{url}/pause")
        self.assertEqual(paused.status_code, 200, paused.text)
        self.assertEqual((paused.json()["enabled"], paused.json()["paused_reason"]),
                         (False, "paused by editor"))
        resumed = self.manager.post(f"{url}/resume").json()
        self.assertEqual((resumed["enabled"], resumed["paused_reason"]), (True, None))
        self.assertRegex(resumed["next_run"], ISO_UTC)

    def test_run_now_queues_its_job_as_the_owner(self):
        schedule = self.schedule()
        url = f"@report-schedules/{schedule['id']}"
        response = self.manager.post(f"{url}/run-now")
        self.assertEqual(response.status_code, 201, response.text)
        job = response.json()
        self.assertEqual(response.headers["Location"], job["@id"])
        self.assertEqual((job["owner"], job["format"], job["parameters"], job["state"]),
                         ("editor", "csv", {"max_items": 50}, "queued"))
        shown = self.editor.get(url).json()
        self.assertEqual(shown["last_job"], {"@id": job["@id"], "id": job["id"]})
        self.assertEqual(shown["next_run"], schedule["next_run"])  # its next tick stays
        self.assertRegex(shown["last_run"], ISO_UTC)
        again = self.editor.post(f"{url}/run-now")  # the same job still waits
        self.assertEqual(again.status_code, 200, again.text)
        self.assertEqual(again.json()["id"], job["id"])
        self.assertNotIn("Location", again.headers)

    def test_run_now_refused_for_the_owner_is_409(self):
        schedule = self.schedule()
        transaction.begin()
        self.portal.acl_users.portal_role_manager.assignRolesToPrincipal(["Member"], "editor")
        transaction.commit()
        response = self.manager.post(f"@report-schedules/{schedule['id']}/run-now")
        self.assertEqual(response.status_code, 409, response.text)
        self.assertIn("cannot run now", response.json()["message"])
        self.assertEqual(self.stored().get(schedule["id"]).last_job_id, None)

    def test_delete(self):
        mine, theirs = self.schedule(), self.schedule(self.other)
        self.assertEqual(self.editor.delete(f"@report-schedules/{mine['id']}").status_code,
                         204)
        self.assertEqual(self.editor.get(f"@report-schedules/{mine['id']}").status_code, 404)
        self.assertEqual(self.manager.delete(f"@report-schedules/{theirs['id']}").status_code,
                         204)
        self.assertEqual(len(self.stored()), 0)

    def test_unknown_sub_resources_and_methods(self):
        schedule_id = self.schedule()["id"]
        for method, path in (("post", f"@report-schedules/{schedule_id}/explode"),
                             ("post", f"docs/@report-schedules/{schedule_id}/pause"),
                             ("get", f"@report-schedules/{schedule_id}/pause"),
                             ("patch", "@report-schedules"),
                             ("delete", "@report-schedules"),
                             ("post", f"@report-schedules/{schedule_id}/pause/again")):
            with self.subTest(method=method, path=path):
                self.assertEqual(self.editor.request(method, path).status_code, 404)
        put = self.editor.put("@report-schedules", json={})
        self.assertEqual((put.status_code, put.headers["Allow"]),
                         (405, "GET, POST, PATCH, DELETE"))
        on_item = self.editor.get("docs/@report-schedules")
        self.assertEqual((on_item.status_code, on_item.headers["Allow"]), (405, "POST"))
        self.assertTrue(self.stored().get(schedule_id).enabled)  # a GET changed nothing


class HostileRequestTests(RestTestCase):

    def test_unreadable_bodies_on_every_schedule_endpoint_are_400_or_415(self):
        schedule_id = self.schedule()["id"]
        url = f"@report-schedules/{schedule_id}"
        for method, path in (("patch", url), ("post", f"{url}/pause"),
                             ("post", f"{url}/resume"), ("post", f"{url}/run-now")):
            with self.subTest(method=method, path=path):
                response = self.editor.request(method, path, headers=NO_BOUNDARY)
                self.assertEqual(response.status_code, 400, response.text)
        self.assertEqual(self.editor.patch(url, data=b"[]", headers={
            "Content-Type": "application/json"}).status_code, 400)
        self.assertEqual(self.editor.patch(url, data=b"cron=x", headers={
            "Content-Type": "text/plain"}).status_code, 415)
        response = self.editor.get("@report-schedules", params={"b_size:int": "many"})
        self.assertEqual(response.status_code, 400, response.text)
        self.assertTrue(self.stored().get(schedule_id).enabled)

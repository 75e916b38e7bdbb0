"""Schedules: cron ticks on a time zone's wall clock (DST), missed ticks, and
exactly one firing per tick between racing connections."""

import os
import shutil
import tempfile
import unittest
from datetime import datetime
from zoneinfo import ZoneInfo

import transaction
from ZODB.DB import DB
from ZODB.FileStorage import FileStorage
from ZODB.POSException import ConflictError

from collective.asyncreports.errors import InvalidJobRequest
from collective.asyncreports.errors import InvalidSchedule
from collective.asyncreports.queue import JobQueue
from collective.asyncreports.queue.schedules import RUN_ONCE
from collective.asyncreports.queue.schedules import SKIP
from collective.asyncreports.queue.schedules import Schedule
from collective.asyncreports.queue.schedules import ScheduleBook
from collective.asyncreports.queue.schedules import book_of
from collective.asyncreports.queue.schedules import cron_problem
from collective.asyncreports.queue.schedules import next_tick
from collective.asyncreports.queue.schedules import stored_book
from collective.asyncreports.queue.schedules import timing_problems


BERLIN = ZoneInfo("Europe/Berlin")


def at(text, zone=BERLIN, fold=0):
    """Epoch seconds of a wall time in ``zone`` ('2026-03-29 03:00')."""
    return datetime.fromisoformat(text).replace(tzinfo=zone, fold=fold).timestamp()


def wall(timestamp, zone=BERLIN):
    return datetime.fromtimestamp(timestamp, zone).strftime("%Y-%m-%d %H:%M %Z")


def _schedule(cron="30 2 * * *", timezone="Europe/Berlin", now=None, **options):
    return Schedule("s1", "summary", "/site", {}, "alice", cron, timezone,
                    now=at("2026-01-01 00:00") if now is None else now, **options)


def fire_all(schedule, start, end, step=60.0):
    """The ticks a worker looking every ``step`` seconds fires from start to end."""
    fired, now = [], start
    while now <= end:
        tick = schedule.take_tick(now)
        if tick is not None and tick.time is not None:
            fired.append(tick.time)
        now += step
    return fired


class CheckingTests(unittest.TestCase):
    def test_good_timing_has_no_problems(self):
        self.assertEqual(timing_problems("*/5 * * * *", "UTC", RUN_ONCE), [])
        self.assertEqual(timing_problems("30 2 * * 1-5", "Europe/Berlin", SKIP), [])

    def test_one_message_per_problem(self):
        problems = dict(timing_problems("61 * * * *", "Mars/Olympus", "twice"))
        self.assertEqual(sorted(problems), ["cron", "missed", "timezone"])
        self.assertIn("not a valid cron expression", problems["cron"])
        self.assertIn("not an IANA time zone", problems["timezone"])
        self.assertIn("run-once or skip", problems["missed"])

    def test_cron_needs_five_fields(self):
        self.assertIn("five", cron_problem("* * * * * *"))
        self.assertIn("five", cron_problem("* *"))
        self.assertIn("required", cron_problem(""))
        self.assertIn("required", cron_problem(None))

    def test_cron_that_never_fires(self):
        self.assertIn("never fires", cron_problem("0 0 30 2 *"))

    def test_hostile_time_zones(self):
        for name in ("../../etc/passwd", "/etc/localtime", "Europe/", "x" * 100, "", 5):
            self.assertTrue(dict(timing_problems("* * * * *", name, RUN_ONCE)).get("timezone"),
                            name)

    def test_schedule_refuses_bad_timing(self):
        with self.assertRaises(InvalidSchedule) as caught:
            _schedule(cron="bad", timezone="Nowhere/City")
        self.assertEqual([field for field, _ in caught.exception.errors], ["cron", "timezone"])
        self.assertIsInstance(caught.exception, InvalidJobRequest)

    def test_edit_refuses_bad_timing_and_changes_nothing(self):
        schedule = _schedule()
        with self.assertRaises(InvalidSchedule):
            schedule.edit(cron="0 3 * * *", timezone="Nowhere/City")
        self.assertEqual((schedule.cron, schedule.timezone), ("30 2 * * *", "Europe/Berlin"))

    def test_no_conflict_resolution(self):
        # Two firings of one tick must conflict, never merge.
        self.assertFalse(hasattr(Schedule, "_p_resolveConflict"))


class DaylightSavingTests(unittest.TestCase):
    """Europe/Berlin: 2026-03-29 02:00 -> 03:00, 2026-10-25 03:00 -> 02:00."""

    def test_spring_forward_fires_once_when_the_clock_jumps(self):
        schedule = _schedule(now=at("2026-03-27 12:00"))
        fired = fire_all(schedule, at("2026-03-27 12:00"), at("2026-03-30 12:00"))
        self.assertEqual([wall(tick) for tick in fired], [
            "2026-03-28 02:30 CET", "2026-03-29 03:00 CEST", "2026-03-30 02:30 CEST"])

    def test_fall_back_fires_once_at_the_first_0230(self):
        schedule = _schedule(now=at("2026-10-23 12:00"))
        fired = fire_all(schedule, at("2026-10-23 12:00"), at("2026-10-26 12:00"))
        self.assertEqual([wall(tick) for tick in fired], [
            "2026-10-24 02:30 CEST", "2026-10-25 02:30 CEST", "2026-10-26 02:30 CET"])
        self.assertEqual(fired[2] - fired[1], 25 * 3600)  # the day is 25 hours long

    def test_fall_back_started_in_the_repeated_hour(self):
        # Made at 02:10 of the second pass (CET): 02:30 CEST is past, 02:30
        # CET is the same wall time: it has been, the next is tomorrow's.
        made = at("2026-10-25 02:10", fold=1)
        self.assertEqual(wall(next_tick("30 2 * * *", "Europe/Berlin", made)),
                         "2026-10-26 02:30 CET")

    def test_hourly_on_both_days_fires_each_wall_hour_once(self):
        schedule = _schedule(cron="0 * * * *", now=at("2026-10-25 00:30"))
        fired = fire_all(schedule, at("2026-10-25 00:30"), at("2026-10-25 04:30"))
        self.assertEqual([wall(tick) for tick in fired], [
            "2026-10-25 01:00 CEST", "2026-10-25 02:00 CEST",
            "2026-10-25 03:00 CET", "2026-10-25 04:00 CET"])
        self.assertEqual(len(set(fired)), len(fired))

    def test_utc_has_no_surprises(self):
        self.assertEqual(next_tick("0 0 * * *", "UTC", 0.0), 86400.0)


class MissedTickTests(unittest.TestCase):
    def _hourly(self, missed):
        schedule = _schedule(cron="0 * * * *", missed=missed, now=at("2026-05-01 09:30"))
        self.assertEqual(wall(schedule.next_run), "2026-05-01 10:00 CEST")
        return schedule

    def test_on_time_tick_fires(self):
        for policy in (RUN_ONCE, SKIP):
            tick = self._hourly(policy).take_tick(at("2026-05-01 10:00") + 5)
            self.assertEqual((wall(tick.time), tick.missed), ("2026-05-01 10:00 CEST", 0))

    def test_nothing_due_is_none_and_writes_nothing(self):
        schedule = self._hourly(RUN_ONCE)
        before = schedule.next_run
        self.assertIsNone(schedule.take_tick(at("2026-05-01 09:59")))
        self.assertEqual(schedule.next_run, before)

    def test_run_once_after_all_workers_were_down(self):
        schedule = self._hourly(RUN_ONCE)
        tick = schedule.take_tick(at("2026-05-01 13:20"))
        # One job, for the latest tick; 10:00, 11:00 and 12:00 counted as missed.
        self.assertEqual((wall(tick.time), tick.missed), ("2026-05-01 13:00 CEST", 3))
        self.assertEqual(wall(schedule.next_run), "2026-05-01 14:00 CEST")
        self.assertIsNone(schedule.take_tick(at("2026-05-01 13:21")))

    def test_skip_after_all_workers_were_down(self):
        schedule = self._hourly(SKIP)
        tick = schedule.take_tick(at("2026-05-01 13:20"))
        self.assertIsNone(tick.time)
        self.assertEqual(tick.missed, 4)
        self.assertEqual(wall(schedule.next_run), "2026-05-01 14:00 CEST")
        self.assertEqual(wall(schedule.take_tick(at("2026-05-01 14:00")).time),
                         "2026-05-01 14:00 CEST")

    def test_paused_does_not_fire_and_resume_misses_nothing_up(self):
        schedule = self._hourly(RUN_ONCE)
        schedule.pause("paused by admin")
        self.assertIsNone(schedule.take_tick(at("2026-05-02 09:00")))
        self.assertEqual(schedule.paused_reason, "paused by admin")
        schedule.resume(at("2026-05-02 09:10"))
        self.assertEqual(wall(schedule.next_run), "2026-05-02 10:00 CEST")
        self.assertEqual(schedule.paused_reason, "")


class BookTests(unittest.TestCase):
    def test_overdue_and_next_due(self):
        book = ScheduleBook()
        early = book.add(Schedule("a", "r", "/", {}, "u", "0 * * * *", now=0.0))
        book.add(Schedule("b", "r", "/", {}, "u", "0 0 * * *", now=0.0))
        self.assertEqual(book.next_due(), 3600.0)
        self.assertEqual(book.due(3600.0), [early])
        self.assertEqual(book.overdue(3600.0 + 30, grace=60), [])
        self.assertEqual(book.overdue(3600.0 + 61, grace=60), [early])
        early.pause("x")
        self.assertEqual(book.overdue(3600.0 + 61, grace=60), [])

    def test_reading_a_queue_without_schedules_does_not_write_it(self):
        jobs = JobQueue()
        self.assertEqual(len(book_of(jobs)), 0)
        self.assertFalse(hasattr(jobs, "_schedules"))
        self.assertIs(stored_book(jobs), stored_book(jobs))


class HealthTests(unittest.TestCase):
    def test_health_reports_an_overdue_schedule(self):
        from collective.asyncreports.cli.health import queue_problems

        jobs = JobQueue()
        stored_book(jobs).add(Schedule("s1", "summary", "/", {}, "alice", "0 * * * *",
                                       now=0.0))
        on_time = queue_problems("/q", jobs, 3600.0 + 10, max_wait=300)
        self.assertFalse([line for line in on_time if "schedule" in line])
        late = [line for line in queue_problems("/q", jobs, 3600.0 + 400, max_wait=300)
                if "schedule" in line]
        self.assertEqual(late, ["queue /q: schedule s1 (summary) is overdue: its tick of "
                                "1970-01-01T01:00:00Z has not fired for 400s (more than 300s)"])


T0 = at("2026-05-01 09:30")
TICK = at("2026-05-01 10:00")


class RaceTests(unittest.TestCase):
    """Two workers' connections to one FileStorage, each firing the way
    ``scheduling.fire_due`` does: take the tick, queue its job, commit."""

    def setUp(self):
        tmpdir = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, tmpdir, ignore_errors=True)
        self.db = DB(FileStorage(os.path.join(tmpdir, "Data.fs")))
        self.addCleanup(self.db.close)
        tm, jobs = self._open()
        book = stored_book(jobs)
        for name in ("a", "b"):
            book.add(Schedule(name, "summary", "/site", {}, "alice", "0 * * * *",
                              timezone="Europe/Berlin", now=T0))
        tm.commit()

    def _open(self):
        tm = transaction.TransactionManager()
        connection = self.db.open(tm)
        self.addCleanup(connection.close)
        self.addCleanup(tm.abort)
        root = connection.root()
        if "queue" not in root:
            root["queue"] = JobQueue()
        return tm, root["queue"]

    def _fire(self, jobs, schedule_id, now):
        schedule = book_of(jobs).get(schedule_id)
        tick = schedule.take_tick(now)
        if tick is None:
            return None
        job = jobs.enqueue("summary", "/site", {}, "alice", now=now)
        job.schedule_id, job.schedule_tick = schedule_id, tick.time
        schedule.fired(tick.time, job.id, now)
        return job.id

    def _jobs_of(self, schedule_id):
        tm, jobs = self._open()
        return [job for job in jobs._jobs.values() if job.schedule_id == schedule_id]

    def test_two_workers_fire_one_tick_once(self):
        tm1, jobs1 = self._open()
        tm2, jobs2 = self._open()
        self.assertIsNotNone(self._fire(jobs1, "a", TICK + 1))
        self.assertIsNotNone(self._fire(jobs2, "a", TICK + 2))  # saw the old next_run
        tm1.commit()
        with self.assertRaises(ConflictError):
            tm2.commit()  # the job indexes would merge: the schedule does not
        tm2.abort()
        # The retry sees next_run moved on and fires nothing.
        self.assertIsNone(self._fire(jobs2, "a", TICK + 3))
        tm2.commit()
        fired = self._jobs_of("a")
        self.assertEqual([job.schedule_tick for job in fired], [TICK])
        self.assertEqual(len(jobs2), 1)

    def test_two_schedules_fire_side_by_side(self):
        # No hot spot but the schedule being fired: firing two at once commits both.
        tm1, jobs1 = self._open()
        tm2, jobs2 = self._open()
        self._fire(jobs1, "a", TICK + 1)
        self._fire(jobs2, "b", TICK + 1)
        tm1.commit()
        tm2.commit()
        self.assertEqual(len(self._jobs_of("a")), 1)
        self.assertEqual(len(self._jobs_of("b")), 1)

    def test_many_racers_over_many_ticks(self):
        actors = [self._open() for _ in range(4)]
        fired = 0
        for hour in range(5):
            now = TICK + hour * 3600 + 5
            pending = [(tm, self._fire(jobs, "a", now)) for tm, jobs in actors]
            for tm, job_id in pending:
                try:
                    tm.commit()
                except ConflictError:
                    tm.abort()
                else:
                    fired += job_id is not None
        ticks = [job.schedule_tick for job in self._jobs_of("a")]
        self.assertEqual(fired, 5)
        self.assertEqual(sorted(ticks), [TICK + hour * 3600 for hour in range(5)])


if __name__ == "__main__":
    unittest.main()

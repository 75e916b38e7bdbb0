"""Schedules over real processes: 4 workers, an every-minute schedule, exactly one
job per tick, also while workers are SIGKILLed and the ZEO server restarts;
missed ticks after all workers were down run once or are skipped.

The workers' wall clock runs SPEED times fast (tests/addons/clockfast), so
five schedule minutes take 300 / SPEED real seconds; the test reads the same
clock (``now``) and judges by the ticks the fired jobs record.
"""

import re
import signal
import time
import unittest

from collective.asyncreports.queue.schedules import SKIP
from collective.asyncreports.queue.schedules import Schedule
from collective.asyncreports.queue.schedules import book_of
from collective.asyncreports.queue.schedules import stored_book
from tests.addons.clockfast.sitecustomize import fast_time
from tests.processes import ADDONS
from tests.processes import System


CLOCK_FAST = ADDONS / "clockfast"
SPEED = 10.0
MINUTE = 60.0


class ScheduleSystemTestCase(unittest.TestCase):
    def setUp(self):
        # Leases in fast seconds: 300 is 30 real seconds, far longer than a noop.
        self.system = System(lease_seconds=300)
        self.addCleanup(self.system.close)
        self.origin = time.time()
        self.env = {"PYTHONPATH": f"{CLOCK_FAST}:{self.system.instance.env['PYTHONPATH']}",
                    "ASYNCREPORTS_TEST_CLOCK_ORIGIN": repr(self.origin),
                    "ASYNCREPORTS_TEST_CLOCK_SPEED": repr(SPEED)}

    def now(self):
        return fast_time(time.time(), self.origin, SPEED)

    def start_workers(self, count, prefix="w"):
        workers = [self.system.start_worker(name=f"{prefix}{number}", env=self.env)
                   for number in range(count)]
        for worker in workers:
            self.system.wait_for_log(worker, "serving /asyncreports")
        return workers

    def add_schedule(self, schedule_id, missed="run-once", path="/"):
        # Two schedules of one owner differ (path): identical jobs would be one.
        with self.system.queue() as queue:
            schedule = stored_book(queue.job_queue()).add(Schedule(
                schedule_id, "noop", path, {}, "admin", "* * * * *", "Europe/Berlin",
                missed=missed, queue_path="/asyncreports", now=self.now()))
            return schedule.next_run

    def wait_until(self, fast_moment):
        """Sleep until the fast clock reads ``fast_moment``."""
        time.sleep(max(0.0, (fast_moment - self.now()) / SPEED))

    def fired(self, schedule_id):
        """[(tick, job id, history detail)] of the jobs the schedule queued, by tick."""
        with self.system.queue() as queue:
            jobs = queue.job_queue()
            return sorted((job.schedule_tick, job.id, next(
                event["detail"] for event in job.history if event["event"] == "scheduled"))
                for job in jobs._jobs.values() if job.schedule_id == schedule_id)

    def wait_for_tick(self, schedule_id, tick, timeout=20):
        try:
            return self.system.wait_for(
                lambda: any(fired_tick == tick for fired_tick, _, _ in self.fired(schedule_id)),
                timeout, f"schedule {schedule_id}'s job of tick {tick}")
        except AssertionError as exc:
            logs = "\n".join(f"--- {worker.name}\n{self.system.worker_log(worker)[-1500:]}"
                             for worker in self.system.workers)
            raise AssertionError(f"{exc}; fired: {self.fired(schedule_id)}\n{logs}") from None

    def firing_seconds(self):
        """Seconds each firing's write step took (checks, queuing, commit), from the logs."""
        logs = self.system.home / "var" / "log"
        return sorted(float(seconds) for log in logs.glob("*.out") for seconds in
                      re.findall(r"fired job \S+ \(.*?\) in ([0-9.]+)s", log.read_text()))

    def kill_all(self, workers):
        for worker in workers:
            self.system.stop_worker(worker, sig=signal.SIGKILL)


class ExactlyOnceTests(ScheduleSystemTestCase):
    def run_five_minutes(self, faults=None):
        """4 workers, an every-minute schedule: its 5 ticks; ``faults`` maps a tick
        number to what to do once its job is queued."""
        workers = self.start_workers(4)
        self.lateness = []  # fast seconds from each tick to the test seeing its job
        first = self.add_schedule("every-minute")
        ticks = [first + number * MINUTE for number in range(5)]
        started = time.monotonic()
        for number, tick in enumerate(ticks):
            self.wait_until(tick)
            self.wait_for_tick("every-minute", tick)
            self.lateness.append(self.now() - tick)
            for fault in (faults or {}).get(number, ()):
                workers = fault(workers)
        # Half a minute past the fifth tick, before the sixth: stop, then count.
        self.wait_until(ticks[-1] + MINUTE / 2)
        self.kill_all(list(self.system.workers))
        fired = self.fired("every-minute")
        self.assertEqual([tick for tick, _, _ in fired], ticks, fired)
        self.assertEqual(len({job_id for _, job_id, _ in fired}), 5)
        with self.system.queue() as queue:
            schedule = book_of(queue.job_queue()).get("every-minute")
            self.assertEqual(schedule.fired_count, 5)
            self.assertEqual(schedule.next_run, ticks[-1] + MINUTE)
            done = queue.job_queue().stats()["done"]
        return time.monotonic() - started, done

    def test_four_workers_fire_each_tick_exactly_once(self):
        seconds, done = self.run_five_minutes()
        self.assertEqual(done, 5)
        firings = self.firing_seconds()
        self.assertEqual(len(firings), 5)
        print(f"\n  4 workers, 5 schedule minutes in {seconds:.1f}s: 5 jobs, one per tick; "
              f"fast seconds from tick to job seen: {[round(x) for x in self.lateness]}; "
              f"each firing's step (real seconds): {firings}")

    def test_exactly_once_while_workers_are_killed_and_zeo_restarts(self):
        """SIGKILL two workers (two new ones start: a worker takes ~15 s to boot
        here, so never all at once, or ticks are missed and run once), restart
        the ZEO server, then SIGKILL the other two original workers."""
        system = self.system

        def kill_two_start_two(workers):
            for worker in workers[:2]:
                system.stop_worker(worker, sig=signal.SIGKILL)
            return workers[2:] + [system.start_worker(name=f"again{number}", env=self.env)
                                  for number in range(2)]

        def restart_zeo(workers):
            system.restart_zeo(down_seconds=1.0)
            return workers

        def kill_the_first_two_left(workers):
            for worker in workers[:2]:
                system.stop_worker(worker, sig=signal.SIGKILL)
            return workers[2:]

        seconds, _ = self.run_five_minutes(
            {0: [kill_two_start_two], 2: [restart_zeo], 3: [kill_the_first_two_left]})
        print(f"\n  5 ticks with 4 SIGKILLs and a ZEO restart in {seconds:.1f}s: 5 jobs; "
              f"fast seconds from tick to job seen: {[round(x) for x in self.lateness]}")


class MissedTickTests(ScheduleSystemTestCase):
    def test_all_workers_down_run_once_or_skip(self):
        """Every worker down for several ticks (a worker takes ~15 real seconds,
        150 schedule seconds, to boot here): run-once fires one job for the
        latest missed tick, skip none, both the next tick again."""
        workers = self.start_workers(2)
        first = self.add_schedule("run-once")
        self.add_schedule("skip", missed=SKIP, path="/acl_users")
        self.wait_until(first)
        for schedule_id in ("run-once", "skip"):
            self.wait_for_tick(schedule_id, first)
            # Done before the outage: a job still waiting would stand for the
            # catch-up tick (an identical job of the owner: submission's dedup).
            self.system.wait_for_state(self.fired(schedule_id)[0][1], "done")
        self.kill_all(workers)
        self.wait_until(first + 2.5 * MINUTE)
        self.start_workers(2, prefix="back")
        caught_up = self.system.wait_for(
            lambda: [tick for tick, _, _ in self.fired("run-once") if tick > first],
            30, "the run-once schedule's job after the outage")[0]
        following = caught_up + MINUTE
        self.wait_until(following)
        for schedule_id in ("run-once", "skip"):
            self.wait_for_tick(schedule_id, following)
        self.kill_all(list(self.system.workers))
        run_once, skip = self.fired("run-once"), self.fired("skip")
        missed = round((caught_up - first) / MINUTE) - 1
        self.assertGreaterEqual(missed, 2)
        self.assertEqual([tick for tick, _, _ in run_once][:3], [first, caught_up, following])
        self.assertIn(f"({missed} missed tick(s) run once)", run_once[1][2])
        self.assertEqual([tick for tick, _, _ in skip][:2], [first, following])
        print(f"\n  all workers down for {missed + 1} ticks: run-once fired 1 job for them, "
              "skip none")


if __name__ == "__main__":
    unittest.main()

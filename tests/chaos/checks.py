"""The invariants checked at the end of the chaos soak, each PASS or FAIL with numbers."""

import collections
import io
import re
import subprocess
import sys
import time

import pypdf

from collective.asyncreports.queue import ALL_STATES
from collective.asyncreports.queue import CANCELLED
from collective.asyncreports.queue import DONE
from collective.asyncreports.queue import FAILED
from collective.asyncreports.queue import FINAL_STATES
from collective.asyncreports.queue.schedules import book_of
from tests.processes import queue_in


EXAMPLES = 5  # failing items named per check
BIG_PDF = 50 * 1024


class Check:
    def __init__(self, name, ok, detail, problems=()):
        self.name, self.ok, self.detail = name, bool(ok), detail
        self.problems = list(problems)

    def lines(self):
        yield f"{'PASS' if self.ok else 'FAIL'}  {self.name}: {self.detail}"
        for problem in self.problems[:EXAMPLES]:
            yield f"        {problem}"
        if len(self.problems) > EXAMPLES:
            yield f"        ... and {len(self.problems) - EXAMPLES} more"


def read_record(path):
    """The submitter's record: {key: job id} committed, and [(key, id)] maybe committed."""
    committed, maybe = {}, []
    with open(path) as record:
        for line in record:
            parts = line.split()
            if len(parts) != 3:
                continue  # a line cut short cannot happen (the submitter is not killed)
            mark, key, job_id = parts
            if mark == "C":
                committed[key] = job_id
            elif mark == "M":
                maybe.append((key, job_id))
    return committed, maybe


class Facts:
    """What the database holds at the end, read once over ZEO."""

    def __init__(self, db):
        started = time.monotonic()
        with queue_in(db) as queue:
            jobs = queue.job_queue()
            self.stats = jobs.stats()
            self.jobs = {}
            for job in jobs._jobs.values():  # every job, not a page of them
                self.jobs[job.id] = {
                    "id": job.id, "state": job.state, "key": job.params.get("key"),
                    "kind": job.params.get("kind"), "result_path": job.result_path,
                    "error_path": job.error_path, "error_message": job.error_message,
                    "attempts": job.attempts,
                    "last_event": job.history[-1]["event"] if job.history else None,
                    "schedule_id": job.schedule_id, "schedule_tick": job.schedule_tick,
                    "scheduled": next((event["detail"] for event in job.history
                                       if event["event"] == "scheduled"), None),
                }
                job._p_deactivate()
            self.schedules = {schedule.id: schedule.as_dict()
                              for schedule in book_of(jobs)}
            self.objects = {}  # object id -> (path, content type, size, problem or None)
            folder = queue.result_store().folder()
            for object_id in folder.objectIds():
                stored = folder._getOb(object_id)
                path = "/".join(stored.getPhysicalPath())
                data = bytes(stored.data)
                self.objects[object_id] = {
                    "path": path, "type": stored.content_type, "size": len(data),
                    "problem": self._look_at(object_id, stored.content_type, data)}
                stored._p_deactivate()
        self.seconds = time.monotonic() - started

    def _look_at(self, object_id, content_type, data):
        """None if a stored object reads as what it claims to be and names its job."""
        job = self.jobs.get(object_id.split("-", 1)[0])
        if job is None:
            return None  # an orphan; its own check names it
        if content_type == "application/pdf":
            try:
                reader = pypdf.PdfReader(io.BytesIO(data))
                text = reader.pages[0].extract_text()
            except Exception as exc:  # pypdf raises many types on a bad file
                return f"unreadable PDF ({type(exc).__name__}: {exc})"
            if f"chaos job {job['key']}" not in text:
                return f"the PDF does not name job {job['key']}: {text[:80]!r}"
            return None
        text = data.decode("utf-8", "replace")
        if job["id"] not in text or (job["error_message"] or "?") not in text:
            return f"the error log does not name its job and its error: {text[:80]!r}"
        return None


def check_submitter(code, target, committed, maybe):
    return Check(
        "the submitter queued every job and exited 0",
        code == 0 and len(committed) >= target,
        f"exit code {code}, {len(committed)} of {target} jobs committed, "
        f"{len(maybe)} commit(s) with unknown outcome")


def check_jobs_exist(facts, committed, maybe):
    missing = [f"{key}: job {job_id} committed but not in the queue"
               for key, job_id in committed.items() if job_id not in facts.jobs]
    doubles = [f"{key}: maybe-committed {job_id} exists besides {committed.get(key)}"
               for key, job_id in maybe if job_id in facts.jobs and committed.get(key) != job_id]
    found = sum(1 for _, job_id in maybe if job_id in facts.jobs)
    return Check(
        "every committed job is in the queue; unknown outcomes resolved without doubles",
        not missing and not doubles,
        f"{len(committed) - len(missing)} of {len(committed)} committed jobs found; of "
        f"{len(maybe)} unknown outcomes {found} had committed, {len(maybe) - found} had not",
        missing + doubles)


def check_one_job_per_key(facts, committed, maybe):
    submitted_jobs = [job for job in facts.jobs.values() if job["schedule_id"] is None]
    by_key = collections.Counter(job["key"] for job in submitted_jobs)
    submitted = set(committed) | {key for key, _ in maybe}
    problems = [f"{key}: {count} jobs" for key, count in by_key.items() if count > 1]
    problems += [f"job {job['id']} has key {job['key']!r}, which the submitter never sent"
                 for job in submitted_jobs if job["key"] not in submitted]
    return Check(
        "one job per submitted key, no job nobody submitted",
        not problems and len(submitted_jobs) == len(committed),
        f"{len(submitted_jobs)} jobs in the queue for {len(committed)} committed keys "
        f"(besides {len(facts.jobs) - len(submitted_jobs)} fired by schedules)",
        problems)


def check_schedule_ticks(facts, every=60.0):
    """Each tick of the every-minute schedules fired exactly once: no tick has two
    jobs, every job's tick is one of the cron's, and the schedule counted each
    job it fired (``fired_count`` also counts a tick whose identical job still
    waited and stood for it: submission's dedup)."""
    problems, fired, missed = [], 0, 0
    for schedule_id, schedule in sorted(facts.schedules.items()):
        jobs = [job for job in facts.jobs.values() if job["schedule_id"] == schedule_id]
        ticks = collections.Counter(job["schedule_tick"] for job in jobs)
        problems += [f"schedule {schedule_id}: tick {tick:.0f} fired {count} jobs"
                     for tick, count in ticks.items() if count > 1]
        problems += [f"schedule {schedule_id}: tick {tick} is no minute"
                     for tick in ticks if tick is None or tick % every]
        if len(jobs) > schedule["fired_count"]:
            problems.append(f"schedule {schedule_id}: {len(jobs)} jobs, but it fired "
                            f"{schedule['fired_count']} ticks")
        if not jobs:
            problems.append(f"schedule {schedule_id} fired no job")
        fired += len(jobs)
        missed += sum(int(re.search(r"\((\d+) missed", job["scheduled"] or "").group(1))
                      for job in jobs if "missed" in (job["scheduled"] or ""))
    return Check(
        "each schedule tick fired exactly once (never twice, whichever worker took it)",
        not problems and facts.schedules,
        f"{len(facts.schedules)} schedule(s), {fired} jobs for {fired} distinct ticks "
        f"of {sum(s['fired_count'] for s in facts.schedules.values())} ticks taken (the "
        "others' identical job still waited and stood for them); "
        f"{missed} ticks missed while no worker could fire, run once with a later tick",
        problems)


def check_final(facts):
    states = collections.Counter(job["state"] for job in facts.jobs.values())
    open_jobs = [f"job {job['id']} ({job['key']}) is {job['state']}"
                 for job in facts.jobs.values() if job["state"] not in FINAL_STATES]
    return Check(
        "every job is done, failed or cancelled",
        not open_jobs,
        ", ".join(f"{states[state]} {state}" for state in ALL_STATES),
        open_jobs)


def check_counts(facts):
    states = collections.Counter(job["state"] for job in facts.jobs.values())
    wrong = [f"{state}: the queue counts {facts.stats[state]}, the jobs say {states[state]}"
             for state in ALL_STATES if facts.stats[state] != states[state]]
    return Check("the queue's counters match its jobs", not wrong,
                 f"total {facts.stats['total']}, jobs {len(facts.jobs)}", wrong)


def check_outcomes(facts):
    """``raise`` jobs fail with an error log; every other job is done.

    A job whose every attempt was cut short by a fault (its worker killed,
    its lease reaped) may fail "abandoned", but with an error log like any
    failed job (docs/admin/guarantees.rst: exactly one visible result); those are
    counted, not failed.
    """
    problems = []
    abandoned = collections.Counter()
    for job in facts.jobs.values():
        name = f"job {job['id']} ({job['key']}, {job['kind']}, {job['attempts']} attempts)"
        if job["state"] == CANCELLED:
            problems.append(f"{name} was cancelled; nobody asked")
        elif job["state"] == FAILED and not job["error_path"]:
            problems.append(f"{name} failed without an error log: {job['error_message']}")
        elif job["state"] == FAILED and (job["error_message"] or "").startswith("abandoned"):
            abandoned[job["kind"]] += 1
        elif job["kind"] == "raise" and job["state"] == DONE:
            problems.append(f"{name} should have failed but is done")
        elif job["kind"] != "raise" and job["state"] == FAILED:
            problems.append(f"{name} failed: {job['error_message']}")
    kinds = collections.Counter((job["kind"], job["state"]) for job in facts.jobs.values())
    detail = ", ".join(f"{kind} {state} {count}" for (kind, state), count in sorted(kinds.items()))
    detail += f"; abandoned (every attempt cut short by a fault): {sum(abandoned.values())}"
    if abandoned:
        detail += f" ({', '.join(f'{k} {n}' for k, n in sorted(abandoned.items()))})"
    return Check("outcomes fit the jobs: raise -> failed with error log, others -> done",
                 not problems, detail, problems)


def check_results(facts):
    by_job = collections.defaultdict(list)
    orphans = []
    for object_id, stored in facts.objects.items():
        job_id = object_id.split("-", 1)[0]
        if job_id in facts.jobs:
            by_job[job_id].append(stored["path"])
        else:
            orphans.append(f"{stored['path']}: no job {job_id}")
    problems = []
    for job in facts.jobs.values():
        expected = []
        if job["state"] == DONE:
            expected = [job["result_path"]]
        elif job["state"] == FAILED and job["error_path"]:
            expected = [job["error_path"]]
        found = sorted(by_job.get(job["id"], []))
        if found != expected:
            problems.append(f"job {job['id']} ({job['key']}, {job['state']}): expected "
                            f"{expected or 'nothing'}, found {found or 'nothing'}")
    results = sum(1 for s in facts.objects.values() if s["type"] == "application/pdf")
    return Check(
        "exactly one result per done job, one error log per failed job, none without its job",
        not problems and not orphans,
        f"{len(facts.objects)} objects in the results folder: {results} PDFs, "
        f"{len(facts.objects) - results} error logs; {len(orphans)} without a job",
        orphans + problems)


def check_readable(facts):
    problems = [f"{stored['path']}: {stored['problem']}"
                for stored in facts.objects.values() if stored["problem"]]
    sizes = [facts.objects[job["result_path"].rsplit("/", 1)[-1]]["size"]
             for job in facts.jobs.values()
             if job["kind"] == "pdf" and job["state"] == DONE
             and job["result_path"].rsplit("/", 1)[-1] in facts.objects]
    small = sum(1 for size in sizes if size < BIG_PDF)
    if small:
        problems.append(f"{small} PDF(s) of pdf jobs are below {BIG_PDF // 1024} KB")
    detail = (f"all {len(facts.objects)} opened (pypdf; each names its job), "
              f"{len(problems)} bad; {len(sizes)} big PDFs of "
              f"{min(sizes, default=0) // 1024}-{max(sizes, default=0) // 1024} KB; "
              f"read in {facts.seconds:.0f}s")
    return Check("every stored PDF and error log is readable and names its job",
                 not problems, detail, problems)


def check_worker_exits(exits):
    kinds = collections.Counter()
    problems = []
    for gone in exits:
        if gone.ok:
            kinds["SIGKILLed by the soak" if gone.asked == "SIGKILL" else "SIGTERM -> exit 0"] += 1
            continue
        kinds["bad"] += 1
        problems.append(gone.describe() + "\n" + indent(gone.excerpt))
    detail = ", ".join(f"{count} {kind}" for kind, count in sorted(kinds.items())) or "none"
    return Check("every worker exit was asked for (SIGTERM -> 0, SIGKILL ours, no crash)",
                 not problems, f"{len(exits)} exits: {detail}", problems)


THREAD_CRASH = re.compile(r"^Exception in thread .*$", re.M)
EXCEPTION_LINE = re.compile(r"^(\w+(?:\.\w+)*(?:Error|Exception|Disconnected|Interrupt)\b.*)$",
                            re.M)


def check_thread_crashes(logs):
    problems = []
    for log in logs:
        text = log.read_text(errors="replace") if log.exists() else ""
        for match in THREAD_CRASH.finditer(text):
            tail = text[match.start():match.start() + 2000]
            last = EXCEPTION_LINE.findall(tail)
            problems.append(f"{log.name}: {match.group(0)} -> {last[0] if last else '?'}")
    return Check("no uncaught exception in a worker thread", not problems,
                 f"{len(problems)} in {len(logs)} worker logs", problems)


def exception_summary(logs, top=12):
    """The exception lines worker logs show (in tracebacks they logged), with counts."""
    counts = collections.Counter()
    for log in logs:
        text = log.read_text(errors="replace") if log.exists() else ""
        for line in EXCEPTION_LINE.findall(text):
            counts[re.sub(r"0x[0-9a-f]+|\b[0-9a-f]{17}\b|\d+(\.\d+)?", "N", line)[:160]] += 1
    return [f"{count:6d}  {line}" for line, count in counts.most_common(top)]


def check_drained(drained, seconds, stats):
    return Check("the queue drained after the faults stopped", drained,
                 f"{'in' if drained else 'not within'} {seconds:.0f}s; last counts {stats}")


def check_fstest(data_fs):
    """ZODB's fstest on the FileStorage (the ZEO server stopped)."""
    run = subprocess.run([sys.executable, "-m", "ZODB.scripts.fstest", str(data_fs)],
                         capture_output=True, text=True)
    output = (run.stdout + run.stderr).strip()
    size = data_fs.stat().st_size / 2**20 if data_fs.exists() else 0
    return Check("fstest finds Data.fs clean", run.returncode == 0 and not output,
                 f"exit code {run.returncode}, Data.fs {size:.0f} MB",
                 output.splitlines()[:EXAMPLES])


def check_postgresql(instance):
    """PostgreSQL's amcheck would need the contrib extension; that the server stopped
    cleanly (exit code 0 after its fast shutdown) stands for fstest on PostgreSQL."""
    log = instance.var / "log" / "postgresql.out"
    text = log.read_text(errors="replace") if log.exists() else ""
    clean = "database system is shut down" in text.splitlines()[-1] if text else False
    return Check("PostgreSQL shut down cleanly at the end", clean,
                 "its log ends with 'database system is shut down'" if clean
                 else "its log does not end with a clean shutdown",
                 text.splitlines()[-EXAMPLES:])


def indent(text, prefix="          | "):
    return "\n".join(prefix + line for line in text.splitlines())

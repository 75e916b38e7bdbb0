"""The processes of the chaos soak: a database server and workers, each signalled by PID.

The database server is ZEO's, or PostgreSQL's with STORAGE=postgresql (its
"zeo" methods below then act on PostgreSQL: the fault kinds keep their names).

``Cluster`` knows, for every worker, which signal the soak sent it, so an
exit can be judged: SIGKILL is ours, SIGTERM must end in exit code 0, and
any exit nobody asked for is a crash.
"""

import os
import signal
import time

from collective.asyncreports.dev.processes import kill_server


WORKER_ARGS = ("--poll-interval", "1", "--concurrency", "2")
# A worker told to stop may take its grace (30 s), the last write's wait for
# the database (10 s) and a stuck thread's wait (10 s); this is well past them.
STOP_TIMEOUT = 90.0
LOG_TAIL_LINES = 14


def log_tail(path, lines=LOG_TAIL_LINES):
    """The last ``lines`` lines of a log file, or "" if it does not exist."""
    try:
        with open(path, "rb") as log:
            log.seek(0, os.SEEK_END)
            log.seek(max(0, log.tell() - 64 * 1024))
            text = log.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def crash_summary(path):
    """The last traceback of a log in short: this product's frames and the exception."""
    tail = log_tail(path, lines=400)
    start = tail.rfind("Traceback (most recent call last):")
    if start < 0:
        return log_tail(path)
    lines = tail[start:].splitlines()
    ours = []
    for number, line in enumerate(lines):
        if line.lstrip().startswith("File ") and "collective/asyncreports" in line:
            code = lines[number + 1].strip() if number + 1 < len(lines) else ""
            ours.append(f"{line.strip()}: {code}")
    final = [line for line in lines if line and not line.startswith((" ", "Traceback"))
             and not line[:4].isdigit()]
    return "\n".join([*ours, *(final[-1:] or lines[-1:]), f"(whole log: {path})"])


class Worker:
    """One worker process and what the soak did to it."""

    def __init__(self, process, name, log):
        self.process, self.name, self.log = process, name, log
        self.started = time.monotonic()
        self.ready = False  # it logged "serving": signal handlers are installed
        self.paused = False  # SIGSTOP sent, SIGCONT not yet
        self.asked = None  # "SIGTERM" or "SIGKILL", once the soak sent one
        self.asked_at = None
        self._log_offset = 0

    @property
    def pid(self):
        return self.process.pid

    def alive(self):
        return self.process.poll() is None

    def check_ready(self):
        """Read new log lines; True once the worker said it is serving."""
        if not self.ready:
            try:
                with open(self.log, "rb") as log:
                    log.seek(self._log_offset)
                    new = log.read()
            except OSError:
                return False
            # Keep a partial last line for the next read.
            cut = new.rfind(b"\n") + 1
            self._log_offset += cut
            if b"] worker " in new[:cut] and b" serving " in new[:cut]:
                self.ready = True
        return self.ready

    def usable(self):
        """A target for a fault: running, serving, not paused, not told to stop."""
        return self.alive() and self.check_ready() and not self.paused and self.asked is None


class Exit:
    """How a worker process ended, and whether that was asked for."""

    def __init__(self, worker, seconds, phase):
        self.name = worker.name
        self.pid = worker.pid
        self.asked = worker.asked
        self.code = worker.process.returncode
        self.lived = seconds
        self.phase = phase  # "soak", "drain" or "final stop"
        self.hung = False
        self.log = worker.log
        self.served = worker.check_ready()
        if self.asked == "SIGKILL":
            self.ok = self.code == -signal.SIGKILL
        elif self.asked == "SIGTERM":
            # A worker still booting has no handler yet: SIGTERM's default ends it.
            self.ok = self.code == 0 or (self.code == -signal.SIGTERM
                                         and not worker.check_ready())
        else:
            self.ok = False
        self.excerpt = "" if self.ok else crash_summary(worker.log)

    def describe(self):
        asked = self.asked or "nothing (it exited on its own)"
        hung = " and did not exit in time (SIGKILLed)" if self.hung else ""
        served = "" if self.served else " (before it logged 'serving')"
        return (f"{self.name} (pid {self.pid}) exited with code {self.code} during the "
                f"{self.phase} after {self.lived:.0f}s{served}; the soak had sent {asked}{hung}")


class Cluster:
    """The ZEO server and the workers of one Instance; every signal goes by PID."""

    def __init__(self, instance, say, workers=3):
        self.instance = instance
        self.say = say
        self.size = workers
        self.workers = []
        self.exits = []
        self.started_workers = 0
        self.zeo_paused = False
        self.zeo_starts = 0
        self.zeo_start_failures = []

    # -- ZEO --------------------------------------------------------------------------

    def zeo(self):
        name = self.instance.database_name
        return next((p for p in self.instance.processes if p.name == name), None)

    def zeo_up(self):
        zeo = self.zeo()
        return zeo is not None and zeo.poll() is None

    def kill_zeo(self):
        zeo = self.zeo()
        kill_server(zeo)  # PostgreSQL's children too, waiting for them (30 s at most)
        self.instance.processes.remove(zeo)
        self.zeo_paused = False

    def start_zeo(self):
        """Start the database server (FileStorage recovers a torn last transaction,
        PostgreSQL replays its WAL)."""
        try:
            self.instance.start_database()
        except RuntimeError:
            for process in list(self.instance.processes):
                if process.name == self.instance.database_name and process.poll() is not None:
                    self.instance.processes.remove(process)
            raise
        self.zeo_starts += 1

    def pause_zeo(self):
        self._signal(self.zeo(), signal.SIGSTOP)
        self.zeo_paused = True

    def resume_zeo(self):
        if self.zeo_paused and self.zeo_up():
            self._signal(self.zeo(), signal.SIGCONT)
        self.zeo_paused = False

    def stop_zeo(self):
        """SIGTERM the ZEO server and wait; return its exit code."""
        self.resume_zeo()
        zeo = self.zeo()
        if zeo is None:
            return None
        self.instance.stop(zeo)
        return zeo.returncode

    # -- workers ----------------------------------------------------------------------

    def start_worker(self):
        self.started_workers += 1
        name = f"worker{self.started_workers}"
        process = self.instance.start_worker(*WORKER_ARGS, name=name)
        worker = Worker(process, name, self.instance.var / "log" / f"{name}.out")
        self.workers.append(worker)
        return worker

    def usable_workers(self):
        return [worker for worker in self.workers if worker.usable()]

    def kill_worker(self, worker):
        worker.asked, worker.asked_at = "SIGKILL", time.monotonic()
        self._signal(worker.process, signal.SIGKILL)

    def terminate_worker(self, worker):
        worker.asked, worker.asked_at = "SIGTERM", time.monotonic()
        self._signal(worker.process, signal.SIGTERM)

    def pause_worker(self, worker):
        worker.paused = True
        self._signal(worker.process, signal.SIGSTOP)

    def resume_worker(self, worker):
        if worker.paused and worker.alive():
            self._signal(worker.process, signal.SIGCONT)
        worker.paused = False

    def reap_workers(self, phase):
        """Note every worker that exited; SIGKILL one that ignores SIGTERM too long."""
        now = time.monotonic()
        for worker in list(self.workers):
            hung = (worker.asked == "SIGTERM" and worker.alive()
                    and now - worker.asked_at > STOP_TIMEOUT)
            if hung:
                self._signal(worker.process, signal.SIGKILL)
                worker.process.wait()
            if worker.alive():
                continue
            gone = Exit(worker, now - worker.started, phase)
            if hung:
                gone.hung, gone.ok = True, False
                gone.excerpt = crash_summary(worker.log)
            self.exits.append(gone)
            self.workers.remove(worker)
            if worker.process in self.instance.processes:
                self.instance.processes.remove(worker.process)
            if not gone.ok:
                self.say(f"FAILURE: {gone.describe()}")

    def keep_workers(self):
        """Start workers until ``size`` processes live (one told to stop still counts)."""
        while len(self.workers) < self.size:
            worker = self.start_worker()
            self.say(f"started {worker.name} (pid {worker.pid})")

    def stop_workers(self, phase):
        """SIGTERM every worker (SIGCONT first) and wait for all of them."""
        for worker in list(self.workers):
            self.resume_worker(worker)
            if worker.asked is None:
                self.terminate_worker(worker)
        deadline = time.monotonic() + STOP_TIMEOUT + 5
        while self.workers and time.monotonic() < deadline:
            self.reap_workers(phase)
            time.sleep(0.2)
        self.reap_workers(phase)

    # -- everything -------------------------------------------------------------------

    def stop_everything(self):
        """By PID: SIGCONT what is paused, then stop every process the instance started."""
        for worker in self.workers:
            self.resume_worker(worker)
        self.resume_zeo()
        self.instance.stop_all()

    @staticmethod
    def _signal(process, sig):
        if process is not None and process.poll() is None:
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                pass

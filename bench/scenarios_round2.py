"""Issue 18's bench scenarios: real small reports (10), big results (13), a
million jobs (14) and the CLI (15). Each returns raw figures plus table rows."""

import os
import re
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from harness import BENCH_DIR
from harness import OWNER
from harness import OWNER_FOLDER
from harness import TRIVIAL
from harness import Client
from harness import rss_kib
from scenarios import _capped
from scenarios import _clean_row
from scenarios import _timed
from scenarios import build_queue
from scenarios import quantile
from scenarios import row
from scenarios import run_jobs
from scenarios import verdict


SMALL = "bench-small-pdf"
BIG = "bench-big-pdf"
SMALL_ROWS = 45  # asyncbench.round2.SMALL_ROWS: two pages


# -- 10. real small reports --------------------------------------------------------------------


def _small_probe(repeats, count=1):
    """``count`` smallprobe.py processes at once; the seconds each took."""
    command = [sys.executable, str(BENCH_DIR / "smallprobe.py"), str(repeats), str(SMALL_ROWS)]
    processes = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=BENCH_DIR)
                 for _ in range(count)]
    try:
        return [float(p.communicate(timeout=600)[0]) for p in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()


def small_reports(bench, cfg):
    count = cfg["small_jobs"]
    repeats = cfg["small_loop"]
    params = {"rows": SMALL_ROWS}
    # The plain loop just before and just after the 1-worker run: its mean is
    # the rate of the same minutes, on a machine others share.
    loop_before = _small_probe(repeats)[0]
    one = run_jobs(bench, "small1", 1, count, SMALL, "/docs", params,
                   timeout=cfg["small_timeout"])
    loop_after = _small_probe(repeats)[0]
    alone = _small_probe(repeats)[0]
    together = max(_small_probe(repeats, count=2))
    two = run_jobs(bench, "small2", 2, count, SMALL, "/docs", params,
                   timeout=cfg["small_timeout"])
    profile = _profiled_small_run(bench, min(count, 100), params)
    loop_rate = repeats / ((loop_before + loop_after) / 2)
    rate1, rate2 = one["jobs_per_s"], two["jobs_per_s"]
    ratio = rate1 / loop_rate if loop_rate else 0.0
    ceiling = 2 * alone / together if together else 0.0
    speedup = rate2 / rate1 if rate1 else 0.0
    of_ceiling = speedup / ceiling if ceiling else 0.0
    cpu1 = sum(v for k, v in one["cpu_ms_per_job"].items() if k.startswith("worker"))
    rows = [
        row("10 small reports", f"{count} two-page ReportLab PDFs, 1 worker" + _capped(one),
            f"{rate1:.1f} reports/s", f"plain loop {loop_rate:.1f}/s "
            f"({repeats} renders, before {repeats / loop_before:.1f} / after "
            f"{repeats / loop_after:.1f})", f"x{ratio:.2f} (>= 0.85)", verdict(ratio >= 0.85)),
        row("10 small reports", "  1w: worker CPU ms per report / loop ms per render",
            f"{cpu1:.1f} ms", f"{1000 / loop_rate:.1f} ms",
            f"ZEO CPU ms/report {one['cpu_ms_per_job'].get('zeo', 0):.1f}"),
        row("10 small reports", "2 workers vs 1" + _capped(two), f"x{speedup:.2f}",
            f"{rate2:.1f} vs {rate1:.1f} reports/s",
            f"{of_ceiling:.2f} of the ceiling x{ceiling:.2f} (>= 0.90)",
            verdict(of_ceiling >= 0.9)),
        row("10 small reports", "  machine ceiling: 2 plain loops vs 1 (no ZODB)",
            f"x{ceiling:.2f}", f"{alone:.2f} s alone", f"{together:.2f} s two at once"),
        row("10 small reports", "  CPU busy in other processes (1w run / 2w run)",
            f"{one['cpu']['other_processes_busy_cores']:.2f} / "
            f"{two['cpu']['other_processes_busy_cores']:.2f} cores",
            f"of {two['cpu']['cores']} cores"),
        _clean_row("10 small reports", "1 worker", one),
        _clean_row("10 small reports", "2 workers", two),
    ]
    rows.append(row("10 small reports", "  1w sampled: share of a job thread's busy time",
                    ", ".join(f"{name} {share:.0%}" for name, share in profile["shares"].items()),
                    "wall clock, inclusive", "results.json: profile_top"))
    return {"runs": {"1": one, "2": two}, "loop_s": [loop_before, loop_after],
            "profile": profile,
            "loop_renders": repeats, "loop_rate": loop_rate, "ratio": ratio,
            "ceiling": {"alone_s": alone, "together_s": together, "speedup": ceiling},
            "speedup": speedup, "rows": rows,
            "lost": one["check"]["lost"] + two["check"]["lost"],
            "duplicates": one["check"]["duplicates"] + two["check"]["duplicates"]}


# Where a worker's time goes on a small report: cumulative time of these
# functions (names as pstats prints them) over the worker's serve loop.
PROFILE_PARTS = {
    "render": "asyncbench/round2.py:render",
    "export to PDF": "rendering/exports.py:export",
    "store result": "results/folder.py:store_result",
    "commits": "transaction/_transaction.py:commit",
    "claims": "queue/jobqueue.py:claim",
}


def _profiled_small_run(bench, count, params):
    """One sampled worker (profiled_worker.py) runs ``count`` small reports: the
    share of its busy time (a job thread in JobRunner.run_batch) per part."""
    import json

    queue = bench.add_queue("smallprof")
    samples_path = bench.home / "smallprof.json"
    process = bench.instance.start("smallprof-w1", [
        sys.executable, str(BENCH_DIR / "profiled_worker.py"), str(samples_path),
        "-C", str(bench.instance.zope_conf), "worker", "--queue", queue])
    try:
        bench.wait_for_workers(queue, [process])
        bench.enqueue(queue, count, SMALL, "/docs", params, batch=count)
        bench.wait_until_finished(queue, count, 300, [process])
    finally:
        bench.stop_workers([process])
    samples = json.loads(samples_path.read_text())
    busy = samples["busy_samples"] or 1
    shares = {label: max([n for name, n in samples["counts"].items() if name.endswith(where)]
                         or [0]) / busy
              for label, where in PROFILE_PARTS.items()}
    top = sorted(samples["counts"].items(), key=lambda item: -item[1])[:60]
    return {"busy_samples": samples["busy_samples"], "shares": shares,
            "profile_top": [(name, n / busy) for name, n in top]}


# -- 13. big results ---------------------------------------------------------------------------


def _status_kib(pid, field):
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _write_pdf_file(path, size):
    """A file of ``size`` bytes that starts like a PDF (random, incompressible)."""
    with open(path, "wb") as out:
        out.write(b"%PDF-1.4\n")
        written = 9
        while written < size:
            chunk = os.urandom(min(1 << 20, size - written))
            out.write(chunk)
            written += len(chunk)


def _run_one(bench, queue, report, params, timeout):
    ids, _ = bench.enqueue(queue, 1, report, "/docs", params, batch=1)
    stats, timed_out = bench.wait_until_finished(queue, bench.stats(queue)["total"], timeout,
                                                 interval=0.05)
    return ids[0], timed_out


def big_result(bench, cfg):
    size = cfg["big_result_mb"] * 1024 * 1024
    source = bench.home / "big.pdf"
    _write_pdf_file(source, size)
    warm = bench.home / "warm.pdf"
    _write_pdf_file(warm, 1024 * 1024)
    queue = bench.add_queue("big")
    processes, _ = bench.start_workers(queue, 1, "big")
    peak_sampled = []
    try:
        pid = processes[0].pid
        # A 1 MB one first: every code path of storing a big result is loaded.
        _run_one(bench, queue, BIG, {"source": str(warm)}, 60)
        time.sleep(1.0)
        idle = rss_kib(pid)
        # Reset the kernel's peak (VmHWM) to the current RSS (proc(5), clear_refs 5).
        try:
            Path(f"/proc/{pid}/clear_refs").write_text("5")
            reset = True
        except OSError:
            reset = False
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                value = rss_kib(pid)
                if value:
                    peak_sampled.append(value)
                time.sleep(0.02)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        before_fs = bench.data_fs_bytes()
        started = time.monotonic()
        job_id, timed_out = _run_one(bench, queue, BIG, {"source": str(source)},
                                     cfg["big_result_timeout"])
        seconds = time.monotonic() - started
        stop.set()
        sampler.join()
        hwm = _status_kib(pid, "VmHWM") if reset else None
        after = rss_kib(pid)
    finally:
        bench.stop_workers(processes)

    def check(client):
        q = client.queue(queue)
        job = q.job_queue().get(job_id)
        result = q.result_store().folder()._getOb(job.result_path.rsplit("/", 1)[-1]) \
            if job.result_path else None
        head = b""
        if result is not None:
            data = result.data
            head = data if isinstance(data, bytes) else data.data
        return job.state, (result.size if result is not None else 0), bytes(head[:9])

    state, stored, head = bench.client.read(check)
    peak = max([hwm or 0] + peak_sampled)
    ratio = (peak - idle) * 1024 / size
    ok = state == "done" and stored == size and head == source.read_bytes()[:9]
    mb = cfg["big_result_mb"]
    rows = [
        row("13 big result", f"{mb} MB PDF stored: worker peak memory over idle, / size",
            f"{(peak - idle) / 1024:.0f} MB", f"idle {idle / 1024:.0f} MB, peak "
            f"{peak / 1024:.0f} MB ({'VmHWM' if hwm else 'sampled'})",
            f"x{ratio:.2f} (<= 1.30)", verdict(ratio <= 1.3 and not timed_out)),
        row("13 big result", "  job done, stored size equals the PDF's, read back",
            f"{state}, {stored} bytes", f"{size} bytes",
            f"{seconds:.1f} s queue to done; Data.fs "
            f"+{(bench.data_fs_bytes() - before_fs) / 2**20:.0f} MB",
            verdict(ok)),
    ]
    return {"size": size, "idle_kib": idle, "peak_kib": peak, "vmhwm_kib": hwm,
            "sampled_peak_kib": max(peak_sampled or [0]), "after_kib": after,
            "ratio": ratio, "seconds": seconds, "state": state, "stored": stored,
            "rows": rows, "lost": 0 if ok else 1}


# -- 14. a million jobs ------------------------------------------------------------------------


CLAIMER = """
import json, sys, threading, time
sys.path.insert(0, {bench!r})
from ZODB.POSException import ConflictError
from harness import Client
client = Client({port}, cache_size=10000)
path = {path!r}
running = threading.Event()
done = threading.Event()

def commands():
    for line in sys.stdin:
        if line.strip() == "go":
            running.set()
        elif line.strip() == "end":
            running.clear()
            done.set()
    running.clear()
    done.set()

threading.Thread(target=commands, daemon=True).start()
print("ready", flush=True)
running.wait()
times = []
while running.is_set():
    try:
        before = time.perf_counter()
        client.begin()
        jobs = client.jobs(path)
        claimed = jobs.claim("claimer", limit=1)
        client.commit()
        times.append((time.time(), (time.perf_counter() - before) * 1000))
        client.begin()
        for job in claimed:
            jobs.finish(job.id, job.lease_token, path + "/results/none")
        client.commit()
    except ConflictError:
        client.abort()
done.wait()
print(json.dumps(times), flush=True)
client.close()
"""


class Claimer:
    """A ZEO client process that claims (and finishes) one job per transaction
    from "go" to "end"; it prints (epoch time, ms) of each claim."""

    def __init__(self, bench, path):
        code = CLAIMER.format(bench=str(BENCH_DIR), port=bench.zeo_port, path=path)
        self.process = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True, env=bench.instance.env)
        if self.process.stdout.readline().strip() != "ready":
            raise RuntimeError("claimer did not start")
        self._send("go")

    def _send(self, line):
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def stop(self):
        """[(epoch time, ms)] of the claims made."""
        import json

        try:
            self._send("end")
            return [tuple(pair) for pair in json.loads(self.process.stdout.readline())]
        finally:
            self.process.stdin.close()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _step(op, client, path, number):
    """One operation on the queue at ``path``, to run in a transaction of its own."""
    if op == "enqueue":
        return lambda: client.jobs(path).enqueue(
            TRIVIAL, "/docs", {}, OWNER, owner_folder=OWNER_FOLDER, queue_path=path)
    if op == "claim":
        return lambda: client.jobs(path).claim(f"bench-{number % 10}", limit=1)

    def first_page():
        found, _ = client.jobs(path).list_jobs(size=20)
        return [(job.id, job.state, job.report, job.created) for job in found]
    return first_page


def _op_medians(bench, paths, count, warmup=20):
    """enqueue, claim and the first page, each its own transaction, alternating
    queues, each phase on a fresh ZEO client (cache-size like zope.conf)."""
    times = {(op, path): [] for op in ("enqueue", "claim", "list_jobs") for path in paths}
    for op in ("enqueue", "claim", "list_jobs"):
        client = Client(bench.zeo_port, cache_size=10000)
        try:
            for number in range(warmup + count):
                for path in (paths if number % 2 else paths[::-1]):
                    spent, result = _timed(client, _step(op, client, path, number))
                    if op == "claim":
                        client.begin()
                        jobs = client.jobs(path)
                        for job in result:
                            jobs.finish(job.id, job.lease_token, f"{path}/results/none")
                        client.commit()
                    if number >= warmup:
                        times[(op, path)].append(spent)
        finally:
            client.close()
    return {key: statistics.median(values) for key, values in times.items()}


def million_jobs(bench, cfg):
    total = cfg["million_jobs"]
    done, queued = total // 2, total - total // 2
    small, big = "/million_small", "/million_big"
    bench.add_queue(small[1:])
    bench.add_queue(big[1:], retention_days=30)
    build_queue(bench, small, 100, 0)
    fs_start = bench.data_fs_bytes()
    started = time.monotonic()
    # The jobs to purge first (the oldest), then the other done jobs: what the
    # purge removes lies 400,000 keys away from what claims and finishes
    # touch, as on a site that keeps a month of jobs.
    old = min(cfg["million_purge"], done)
    build_done = build_queue(bench, big, 0, old, batch=cfg["million_batch"])
    done_ended = time.time()
    build_done += build_queue(bench, big, 0, done - old, batch=cfg["million_batch"])
    fs_done = bench.data_fs_bytes()
    build_queued = build_queue(bench, big, queued, 0, batch=cfg["million_batch"])
    build_s = time.monotonic() - started
    bytes_per_done = (fs_done - fs_start) / done
    medians = _op_medians(bench, (small, big), cfg["million_ops"])
    rows = [row("14 million jobs", f"built {done:,} done + {queued:,} queued jobs, "
                f"{cfg['million_batch']:,} per commit", f"{build_s:.0f} s",
                f"done part {build_done:.0f} s, queued part {build_queued:.0f} s",
                f"{total / build_s:.0f} jobs/s")]
    ratios = {}
    for op in ("enqueue", "claim", "list_jobs"):
        small_ms, big_ms = medians[(op, small)], medians[(op, big)]
        ratios[op] = big_ms / small_ms
        rows.append(row("14 million jobs", f"{op} median ms/op (commit incl.), {total:,} jobs",
                        f"{big_ms:.2f} ms", f"{small_ms:.2f} ms (100 queued)",
                        f"x{ratios[op]:.2f} (<= 1.30)", verdict(ratios[op] <= 1.3)))
    rows.append(row("14 million jobs", "  Data.fs bytes per finished job (not packed)",
                    f"{bytes_per_done:.0f} B", f"Data.fs {bench.data_fs_bytes() / 2**20:.0f} MB",
                    "enqueue + claim + finish records"))
    purge = _purge_with_claims(bench, big, cfg, done_ended)
    rows.extend(purge.pop("rows"))
    return {"total": total, "done": done, "queued": queued, "build_s": build_s,
            "build_done_s": build_done, "build_queued_s": build_queued,
            "bytes_per_done": bytes_per_done,
            "medians_ms": {f"{op}_{'big' if path == big else 'small'}": value
                           for (op, path), value in medians.items()},
            "ratios": ratios, "purge": purge, "rows": rows,
            "data_fs_bytes": bench.data_fs_bytes()}


def _purge_with_claims(bench, path, cfg, done_ended):
    """Purge ``million_purge`` expired jobs in the product's batches (as an idle
    worker does: ``JobQueue.purge_expired``, one batch per commit) while a
    claimer process claims from the same queue; the same claimer for as long
    before the purge is the baseline.

    The purge runs at a ``now`` 30 days (the queue's retention) after the
    oldest done jobs were built: they are expired, the later ones and the
    jobs the claimer finishes are not, as on a site where what expires is a
    month old.
    """
    from collective.asyncreports.queue.retention import DAY
    from collective.asyncreports.queue.retention import PURGE_BATCH

    wanted = cfg["million_purge"]
    claimer = Claimer(bench, path)
    try:
        time.sleep(cfg["million_claim_seconds"])
        purge_started = time.time()
        later = done_ended + 30 * DAY
        removed, batches, retries = 0, [], 0
        client = bench.client
        started = time.monotonic()
        while removed < wanted:
            before = time.perf_counter()
            # A batch that conflicts with a claimer's commit is retried, as the
            # worker's purge step is (the count is reported).
            for attempt in client.tm.attempts(50):
                with attempt:
                    retries += 1
                    gone = client.jobs(path).purge_expired(
                        "bench-purger", now=later, limit=min(PURGE_BATCH, wanted - removed))
            retries -= 1
            batches.append((time.perf_counter() - before) * 1000)
            if not gone:
                break
            removed += len(gone)
            client.connection.cacheMinimize()
        seconds = time.monotonic() - started
        purge_ended = time.time()
    finally:
        claims = claimer.stop()
    alone = [ms for at, ms in claims if at < purge_started]
    during = [ms for at, ms in claims if purge_started <= at <= purge_ended]
    alone_ms = statistics.median(alone) if alone else 0.0
    during_ms = statistics.median(during) if during else 0.0
    slowdown = during_ms / alone_ms if alone_ms else 0.0
    rate = removed / seconds if seconds else 0.0
    rows = [
        row("14 million jobs", f"purge {removed:,} expired jobs (batches of {PURGE_BATCH})",
            f"{seconds:.1f} s", f"{rate:.0f} jobs/s, {retries} batch retries",
            f"batch median {statistics.median(batches):.0f} ms" if batches else ""),
        row("14 million jobs", "  claim median while purging vs before",
            f"{during_ms:.2f} ms", f"{alone_ms:.2f} ms ({len(alone)} / {len(during)} claims); "
            f"p99 {quantile(during, 0.99) if during else 0:.1f} vs "
            f"{quantile(alone, 0.99) if alone else 0:.1f} ms",
            f"x{slowdown:.2f} (<= 1.30)", verdict(bool(during) and slowdown <= 1.3)),
    ]
    return {"removed": removed, "seconds": seconds, "batch_ms": batches, "retries": retries,
            "claims_alone": len(alone), "claims_during": len(during),
            "claim_alone_median_ms": alone_ms, "claim_during_median_ms": during_ms,
            "slowdown": slowdown, "rows": rows}


# -- 11. a busy web site ----------------------------------------------------------------------


def _start_zope_instances(bench, count):
    """``count`` Zope WSGI instances (waitress, 4 threads each) on the bench's zope.conf."""
    from collective.asyncreports.dev.processes import free_port
    from collective.asyncreports.dev.processes import python_command
    from collective.asyncreports.dev.processes import wait_for_port

    source = (bench.instance.etc / "zope.ini").read_text()
    processes, urls = [], []
    try:
        for number in range(1, count + 1):
            port = free_port()
            ini = bench.instance.etc / f"zope-web{number}.ini"
            text = re.sub(r"(?m)^port = .*$", f"port = {port}", source)
            ini.write_text(text.replace("instance.log", f"instance-web{number}.log"))
            process = bench.instance.start(f"web{number}",
                                           python_command("Zope2.Startup.serve", ini))
            processes.append(process)
            wait_for_port(port, process, timeout=180)
            urls.append(f"http://127.0.0.1:{port}")
    except BaseException:
        bench.stop_workers(processes)
        raise
    return processes, urls


def busy_site(bench, cfg, raw=None):
    count, clients = cfg["web_jobs"], cfg["web_clients"]
    queue = bench.add_queue("web", max_queued_per_user=0)  # 0: no cap
    # A user per client: one person's submissions are checked against each
    # other (the same job twice is one), people's are not.
    bench.client.begin()
    users = bench.client.app.acl_users
    for number in range(clients):
        if users.getUserById(f"bench-client-{number}") is None:
            users._doAddUser(f"bench-client-{number}", _password(), ["Manager"], [])
    bench.client.commit()
    workers, _ = bench.start_workers(queue, 2, "web")
    webs = []
    try:
        webs, urls = _start_zope_instances(bench, 2)
        log_offset = bench.zeo_log_offset()
        done = subprocess.run(
            [sys.executable, str(BENCH_DIR / "webclients.py"), _password(), queue, str(count),
             str(clients), *urls], capture_output=True, text=True, env=bench.instance.env,
            cwd=bench.home, timeout=1200)
        if done.returncode != 0:
            raise RuntimeError(f"webclients.py failed ({done.returncode}):\n"
                               f"{done.stderr[-3000:]}")
        import json

        answers = json.loads(done.stdout.strip().splitlines()[-1])
        ids = [job for _, status, _, job in answers["requests"] if status == 302 and job]
        stats, timed_out = bench.wait_until_finished(queue, len(ids), cfg["web_timeout"],
                                                     workers)
    finally:
        bench.stop_workers(webs)
        bench.stop_workers(workers)
    checked = bench.verify(queue, ids, complete=not timed_out)
    requests = answers["requests"]
    latencies = [spent for _, _, spent, _ in requests]
    slow = sum(1 for spent in latencies if spent > 100)
    statuses = {}
    for _, status, _, _ in requests:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    errors = sum(n for status, n in statuses.items() if status != "302")
    p50, p99 = quantile(latencies, 0.5), quantile(latencies, 0.99)
    submit_s = answers["ended"] - answers["started"]
    submit_rate = len(requests) / submit_s if submit_s else 0.0
    elapsed = (checked["last"] or time.time()) - answers["started"]
    done_rate = checked["done"] / elapsed if elapsed > 0 else 0.0
    raw_rate = raw["commits_per_s"] if raw else None
    # Jobs queued in the database but not answered with a 302 (or the reverse).
    in_queue = bench.stats(queue)["total"]
    logs = bench.worker_log_counts([p.name for p in workers])
    rows = [
        row("11 busy web site", f"{len(requests)} Submit-form POSTs, {clients} clients, "
            "2 Zope x 4 threads, 2 workers: errors", f"{errors}",
            ", ".join(f"HTTP {k}: {v}" for k, v in sorted(statuses.items())),
            f"{len(answers['problems'])} 5xx/ConflictError bodies (0)",
            verdict(errors == 0 and not answers["problems"])),
        row("11 busy web site", "  submit latency p99 / p50", f"{p99:.0f} ms",
            f"p50 {p50:.0f} ms; {slow} over 100 ms", "p99 <= 100 ms", verdict(p99 <= 100)),
        row("11 busy web site", "  submits/s and jobs done/s (submit start to last done)",
            f"{submit_rate:.0f} / {done_rate:.0f} per s",
            f"raw {raw_rate:.0f} commits/s" if raw_rate else "raw n/a",
            f"x{submit_rate / raw_rate:.2f} / x{done_rate / raw_rate:.2f}" if raw_rate else ""),
        row("11 busy web site", "  jobs in the queue / answered queued",
            f"{in_queue} / {len(ids)}", "conflicts by class: "
            + (", ".join(f"{k.rsplit('.', 1)[-1]} {v}" for k, v in
                         sorted(bench.conflicts_since(log_offset).items(),
                                key=lambda item: -item[1])[:3]) or "none"),
            f"{logs['transient_retries']} worker step retries",
            verdict(in_queue == len(ids))),
        _clean_row("11 busy web site", "2 workers", {"check": checked}),
    ]
    return {"requests": len(requests), "statuses": statuses, "errors": errors,
            "over_100_ms": slow, "latency_ms_sorted": sorted(latencies),
            "problems": answers["problems"], "p50_ms": p50, "p99_ms": p99,
            "submit_rate": submit_rate, "done_rate": done_rate, "raw_rate": raw_rate,
            "in_queue": in_queue, "check": checked, "rows": rows,
            "lost": checked["lost"] + abs(in_queue - len(ids)),
            "duplicates": checked["duplicates"]}


# -- 12. a big Plone site --------------------------------------------------------------------


def big_plone_site(bench, cfg):
    folders, pages = cfg["plone_folders"], cfg["plone_pages"]
    started = time.monotonic()
    bench.instance.bootstrap("--password", _password(), "--plone")
    site_s = time.monotonic() - started
    built = subprocess.run(
        [sys.executable, str(BENCH_DIR / "plonesite.py"), str(bench.instance.zope_conf),
         str(folders), str(pages)], capture_output=True, text=True, env=bench.instance.env,
        cwd=bench.home, timeout=1800)
    if built.returncode != 0:
        raise RuntimeError(f"plonesite.py failed ({built.returncode}):\n{built.stderr[-3000:]}")
    import json

    content = json.loads(built.stdout.strip().splitlines()[-1])
    queue = "/Plone/portal_asyncreports"
    items = folders * pages + folders
    processes, _ = bench.start_workers(queue, 1, "plone")
    try:
        pid = processes[0].pid
        time.sleep(2.0)
        idle = rss_kib(pid)
        try:
            Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM := VmRSS
            reset = True
        except OSError:
            reset = False
        ids, submitted = bench.enqueue(queue, 1, "content-inventory", "/Plone",
                                       {"max_items": 100000}, batch=1)
        stats, timed_out = bench.wait_until_finished(queue, 1, cfg["plone_timeout"],
                                                     processes, interval=0.1)
        hwm = _status_kib(pid, "VmHWM") if reset else None
    finally:
        bench.stop_workers(processes)

    def read(client):
        job = client.jobs(queue).get(ids[0])
        return job.state, job.started, job.finished, job.error_message

    state, job_started, job_finished, error = bench.client.read(read)
    seconds = (job_finished - job_started) if job_finished and job_started else None
    rows_per_s = items / seconds if seconds else 0.0
    ratio = hwm / idle if hwm and idle else 0.0
    rows = [
        row("12 big Plone site", f"Content inventory of /Plone: {pages:,} pages x {folders} "
            "folders", f"{seconds:.1f} s" if seconds else f"{state}: {error}",
            f"{rows_per_s:.0f} rows/s; {time.time() - submitted:.1f} s queue to now",
            "<= 10 s", verdict(bool(seconds) and seconds <= 10 and state == "done")),
        row("12 big Plone site", "  worker peak RSS (VmHWM) / idle RSS",
            f"{(hwm or 0) / 1024:.0f} MB", f"idle {idle / 1024:.0f} MB",
            f"x{ratio:.2f} (<= 1.50)", verdict(bool(hwm) and ratio <= 1.5)),
        row("12 big Plone site", "  building: Plone site / content",
            f"{site_s:.0f} s / {content['seconds']:.0f} s", f"{content['pages']:,} pages"),
    ]
    return {"folders": folders, "pages": pages, "state": state, "seconds": seconds,
            "rows_per_s": rows_per_s, "idle_kib": idle, "peak_kib": hwm, "ratio": ratio,
            "site_s": site_s, "content": content, "rows": rows,
            "lost": 0 if state == "done" else 1}


def _password():
    from harness import PASSWORD

    return PASSWORD


# -- 15. the CLI -------------------------------------------------------------------------------


def _cli_seconds(bench, args, repeats, ok=(0,)):
    script = str(Path(sys.executable).parent / "asyncreports")
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        done = subprocess.run([script, "-C", str(bench.instance.zope_conf), *args],
                              capture_output=True, text=True, env=bench.instance.env,
                              cwd=bench.home, timeout=120)
        times.append(time.perf_counter() - started)
        if done.returncode not in ok:
            raise RuntimeError(f"asyncreports {' '.join(args)} exited {done.returncode}:\n"
                               f"{done.stderr[-2000:]}")
    return times


def cli(bench, cfg):
    queue = bench.add_queue("cli")
    ids, _ = bench.enqueue(queue, 50, TRIVIAL)
    repeats = cfg["cli_repeats"]
    python = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        python.append(time.perf_counter() - started)
    figures = {
        "jobs": _cli_seconds(bench, ["jobs", "--queue", queue], repeats),
        "jobs --json": _cli_seconds(bench, ["jobs", "--json", "--queue", queue], repeats),
        "show": _cli_seconds(bench, ["show", ids[0], "--queue", queue], repeats),
        # No worker serves the queue: health says so (exit 1), as fast.
        "health": _cli_seconds(bench, ["health", "--queue", queue], repeats, ok=(0, 1)),
        # Still boots Zope (schedules are read as the operator): the old cost.
        "schedule list (boots Zope)": _cli_seconds(
            bench, ["schedule", "list", "--queue", queue], repeats),
    }
    medians = {name: statistics.median(values) for name, values in figures.items()}
    boot = medians["schedule list (boots Zope)"]
    rows = []
    for name, seconds in medians.items():
        gated = "boots" not in name
        rows.append(row("15 CLI", f"asyncreports {name}, median of {repeats}",
                        f"{seconds:.2f} s", f"x{seconds / boot:.2f} of a full boot"
                        if gated else f"python -c pass {statistics.median(python):.2f} s",
                        "<= 1.00 s" if gated else "info",
                        verdict(seconds <= 1.0) if gated else "info"))
    return {"seconds": figures, "medians": medians,
            "python_startup_s": statistics.median(python), "rows": rows}

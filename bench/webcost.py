"""Scenario 5 client: what an enqueue adds to a web request, through Zope's publisher.

Run as a separate process, because it boots Zope from the bench's zope.conf
(a ZEO client of the bench's server, with the bench-only ``asyncbench`` ZCML):

    python webcost.py ZOPE_CONF PASSWORD QUEUE_PATH PAIRS WARMUP

Each request is a real publish of ``QUEUE_PATH/@@bench-request`` through the
WSGI app (webtest, no sockets), authenticated as admin, in its own transaction
committed to the ZEO server. Both kinds make the same small write; one of them
also calls ``collective.asyncreports.submission.submit``. The kinds alternate,
in random order within each pair, so drift and noise hit both alike. Prints
one JSON line.
"""

import json
import random
import statistics
import sys
import time


def main(argv):
    zope_conf, password, queue_path = argv[0], argv[1], argv[2]
    pairs, warmup = int(argv[3]), int(argv[4])
    started = time.perf_counter()
    from Zope2.Startup.run import make_wsgi_app

    wsgi_app = make_wsgi_app({}, zope_conf)
    from webtest import TestApp

    boot = time.perf_counter() - started
    browser = TestApp(wsgi_app, extra_environ={"HTTP_HOST": "127.0.0.1:8080"})
    browser.authorization = ("Basic", ("admin", password))
    url = f"{queue_path}/@@bench-request"
    times = {"0": [], "1": []}
    submit_ms = []

    def request(kind):
        before = time.perf_counter()
        response = browser.post(url, {"enqueue": kind})
        spent = (time.perf_counter() - before) * 1000
        if response.status_int != 200 or not response.text.startswith("ok"):
            raise RuntimeError(f"{url} answered {response.status}: {response.text[:200]}")
        return spent, float(response.headers["X-Bench-Submit-Ms"])

    for _ in range(warmup):
        request("0")
        request("1")
    differences = []
    for _ in range(pairs):
        order = ["0", "1"]
        random.shuffle(order)
        pair = {}
        for kind in order:
            spent, in_submit = request(kind)
            times[kind].append(spent)
            pair[kind] = spent
            if kind == "1":
                submit_ms.append(in_submit)
        differences.append(pair["1"] - pair["0"])
    without, with_ = times["0"], times["1"]
    print(json.dumps({
        "boot_s": boot,
        "pairs": pairs,
        "median_without_ms": statistics.median(without),
        "median_with_ms": statistics.median(with_),
        "added_median_ms": statistics.median(with_) - statistics.median(without),
        "median_paired_difference_ms": statistics.median(differences),
        "p90_without_ms": statistics.quantiles(without, n=10)[-1],
        "p90_with_ms": statistics.quantiles(with_, n=10)[-1],
        "median_submit_call_ms": statistics.median(submit_ms),
    }), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])

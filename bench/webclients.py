"""Scenario 11's HTTP clients: CLIENTS threads submit jobs through the real Submit form.

    python webclients.py PASSWORD QUEUE JOBS CLIENTS URL [URL ...]

Each client thread is a user of its own (``bench-client-N``, made by the
bench with PASSWORD), as people on a busy site are, and keeps one HTTP
connection to one of the Zope instances (round robin). It reads the queue's
Submit tab once for its form token, then POSTs ``manage_submitReport``
(report bench-numbered on /docs with the request's number, so each is a job
of its own, and a fresh submission id, as the form sends) until JOBS jobs
are submitted in all. Prints one JSON line: per request its latency and
status, and the bodies of any 5xx answers or of answers that mention a
ConflictError.
"""

import base64
import http.client
import json
import re
import sys
import threading
import time
import urllib.parse
import uuid


def main(argv):
    password, queue, jobs, clients, urls = argv[0], argv[1], int(argv[2]), int(argv[3]), argv[4:]
    counter = iter(range(jobs))
    lock = threading.Lock()
    results = []
    problems = []

    def client(number):
        url = urllib.parse.urlsplit(urls[number % len(urls)])
        connection = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
        user = f"bench-client-{number}:{password}"
        headers = {"Authorization": "Basic " + base64.b64encode(user.encode()).decode()}
        connection.request("GET", f"{queue}/manage_submitForm?report=bench-numbered",
                           headers=headers)
        page = connection.getresponse().read().decode("utf-8", "replace")
        token = re.search(r'name="_authenticator" value="([^"]*)"', page).group(1)
        while True:
            with lock:
                index = next(counter, None)
            if index is None:
                break
            body = urllib.parse.urlencode({
                "_authenticator": token, "submission_id": uuid.uuid4().hex,
                "report": "bench-numbered", "path": "/docs", "param.n": str(index)})
            started = time.perf_counter()
            connection.request("POST", f"{queue}/manage_submitReport", body=body, headers={
                **headers, "Content-Type": "application/x-www-form-urlencoded"})
            response = connection.getresponse()
            answer = response.read()
            spent = (time.perf_counter() - started) * 1000
            job = re.search(rb"Queued(?:\+|%20| )job(?:\+|%20| )([0-9a-f]+)",
                            (response.getheader("Location") or "").encode() + answer)
            with lock:
                results.append((number % len(urls), response.status, spent,
                                job.group(1).decode() if job else None))
                if response.status >= 500 or b"ConflictError" in answer:
                    problems.append((response.status, answer[-2000:].decode("utf-8", "replace")))
        connection.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    started = time.time()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(json.dumps({"started": started, "ended": time.time(), "requests": results,
                      "problems": problems[:20]}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])

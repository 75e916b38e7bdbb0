"""Queue a report through the REST API, wait for it and download the result.

    python scripts/rest_example.py http://localhost:8080/Plone/demo editor PASSWORD out.pdf

The README's example (tests/system/test_rest_end_to_end.py runs it against
a real ZEO server, Zope and worker).
"""

import sys
import time

import requests


def queue_and_download(item_url, user, password, filename, timeout=300):
    """Queue the content inventory of ``item_url``, wait, save the PDF; return its job."""
    session = requests.Session()
    session.auth = (user, password)
    session.headers["Accept"] = "application/json"

    response = session.post(f"{item_url}/@reports", json={
        "report": "content-inventory",
        "parameters": {"max_items": 500},
        "format": "pdf",
    })
    response.raise_for_status()  # 400: the JSON says which field is wrong
    job_url = response.headers["Location"]

    deadline = time.monotonic() + timeout
    while True:
        job = session.get(job_url).json()
        if job["state"] in ("done", "failed", "cancelled"):
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"job {job['id']} is still {job['state']}")
        time.sleep(1)
    if job["state"] != "done":
        raise RuntimeError(f"job {job['id']} {job['state']}: {job['error']}")

    download = session.get(job["result"]["download"])
    download.raise_for_status()
    with open(filename, "wb") as output:
        output.write(download.content)
    return job


if __name__ == "__main__":
    url, user, password, filename = sys.argv[1:5]
    finished = queue_and_download(url, user, password, filename)
    print(f"job {finished['id']}: {finished['result']['size']} bytes in {filename}")

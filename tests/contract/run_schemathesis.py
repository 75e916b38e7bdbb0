"""schemathesis against a live system: ZEO server, Zope with /Plone and a worker.

    .venv/bin/python tests/contract/run_schemathesis.py [--max-examples N]

Runs the OpenAPI document served at ``/Plone/@reports-openapi`` with an
Editor's and a Manager's credentials (checks: no 5xx, responses, status
codes and content types as documented), stops every process by PID and
exits non-zero if either run failed. .ci/run counts it as one check.

Repeatable: deterministic generation (which also means no example database
replaying earlier runs' finds), run in the instance's temporary home so its
cache is not left in the checkout. Verdicts repeat; the number of cases
varies a little (the stateful phase follows what the live queue answers).
30 examples per operation, 20 operations (the schedules' and keep/unkeep
among them): about 1,250 cases a run, 40 to 60 s each, 2m15 for the whole
step with the system's start on a machine shared with other test runs. The
``examples`` of a schedule's ``cron`` and ``timezone`` let the examples and
stateful phases make schedules and follow their links.
"""

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from collective.asyncreports.dev.processes import asyncreports_command  # noqa: E402
from collective.asyncreports.dev.processes import child_env  # noqa: E402
from tests.processes import discard  # noqa: E402
from tests.processes import started_instance  # noqa: E402


CHECKS = ("not_a_server_error", "response_schema_conformance", "status_code_conformance",
          "content_type_conformance")
MANAGER, MANAGER_PASSWORD = "siteadmin", "siteadmin-password"


def add_manager(app):
    users = app.Plone.acl_users
    users.source_users.addUser(MANAGER, MANAGER, MANAGER_PASSWORD)
    users.portal_role_manager.assignRoleToPrincipal("Manager", MANAGER)


def run(site_url, user, password, max_examples, cwd):
    """One schemathesis run as ``user``; its exit status."""
    command = [
        str(Path(sys.executable).with_name("schemathesis")), "run",
        f"{site_url}/@reports-openapi", "--url", site_url,
        "--checks", ",".join(CHECKS), "--max-examples", str(max_examples),
        "--auth", f"{user}:{password}", "--header", "Accept: application/json",
        "--request-timeout", "30", "--generation-deterministic",
        "--no-color",
    ]
    print(f"== schemathesis as {user}", flush=True)
    return subprocess.run(command, cwd=cwd, timeout=600).returncode


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-examples", type=int, default=30)
    args = parser.parse_args(argv)
    home = Path(tempfile.mkdtemp(prefix="asyncreports-contract-"))
    instance = started_instance(home, ["--password", "admin-password", "--plone"],
                                prepare=add_manager)
    worker = None
    try:
        worker = subprocess.Popen(asyncreports_command("-C", instance.zope_conf, "worker"),
                                  cwd=home, env=child_env())
        site_url = f"{instance.url}/Plone"
        statuses = [run(site_url, "editor", instance.editor_password(), args.max_examples, home),
                    run(site_url, MANAGER, MANAGER_PASSWORD, args.max_examples, home)]
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(timeout=60)
        discard(instance)
        shutil.rmtree(home, ignore_errors=True)
    failed = sum(1 for status in statuses if status != 0)
    print(f"schemathesis: {len(statuses) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

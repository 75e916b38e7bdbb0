"""Run many ``asyncreports`` command lines in one booted process (as zconsole does).

``python cli_cases.py ZOPE_CONF CASES.json``: CASES is a list of argument
lists; prints a JSON list of {"code", "stderr", "stdout"}, one per case.
Booting Zope once instead of once per case keeps the test short.
"""

import contextlib
import io
import json
import sys

import transaction

from collective.asyncreports.cli import run
from collective.asyncreports.worker.boot import boot


def main(zope_conf, cases_file):
    app = boot(zope_conf)
    outcomes = []
    for args in json.loads(open(cases_file).read()):
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stderr(err):
            try:
                code = run(app, ["-C", zope_conf, *args], out=out)
            except SystemExit as exc:
                code = exc.code
            except Exception as exc:  # a traceback: what the test must never see
                code = f"{type(exc).__name__}: {exc}"
        transaction.abort()
        outcomes.append({"code": code, "stderr": err.getvalue(), "stdout": out.getvalue()})
    sys.stdout.write(json.dumps(outcomes) + "\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

"""Write the pins of one supported stack (``make constraints``).

Each stack's file is made the same way, from the upstream releases' own pins:

1. Zope's ``constraints.txt`` from its sdist on PyPI (copied to ``constraints/sources/``;
   ``--fetch-zope`` downloads it again with ``pip download --no-deps --no-binary :all:``);
2. overlaid with a tested ``pip freeze`` of that Zope and Plone on the stack's Python
   (``constraints/sources/known-good-*.txt``): where both pin a package, the freeze wins;
3. plus this project's own additions: the packages ``constraints.txt`` pins that neither
   Zope 5.14.2's constraints nor the Plone 6.1.5 freeze pin (reportlab, pypdf, playwright,
   ...). ``constraints.txt`` is where a new pin goes: the other stacks take it from there
   unless their upstream pins already say, or ``constraints/overrides-STACK.txt`` gives
   another version for that stack (``name==version``) or leaves it out (``omit: name ...``).

``zope6`` (plain Zope 6, no Plone) keeps Zope 6.3's constraints and, of the ``plone6.2``
pins, those that ``pip install --dry-run .[test,release]`` resolves to on Python 3.12.

The comment lines at the top of an existing output file are kept; the pins are rewritten,
sorted by name. ``--check`` writes nothing and exits 1 when a file is not what this makes.

    python scripts/make_constraints.py [--check] [--python PY] plone6.1 plone6.2 zope6
"""

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path


ROOT = Path(__file__).resolve().parent.parent
SOURCES = ROOT / "constraints" / "sources"
DEFAULT_OUT = ROOT / "constraints.txt"

# stack: (output file, Zope release, Plone freeze, the stack whose pins it narrows)
STACKS = {
    "plone6.1": (DEFAULT_OUT, "5.14.2", "known-good-zope-5.14.2-plone-6.1.5.txt", None),
    "plone6.2": (ROOT / "constraints" / "plone6.2.txt", "6.3",
                 "known-good-zope-6.3-plone-6.2.2-py3.12.txt", None),
    "zope6": (ROOT / "constraints" / "zope6.txt", "6.3",
              "known-good-zope-6.3-plone-6.2.2-py3.12.txt", "plone6.2"),
}
DEFAULT_STACK = "plone6.1"
# What a zope6 venv installs (stacks.mk's EXTRAS_zope6, and make install STORAGE=postgresql's
# extra).
ZOPE6_EXTRAS = "test,release,postgresql"
# make install upgrades these first; they end each file.
INSTALLER_TOOLS = ("pip", "setuptools", "wheel")
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)\s*==")


def key(name):
    """PEP 503 normalized name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_pins(path):
    """{normalized name: [pin lines]} (a package may have one line per marker)."""
    pins = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        line = line.strip()
        match = PIN.match(line)
        if match:
            pins.setdefault(key(match.group(1)), []).append(line)
    return pins


def header(path):
    """The comment lines an existing file starts with."""
    if not path.exists():
        return []
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        lines.append(line)
    return lines


def zope_constraints(release, fetch):
    path = SOURCES / f"zope-{release}-constraints.txt"
    if fetch:
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                            "--no-binary", ":all:", "-d", tmp, f"Zope=={release}"], check=True)
            sdist = next(Path(tmp).glob("*.tar.gz"))
            import tarfile

            with tarfile.open(sdist) as tar:
                member = next(m for m in tar.getmembers()
                              if m.name.count("/") == 1 and m.name.endswith("/constraints.txt"))
                path.write_bytes(tar.extractfile(member).read())
    return read_pins(path)


def upstream(stack, fetch):
    """Zope's constraints overlaid with the Plone freeze."""
    _, release, freeze, _ = STACKS[stack]
    pins = dict(zope_constraints(release, fetch))
    pins.update(read_pins(SOURCES / freeze))
    return pins


def own_additions(fetch):
    """The pins constraints.txt has beyond the default stack's upstream pins."""
    default_upstream = upstream(DEFAULT_STACK, fetch)
    return {name: lines for name, lines in read_pins(DEFAULT_OUT).items()
            if name not in default_upstream}


def resolved_names(pins, python):
    """Names pip resolves ``.[test]`` to under these pins, on that Python."""
    with tempfile.TemporaryDirectory() as tmp:
        constraints = Path(tmp) / "constraints.txt"
        constraints.write_text(render([], pins), encoding="utf-8")
        report = Path(tmp) / "report.json"
        subprocess.run([python, "-m", "pip", "install", "-q", "--dry-run", "--ignore-installed",
                        "--report", str(report), "-c", str(constraints), f"{ROOT}[{ZOPE6_EXTRAS}]"],
                       check=True)
        data = json.loads(report.read_text(encoding="utf-8"))
    return {key(item["metadata"]["name"]) for item in data["install"]}


def stack_pins(stack, fetch, python):
    _, _, _, narrows = STACKS[stack]
    if narrows:
        wide = stack_pins(narrows, fetch, python)
        keep = resolved_names(wide, python) | set(zope_constraints(STACKS[stack][1], False))
        return {name: lines for name, lines in wide.items() if name in keep}
    pins = upstream(stack, fetch)
    for name, lines in own_additions(fetch).items():
        pins.setdefault(name, lines)
    overrides = ROOT / "constraints" / f"overrides-{stack}.txt"
    if overrides.exists():
        pins.update(read_pins(overrides))
        for name in omitted(overrides):
            pins.pop(name, None)
    return pins


def omitted(path):
    """Names on ``omit:`` lines: constraints.txt pins that do not belong to this stack."""
    names = set()
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.startswith("omit:"):
            names.update(key(name) for name in line[len("omit:"):].split())
    return names


def render(head, pins):
    """Sorted by name as written, the installer's own tools last."""
    def order(name):
        return (name in INSTALLER_TOOLS, PIN.match(pins[name][0]).group(1).lower())

    lines = list(head)
    for name in sorted(pins, key=order):
        lines.extend(pins[name])
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stacks", nargs="*", metavar="STACK",
                        help="one of " + ", ".join(STACKS) + " (default: all)")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if stale")
    parser.add_argument("--fetch-zope", action="store_true",
                        help="download Zope's constraints from its sdist first")
    parser.add_argument("--python", default=sys.executable,
                        help="the Python 3.12 that resolves the zope6 set")
    args = parser.parse_args(argv)
    unknown = [stack for stack in args.stacks if stack not in STACKS]
    if unknown:
        parser.error("unknown stack: " + ", ".join(unknown))
    stale = []
    for stack in args.stacks or STACKS:
        out = STACKS[stack][0]
        text = render(header(out), stack_pins(stack, args.fetch_zope, args.python))
        current = out.read_text(encoding="utf-8") if out.exists() else ""
        if text != current:
            stale.append(str(out.relative_to(ROOT)))
            if not args.check:
                out.write_text(text, encoding="utf-8")
    if args.check and stale:
        print("not what scripts/make_constraints.py makes: " + ", ".join(stale))
        return 1
    print(("stale: " if args.check else "written: ") + (", ".join(stale) or "none"))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The translations in src/collective/asyncreports/locales (make i18n, make i18n-check).

``update``: rebuild the .pot with i18ndude from the package's templates, Python, ZCML and
GenericSetup XML, sync the .po files to it and compile each to its .mo.
``check``: fail when the committed .pot's messages differ from a fresh one's (its
POT-Creation-Date and ``#:`` source locations aside), when a .po does not compile
(``msgfmt -c`` when gettext is installed, python-gettext always) or when a committed .mo is
not the one its .po compiles to.

The .mo files are committed because zope.i18n loads only .mo files unless every process
(instances, workers, zconsole scripts) has ``zope_i18n_compile_mo_files`` set.
"""

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from pythongettext.msgfmt import Msgfmt


ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "collective" / "asyncreports"
LOCALES = PACKAGE / "locales"
DOMAIN = "collective.asyncreports"
POT = LOCALES / f"{DOMAIN}.pot"
I18NDUDE = Path(sys.executable).parent / "i18ndude"


def po_files():
    return sorted(LOCALES.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))


def quoted(text):
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def settings_pot(target):
    """The control panel's labels: the queue's settings table (plone/interfaces.py passes
    each title and description through ``_``, which i18ndude cannot read)."""
    from collective.asyncreports.queue.settings import SETTINGS

    header = ["Project-Id-Version: collective.asyncreports", "MIME-Version: 1.0",
              "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit",
              "Plural-Forms: nplurals=1; plural=0", "Language-Code: en",
              "Language-Name: English", "Preferred-Encodings: utf-8 latin1", f"Domain: {DOMAIN}"]
    entries = ['msgid ""\nmsgstr ""\n' + "".join(f'"{line}\\n"\n' for line in header)]
    for setting in SETTINGS.in_plone():
        for text in filter(None, (setting.title, setting.description)):
            entries.append(f"#: ./queue/settings.py\nmsgid {quoted(text)}\nmsgstr \"\"\n")
    target.write_text("\n".join(entries), encoding="utf-8")


def build_pot(target):
    with tempfile.TemporaryDirectory() as tmp:
        manual = Path(tmp) / "settings.pot"
        settings_pot(manual)
        # i18ndude names the files relative to the directory it runs in: run it in the package.
        subprocess.run([str(I18NDUDE), "rebuild-pot", "--pot", str(target), "--create", DOMAIN,
                        "--merge", str(manual), "."],
                       cwd=PACKAGE, check=True, stdout=subprocess.DEVNULL)


def messages(path):
    """The .pot without its creation date and its ``#:`` source locations: a line moved in
    the code is not a change to translate."""
    return [line for line in path.read_text(encoding="utf-8").splitlines()
            if not line.startswith(('"POT-Creation-Date:', "#: "))]


def compiled(po):
    with po.open("rb") as stream:
        return Msgfmt(stream, name=str(po)).get()


def update():
    build_pot(POT)
    subprocess.run([str(I18NDUDE), "sync", "--pot", str(POT), *map(str, po_files())],
                   check=True, stdout=subprocess.DEVNULL)
    for po in po_files():
        po.with_suffix(".mo").write_bytes(compiled(po))


def check():
    problems = []
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp) / POT.name
        build_pot(fresh)
        if messages(fresh) != messages(POT):
            problems.append(f"{POT.relative_to(ROOT)} is not current: run make i18n")
    msgfmt = shutil.which("msgfmt")
    for po in po_files():
        name = po.relative_to(ROOT)
        if msgfmt and subprocess.run([msgfmt, "-c", "-o", "/dev/null", str(po)]).returncode:
            problems.append(f"{name}: msgfmt -c fails")
            continue
        try:
            mo = compiled(po)
        except Exception as exc:  # python-gettext raises PoSyntaxError and plain errors
            problems.append(f"{name} does not compile: {exc}")
            continue
        if not po.with_suffix(".mo").is_file() or po.with_suffix(".mo").read_bytes() != mo:
            problems.append(f"{name.with_suffix('.mo')} is not its .po compiled: run make i18n")
    if not msgfmt:
        print("i18n-check: msgfmt (gettext) not installed; compiled with python-gettext only")
    for problem in problems:
        print(f"i18n-check: {problem}", file=sys.stderr)
    if not problems:
        print(f"i18n-check: {POT.name} current, {len(po_files())} .po files compile")
    return 1 if problems else 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("update", "check"))
    args = parser.parse_args(argv)
    if args.command == "update":
        update()
        return 0
    return check()


if __name__ == "__main__":
    sys.exit(main())

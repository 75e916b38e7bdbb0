"""The text of an error log, whatever stores it, and who sees how much of it.

Tracebacks name files by their absolute paths on the server: where Zope is
installed, the virtualenv, the instance's var/ folder. Users should never
see server internals, managers may. The rule, in one place:

- ``owner_text`` is what everybody but a manager sees: every server path is
  made relative to the place Python imports it from
  (``collective/asyncreports/reports/inventory.py``, ``ZODB/Connection.py``)
  or, outside those, cut to ``.../name``. It is what a stored error log
  holds, so every way of reading the file (download, WebDAV, the ZMI's edit
  tab, the REST API) serves only that.
- The full text is kept on the same object (``FULL_TEXT_ATTRIBUTE``, a
  private attribute no URL or restricted code reaches) and shown only by the
  managers' view of a job's error log (``full_text``).
- Error messages shown in job listings go through ``owner_text`` for
  everyone who does not manage the queue.
"""

import os
import re
import sys
import tempfile


# Where a stored error log keeps its full text (for managers); underscore:
# neither published nor reachable from restricted code.
FULL_TEXT_ATTRIBUTE = "_asyncreports_full_text"

# A file of a traceback frame: always a server path.
_FRAME = re.compile(r'(File ")([^"]+)(")')
# Any absolute POSIX path-like token in free text (exception messages).
_PATH = re.compile(r"(?<![\w./-])/[^\s'\"<>:,;()\[\]{}]+")


def error_log_text(job, traceback_text):
    """The text of an error log: what was asked, by whom, and what went wrong."""
    lines = [
        f"Job:        {job.id}",
        f"Report:     {job.report}",
        f"Target:     {job.path}",
        f"Owner:      {job.owner_id} ({job.owner_folder})",
        f"Attempt:    {job.attempts} of {job.max_attempts}",
        "Parameters:",
    ]
    lines += [f"  {name} = {value!r}" for name, value in sorted(job.params.items())]
    lines += ["", traceback_text.rstrip(), ""]
    return "\n".join(lines)


def owner_text(text):
    """``text`` with every server file system path trimmed (see the module doc)."""
    if not text:
        return text
    import_roots, other_roots = _roots()

    def trimmed(path, always):
        for root in import_roots:
            if path.startswith(root):
                return path[len(root):]
        if always or any(path.startswith(root) for root in other_roots):
            return ".../" + path.rstrip("/").rsplit("/", 1)[-1]
        return path  # not a server path: a ZODB path like /plone/docs, a URL path

    text = _FRAME.sub(lambda m: m.group(1) + trimmed(m.group(2), True) + m.group(3), text)
    return _PATH.sub(lambda m: trimmed(m.group(0), False), text)


def full_text(obj):
    """The full text of a stored error log ``obj`` (for managers only).

    Logs stored before trimming existed hold their full text as their data.
    """
    full = getattr(obj, FULL_TEXT_ATTRIBUTE, None)
    if full is not None:
        return full
    data = obj.file.data if hasattr(obj, "file") else obj.data
    return (data if isinstance(data, bytes) else bytes(data)).decode("utf-8", "replace")


def keep_full_text(obj, text):
    """Remember the full ``text`` on the stored error log ``obj`` when trimming changed it."""
    if owner_text(text) != text:
        setattr(obj, FULL_TEXT_ATTRIBUTE, text)


def _roots():
    """(import roots, other server roots): directory prefixes, each ending in '/'.

    Import roots are sys.path entries and the folders top-level packages were
    imported from (editable installs are on no sys.path entry), longest
    first, so a path becomes relative to the most specific one.
    """
    imports = {entry for entry in sys.path if entry and os.path.isabs(entry)}
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if not isinstance(file, str) or not os.path.isabs(file):
            continue
        folder = os.path.dirname(file)
        if os.path.basename(file).startswith("__init__."):
            folder = os.path.dirname(folder)
        for _ in range(name.count(".")):  # a.b.c lives in <root>/a/b/
            folder = os.path.dirname(folder)
        imports.add(folder)
    others = {sys.prefix, sys.base_prefix, sys.exec_prefix, os.getcwd(),
              os.path.expanduser("~"), tempfile.gettempdir(),
              os.environ.get("INSTANCE_HOME", ""), os.environ.get("CLIENT_HOME", "")}

    def prefixes(paths):
        found = {os.path.normpath(path).rstrip("/") + "/" for path in paths if path}
        return sorted(found - {"//", "/"}, key=len, reverse=True)

    return prefixes(imports), prefixes(others)

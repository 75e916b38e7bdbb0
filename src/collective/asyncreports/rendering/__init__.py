"""Rendering on ReportLab and openpyxl: a small document builder every report can
use, and its exports (PDF, CSV, XLSX)."""

import importlib


__all__ = ["Document", "Link", "is_pdf"]

# Imported when first asked for (PEP 562): rendering.document imports ReportLab,
# a tenth of a second that code using only rendering.exports' format names (the
# CLI's reading commands, which open a queue and print its jobs) never needs.
_HOMES = {"Document": "document", "is_pdf": "document", "Link": "links"}


def __getattr__(name):
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)

"""Rendering on ReportLab and openpyxl: a small document builder every report can
use, and its exports (PDF, CSV, XLSX)."""

from collective.asyncreports.rendering.document import Document
from collective.asyncreports.rendering.document import is_pdf
from collective.asyncreports.rendering.links import Link


__all__ = ["Document", "Link", "is_pdf"]

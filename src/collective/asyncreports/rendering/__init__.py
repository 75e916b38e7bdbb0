"""PDF building on ReportLab: a small document builder every report can use."""

from collective.asyncreports.rendering.document import Document
from collective.asyncreports.rendering.document import is_pdf


__all__ = ["Document", "is_pdf"]

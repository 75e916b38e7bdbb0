Reports people love: ``collective.asyncreports.api`` for report authors (``enqueue``,
``get_job``, ``current_job()`` with ``progress()`` and ``cancelled()``), cancelling a running
report within a second, five job events and the Plone content-rule triggers "Report
finished" and "Report failed", CSV and XLSX results, charts, links, totals, a PDF outline,
metadata and a page header in ``Document``, the eager test fixture (a job runs when its
transaction commits, no worker needed), and job pages and My reports that update themselves.

"""A report add-on written from the report authors' guide alone (docs/authors/: "Writing
a report type", "Result formats", "Events", "The authors' API", "Testing your reports"):
the test that issue 13's features work together as the docs say.

``orders-by-region`` reports made-up orders per region: it says how far it
got with ``api.current_job().progress()`` (and so stops when cancelled),
offers PDF, CSV and XLSX, and draws a chart; a subscriber of
``IJobFinished`` keeps a log on the queue. Its own tests (``tests.py``) run
under the eager fixture; tests/system/test_authors_guide.py runs it in a
real worker.
"""

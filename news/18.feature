Performance, second round (issue 18): the read-only ``asyncreports`` commands (``jobs``,
``show``, ``health``, ``metrics``) open the database without starting Zope and answer in
about a second instead of three to four; a big result in a ZMI queue is stored as a chain
of 64 KB records saved as they are made, so a 50 MB PDF costs about its own size in the
worker's memory instead of several times it; ``make bench`` measures real two-page reports
against a plain render loop, a busy web site (two Zope instances, eight HTTP clients on the
Submit form, two workers), a big result, the CLI, and, when asked with ``--only 12,14``, a
Plone site of 10,000 pages and a queue of a million jobs with a retention purge.

The package: a ZODB job queue (``JobQueue``) of Async Report Queues in the ZMI, a worker
that is an ordinary ZEO client started with the instance's ``zope.conf``
(``asyncreports -C etc/zope.conf worker``) and runs each report as the person who asked for
it, a report registry with the built-in Object inventory, PDF results and error logs stored
next to the job, the ``asyncreports`` command line, ``make run`` and ``make test``.

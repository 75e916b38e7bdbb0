"""A complete local system for ``make run`` and the end-to-end tests.

ZEO server (FileStorage + blobs), a Zope WSGI instance as ZEO client and one
worker, all on 127.0.0.1, with configuration written under one home folder.
Every process started here is stopped here, by PID. Development tooling: the
add-on itself imports nothing from here.

- ``processes``: the home folder (``Instance``), its configuration written from
  ``templates/``, starting and stopping its processes.
- ``bootstrap``: the admin user, the ZMI queue, the Plone site and demo content.
- ``run``: ``make run`` (start it all, stop it all in order) and ``make stop``.
- ``__main__``: ``python -m collective.asyncreports.dev run|stop|bootstrap``.
"""

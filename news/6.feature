Deployment: ``buildout.cfg`` builds the ZEO server, the instance and the worker from PyPI
with every version pinned (``make buildout-check`` builds and runs it), systemd units, cron
and timers, log rotation, workers on several hosts, and real-browser tests of the ZMI and
Plone pages in headless Chromium.

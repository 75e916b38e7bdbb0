A documentation site: Sphinx pages under ``docs/`` (``make docs`` builds them with warnings
as errors) with a user guide for the ZMI and Plone with screenshots, an administrator's
guide (installing with buildout or pip, systemd, several hosts, monitoring, backups and
packing, upgrades, security, performance), a report authors' guide with the API documented
from its docstrings, a reference (every command and option of ``asyncreports`` from its
parser, the settings table, permissions, the REST operations from the OpenAPI document)
and the changelog. The README is now a short introduction that links into them.

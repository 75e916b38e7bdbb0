A REST API on plone.restapi for Volto and scripts: ``@report-types``, ``@reports`` (queue,
list, one job, cancel, retry, run again, keep, delete, purge), ``@report-workers``,
``@report-schedules``, the ``reports`` expansion and ``@controlpanels/asyncreports``, with
an OpenAPI 3.1 document at ``@reports-openapi`` that schemathesis checks in CI.

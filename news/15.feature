Recurring reports fired exactly once per tick by any number of workers (cron expressions in
IANA time zones, daylight-saving correct, missed ticks run once or skipped), in the ZMI,
Plone, REST and the command line; mail to the owner when a report finishes or fails;
retention that workers run themselves, with a Keep mark; identical submissions returned
instead of queued twice, result reuse, ``max_concurrent`` per report type and a cap on
waiting jobs per user; Prometheus metrics on each queue and ``asyncreports metrics``.

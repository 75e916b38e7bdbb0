"""The add-on's subscriber: a log of finished reports, kept on the queue."""


def report_finished(event):
    # Written in the transaction that stores the result: it commits with it.
    log = getattr(event.queue, "authorsguide_log", ())
    event.queue.authorsguide_log = (*log, (event.job.id, event.result.getId()))

"""A subscriber of every job event, for tests/system/test_events_in_workers.py.

It adds the event's name to ``job.event_marks``, in the transaction that
fires it, and raises on the event named by the queue's ``events_raise_on``.
"""


def mark(event):
    name = type(event).__name__
    job = event.job
    job.event_marks = (*getattr(job, "event_marks", ()), name)
    if getattr(event.queue, "events_raise_on", None) == name:
        raise RuntimeError(f"the {name} subscriber broke on purpose")

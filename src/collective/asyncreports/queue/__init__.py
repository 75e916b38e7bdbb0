"""The persistent job queue: pure ZODB, no Zope needed (see DESIGN.md)."""

from collective.asyncreports.queue.job import Job
from collective.asyncreports.queue.jobqueue import JobQueue
from collective.asyncreports.queue.states import ALL_STATES
from collective.asyncreports.queue.states import CANCELLED
from collective.asyncreports.queue.states import DONE
from collective.asyncreports.queue.states import FAILED
from collective.asyncreports.queue.states import FINAL_STATES
from collective.asyncreports.queue.states import QUEUED
from collective.asyncreports.queue.states import RUNNING
from collective.asyncreports.queue.workers import WorkerRecord


__all__ = [
    "ALL_STATES",
    "CANCELLED",
    "DONE",
    "FAILED",
    "FINAL_STATES",
    "QUEUED",
    "RUNNING",
    "Job",
    "JobQueue",
    "WorkerRecord",
]

"""``GET {site}/@report-workers`` (managers): the Workers page as JSON."""

from collective.asyncreports.actions import require_manager
from collective.asyncreports.plone.browser import site_queue
from collective.asyncreports.restapi.common import Service
from collective.asyncreports.rows import iso_time
from collective.asyncreports.rows import worker_rows


class WorkersGet(Service):
    """Workers that served this site's queue, newest heartbeat first (rows.worker_rows)."""

    def reply(self):
        queue = site_queue()
        require_manager(queue, "see the workers")
        return {
            "@id": f"{self.context.absolute_url()}/@report-workers",
            "items": [
                {
                    "worker_id": row["worker_id"],
                    "hostname": row["hostname"],
                    "pid": row["pid"],
                    "alive": row["alive"],
                    "started": iso_time(row["started"]),
                    "last_heartbeat": iso_time(row["last_heartbeat"]),
                    "current_jobs": row["current_jobs"],
                    "jobs_done": row["jobs_done"],
                    "jobs_failed": row["jobs_failed"],
                    "last_job_id": row["last_job_id"],
                    "stopped": bool(row["stopped"]),
                }
                for row in worker_rows(queue.job_queue())
            ],
        }

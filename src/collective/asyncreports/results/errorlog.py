"""The text of an error log, whatever stores it."""


def error_log_text(job, traceback_text):
    """The text of an error log: what was asked, by whom, and what went wrong."""
    lines = [
        f"Job:        {job.id}",
        f"Report:     {job.report}",
        f"Target:     {job.path}",
        f"Owner:      {job.owner_id} ({job.owner_folder})",
        f"Attempt:    {job.attempts} of {job.max_attempts}",
        "Parameters:",
    ]
    lines += [f"  {name} = {value!r}" for name, value in sorted(job.params.items())]
    lines += ["", traceback_text.rstrip(), ""]
    return "\n".join(lines)

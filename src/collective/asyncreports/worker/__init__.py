"""The worker process: claims jobs, runs them as their owners, stores their results."""

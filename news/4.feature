Reliability and security: claims are leases with heartbeats, so a job whose worker dies or
loses its ZEO server goes back to the queue and nothing runs twice; retries with backoff,
time limits, owner-only results, every state change a POST with a CSRF token, hostile input
refused; all of it proven by fault-injection tests with real ZEO servers and workers.

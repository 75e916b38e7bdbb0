"""Contract tests: schemathesis against a live system (run_schemathesis.py)."""

"""The chaos soak's parts; tests/chaos.py runs them (``make chaos``)."""

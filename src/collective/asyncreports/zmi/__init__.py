"""The ZMI: the Async Report Queue object's tabs, add form and form helpers."""

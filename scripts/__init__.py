"""Developer scripts, run as `python scripts/NAME.py`; importable as `scripts.NAME` by the tests."""

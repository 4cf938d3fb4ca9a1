"""`mg ingest` (stub until issue 4 lands)."""

from mg.cli.common import not_built


def ingest() -> None:
    """Not built yet (issue 4)."""
    not_built("ingest", 4)

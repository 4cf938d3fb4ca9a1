"""`mg zoo` (stub until issue 5 lands)."""

from mg.cli.common import not_built


def zoo() -> None:
    """Not built yet (issue 5)."""
    not_built("zoo", 5)

"""`mg compare` (stub until issue 9 lands)."""

from mg.cli.common import not_built


def compare() -> None:
    """Not built yet (issue 9)."""
    not_built("compare", 9)

"""`mg evaluate` (stub until issue 7 lands)."""

from mg.cli.common import not_built


def evaluate() -> None:
    """Not built yet (issue 7)."""
    not_built("evaluate", 7)

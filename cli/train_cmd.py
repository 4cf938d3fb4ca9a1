"""`mg train` (stub until issue 6 lands)."""

from mg.cli.common import not_built


def train() -> None:
    """Not built yet (issue 6)."""
    not_built("train", 6)

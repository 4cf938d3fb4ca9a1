"""`mg generate` (stub until issue 7 lands)."""

from mg.cli.common import not_built


def generate() -> None:
    """Not built yet (issue 7)."""
    not_built("generate", 7)

"""`mg ui` (stub until issue 9 lands)."""

from mg.cli.common import not_built


def ui() -> None:
    """Not built yet (issue 9)."""
    not_built("ui", 9)

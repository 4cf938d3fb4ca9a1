"""`mg inspect` (stub: finished with issue 3)."""

from mg.cli.common import not_built


def inspect() -> None:
    """What a file becomes (being built)."""
    not_built("inspect", 3)

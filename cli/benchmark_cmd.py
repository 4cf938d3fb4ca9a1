"""`mg benchmark` (stub until issue 8 lands)."""

import typer

from mg.cli.common import not_built

app = typer.Typer(help="Benchmarks against published results.", no_args_is_help=True)


@app.command("polyphonic")
def polyphonic() -> None:
    """Not built yet (issue 8)."""
    not_built("benchmark polyphonic", 8)

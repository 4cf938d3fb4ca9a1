"""The `mg` command: a table of commands, each defined in its own module."""

from __future__ import annotations

from typing import Annotated

import typer

from mg import __version__
from mg.cli import (
    benchmark_cmd,
    compare_cmd,
    evaluate_cmd,
    generate_cmd,
    ingest_cmd,
    inspect_cmd,
    interpolate_cmd,
    serve_cmd,
    train_cmd,
    ui_cmd,
    zoo_cmd,
)
from mg.cli.common import STATE

app = typer.Typer(
    name="mg",
    help="From a symbolic-music corpus to a trained, registered generator and back to new music.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

app.command("ingest", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(
    ingest_cmd.ingest
)
app.command("inspect")(inspect_cmd.inspect)
app.command("zoo")(zoo_cmd.zoo)
app.command("train")(train_cmd.train)
app.command("generate")(generate_cmd.generate)
app.command("evaluate")(evaluate_cmd.evaluate)
app.command("interpolate")(interpolate_cmd.interpolate)
app.add_typer(benchmark_cmd.app, name="benchmark")
app.command("compare")(compare_cmd.compare)
app.command("ui")(ui_cmd.ui)
app.command("serve")(serve_cmd.serve)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mg {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks on errors.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    STATE.debug = debug


def main() -> None:
    command = typer.main.get_command(app)
    hide_flag_types(command)
    command()


def hide_flag_types(command) -> None:
    """A flag (`--png`, `--wav`) takes no value: `--help` shows no `<bool>` type beside it,
    which read as if it needed one."""
    for param in command.params:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
    for sub in getattr(command, "commands", {}).values():
        hide_flag_types(sub)

"""What every command shares: the one-line error edge, the progress switch, option parsers."""

from __future__ import annotations

import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import typer

from musicgen.errors import MgError


@dataclass
class _State:
    debug: bool = False


STATE = _State()


@contextmanager
def one_line_errors() -> Iterator[None]:
    """Turn expected failures into one line on stderr and exit code 1 (traceback with --debug)."""
    try:
        yield
    except (MgError, FileNotFoundError, PermissionError, ValueError, OSError) as exc:
        if STATE.debug:
            traceback.print_exc()
        typer.echo(f"mg: error: {exc}", err=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        typer.echo("mg: interrupted", err=True)
        raise typer.Exit(130) from None


def show_progress() -> bool:
    """Progress bars on a terminal only; logs and CI stay quiet."""
    import os

    return sys.stderr.isatty() and not os.environ.get("CI")


def not_built(command: str, issue: int) -> None:
    typer.echo(f"mg {command}: not built yet (issue {issue})", err=True)
    raise typer.Exit(2)

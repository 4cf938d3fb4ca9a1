"""What every command shares: the one-line error edge, the progress switch, option parsers."""

from __future__ import annotations

import logging
import os
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import typer

from mg.errors import MgError


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
        typer.echo(f"mg: error: {one_line(exc)}", err=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        typer.echo("mg: interrupted", err=True)
        raise typer.Exit(130) from None


def one_line(exc: BaseException) -> str:
    """The error's message on one line. A DataLoader worker's error arrives as "Caught X in
    DataLoader worker process 0. Original Traceback ...": its last line is the message."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    if lines[0].startswith("Caught ") and len(lines) > 1:
        last = lines[-1]
        name = type(exc).__name__
        return last.split(f"{name}: ", 1)[1] if f"{name}: " in last else last
    return " ".join(lines)


def show_progress() -> bool:
    """Progress bars on a terminal only; logs and CI stay quiet."""
    return sys.stderr.isatty() and not os.environ.get("CI")


def quiet_mlflow() -> None:
    """MLflow's INFO lines (creating a store's tables, …) stay out of the command's output,
    unless MLFLOW_LOGGING_LEVEL asks for them (MLflow reads it when first imported)."""
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    if "mlflow" in sys.modules:
        logging.getLogger("mlflow").setLevel(os.environ["MLFLOW_LOGGING_LEVEL"].upper())

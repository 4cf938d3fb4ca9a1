"""`mg compare`: runs side by side in the terminal, and their validation curves as a PNG."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from mg.cli.common import one_line_errors


def compare(
    refs: Annotated[
        list[str],
        typer.Argument(
            metavar="RUN_OR_EXPERIMENT...",
            help="Run ids (or the short ids the table prints), or experiment names (every run in them).",
        ),
    ],
    png: Annotated[
        Path | None,
        typer.Option("--png", help="Also draw valid/nll_frame per epoch to this PNG."),
    ] = None,
    tracking_uri: Annotated[
        str | None,
        typer.Option(
            "--tracking-uri",
            help="Store to read (default: MLFLOW_TRACKING_URI, else sqlite:///mlflow.db here).",
        ),
    ] = None,
) -> None:
    """Compare runs: backbone, params that differ, best valid/nll_frame, test NLL, speed."""
    from mg.tracking.compare import (  # mlflow: slow import
        dataset_warning,
        format_table,
        load_comparison,
        plot_curves,
    )
    from mg.tracking.runs import resolve_tracking_uri

    with one_line_errors():
        comparison = load_comparison(refs, resolve_tracking_uri(tracking_uri, os.environ))
        typer.echo(format_table(comparison))
        if (warning := dataset_warning(comparison)) is not None:
            typer.echo(warning, err=True)
        if png is not None:
            typer.echo(f"wrote {plot_curves(comparison, png)}")

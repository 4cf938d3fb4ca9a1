"""`mg ui`: the MLflow UI on the tracking store `mg train` used, until Ctrl-C."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from mg.cli.common import one_line_errors


def ui(
    port: Annotated[
        int, typer.Option("--port", help="Port to listen on (0: any free port).")
    ] = 5000,
    host: Annotated[
        str, typer.Option("--host", help="Interface to bind; 0.0.0.0 exposes it to the network.")
    ] = "127.0.0.1",
    tracking_uri: Annotated[
        str | None,
        typer.Option(
            "--tracking-uri",
            help="Store to show (default: MLFLOW_TRACKING_URI, else sqlite:///mlflow.db here).",
        ),
    ] = None,
    workers: Annotated[int, typer.Option("--workers", help="Server worker processes.")] = 1,
) -> None:
    """Start the MLflow UI on the runs `mg train` logged; Ctrl-C stops it."""
    from mg.tracking.runs import resolve_tracking_uri  # imports mlflow: only when run
    from mg.tracking.ui import local_spec, serve_until_interrupted

    with one_line_errors():
        spec = local_spec(resolve_tracking_uri(tracking_uri, os.environ), host, port, workers)
        code = serve_until_interrupted(spec, typer.echo)
        typer.echo("stopped")
    raise typer.Exit(code)

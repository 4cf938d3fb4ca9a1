"""`mg serve`: a logged model as an HTTP endpoint (`mlflow models serve`), until Ctrl-C."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from mg.cli.common import one_line_errors, quiet_mlflow


def serve(
    model_uri: Annotated[
        str,
        typer.Option(
            "--model-uri",
            help="models:/NAME/VERSION, models:/NAME@ALIAS, runs:/RUN_ID/model or a logged model folder.",
        ),
    ],
    port: Annotated[
        int, typer.Option("--port", min=0, help="Port to listen on (0: any free port).")
    ] = 5001,
    host: Annotated[
        str, typer.Option("--host", help="Interface to bind; 0.0.0.0 exposes it to the network.")
    ] = "127.0.0.1",
    workers: Annotated[int, typer.Option("--workers", min=1, help="uvicorn worker processes.")] = 1,
    timeout: Annotated[
        int, typer.Option("--timeout", min=1, help="Seconds one request may take.")
    ] = 60,
    tracking_uri: Annotated[
        str | None,
        typer.Option(help="MLflow tracking URI (else MLFLOW_TRACKING_URI, else ./mlflow.db)."),
    ] = None,
) -> None:
    """Serve a trained model: POST sampling options to /invocations, get MIDI and notes back."""
    from mg.tracking.child_server import free_port  # imports stay out of `mg --help`
    from mg.tracking.runs import resolve_tracking_uri
    from mg.tracking.serve import ServeSpec, model_to_serve, serve_until_stopped

    quiet_mlflow()
    with one_line_errors(), tempfile.TemporaryDirectory(prefix="mg-serve-") as scratch:
        store = resolve_tracking_uri(tracking_uri, os.environ)
        folder, source = model_to_serve(model_uri, store, Path(scratch))
        port = port or free_port(host)
        spec = ServeSpec(folder, host, port, workers, timeout)
        code = serve_until_stopped(spec, source, typer.echo)
        typer.echo("stopped")
    raise typer.Exit(code)

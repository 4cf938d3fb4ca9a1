"""`mg ui`: the MLflow UI on the tracking store `mg train` used, until Ctrl-C.

MLflow's server talks a lot (registry notices, a security banner, deprecation warnings, a line
per request): that goes to a log file, shown only when the server fails, unless `--verbose`.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Annotated

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
    verbose: Annotated[
        bool, typer.Option("--verbose", help="Show MLflow's own server output here.")
    ] = False,
) -> None:
    """Start the MLflow UI on the runs `mg train` logged; Ctrl-C stops it."""
    from mg.tracking.runs import resolve_tracking_uri  # imports mlflow: only when run
    from mg.tracking.ui import local_spec, serve_until_interrupted

    with one_line_errors(), _server_log(verbose) as log:
        spec = local_spec(resolve_tracking_uri(tracking_uri, os.environ), host, port, workers)
        code = serve_until_interrupted(spec, typer.echo, log)
        typer.echo("stopped")
    raise typer.Exit(code)


@contextmanager
def _server_log(verbose: bool) -> Iterator[IO[bytes] | None]:
    """A log file for MLflow's output (None with --verbose: this terminal). Removed after a
    clean run; kept, and named in the error with its last line, when the server fails."""
    if verbose:
        yield None
        return
    from mg.tracking.ui import UiError

    descriptor, name = tempfile.mkstemp(prefix="mg-ui-", suffix=".log")
    path = Path(name)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            yield handle
    except UiError as exc:
        lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
        if not lines:  # refused before the server started (a port in use, a remote URI)
            path.unlink(missing_ok=True)
            raise
        raise UiError(f"{exc}; MLflow's output is in {path}: {lines[-1].strip()}") from None
    path.unlink(missing_ok=True)

"""`mg ui`: the MLflow UI (`mlflow server`) as a child process on the store `mg train` used.

The server runs in its own process group (mg.tracking.child_server), so a Ctrl-C reaches it
only through us: we forward SIGINT/SIGTERM to MLflow's CLI (which passes it on to uvicorn; a
closed terminal's SIGHUP becomes a SIGTERM), wait for the group to exit, and kill what is left
of it (uvicorn and its workers) after a grace period, so the port is always freed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from mg.tracking import child_server
from mg.tracking.child_server import (  # noqa: F401  (the UI's callers import them from here)
    STOP_GRACE_S,
    ServerError,
    free_port,
    port_in_use,
    server_answers,
)

UiError = ServerError  # the UI server could not start, or stopped on its own


@dataclass(frozen=True)
class ServerSpec:
    """What `mlflow server` is started with: the store, where it listens, where artifacts go."""

    backend_uri: str
    host: str = "127.0.0.1"
    port: int = 5000
    workers: int = 1
    default_artifact_root: str | None = None
    artifacts_destination: str | None = None

    @property
    def address(self) -> str:
        return child_server.http_address(self.host, self.port)

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", self.backend_uri]
        cmd += ["--host", self.host, "--port", str(self.port), "--workers", str(self.workers)]
        if self.default_artifact_root:
            cmd += ["--default-artifact-root", self.default_artifact_root]
        if self.artifacts_destination:
            cmd += ["--artifacts-destination", self.artifacts_destination]
        return cmd


def local_spec(tracking_uri: str, host: str, port: int, workers: int = 1) -> ServerSpec:
    """The server for a local store: artifacts stay where the MLflow client puts them (./mlruns).

    Without `--default-artifact-root`, a server that creates the store first would give the
    Default experiment a `mlflow-artifacts:` root that a later local `mg train` cannot write to.
    """
    if tracking_uri.startswith(("http://", "https://")):
        raise UiError(f"{tracking_uri} is a tracking server already: open it in a browser")
    if tracking_uri.startswith("databricks"):
        raise UiError(f"{tracking_uri}: open the Databricks workspace instead")
    if port == 0:
        port = free_port(host)
    root = (Path.cwd() / "mlruns").as_uri()
    return ServerSpec(absolute_store_uri(tracking_uri), host, port, workers, root)


def absolute_store_uri(uri: str) -> str:
    """`sqlite:///mlflow.db` (relative to the working folder) as an absolute URI; others as-is."""
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri.startswith(prefix + "/") and ":memory:" not in uri:
        return prefix + str(Path.cwd() / uri[len(prefix) :])
    if "://" not in uri:  # a plain folder: MLflow's file store
        return Path(uri).resolve().as_uri()
    return uri


def start_server(spec: ServerSpec, log: IO[bytes] | int | None = None) -> subprocess.Popen:
    """Start `mlflow server` in a new session (its own process group); not yet ready."""
    env = dict(os.environ)
    # The GenAI job runner (huey consumers) is not needed to browse training runs.
    env.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
    return child_server.start(spec, log, env)


def wait_ready(proc: subprocess.Popen, spec: ServerSpec, timeout_s: float = 90.0) -> None:
    """Poll `/health` until the server answers; a server that exits first is an error."""
    child_server.wait_ready(proc, spec, "/health", timeout_s)


def stop_server(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> int:
    """Signal the server, wait for its group, kill what is left after the grace period."""
    return child_server.stop(proc, sig)


@contextmanager
def running_server(spec: ServerSpec, log: IO[bytes] | int | None = None) -> Iterator[str]:
    """A ready server for the block's duration, stopped even when the block fails."""
    proc = start_server(spec, log)
    try:
        wait_ready(proc, spec)
        yield spec.address
    finally:
        stop_server(proc)


def serve_until_interrupted(
    spec: ServerSpec, echo: Callable[[str], None], log: IO[bytes] | int | None = None
) -> int:
    """`mg ui`: run the server until SIGINT/SIGTERM/SIGHUP, forward it, wait; 0 on a clean stop.
    MLflow's own output goes to `log` (None: this terminal)."""
    proc = start_server(spec, log)

    def announce() -> None:
        echo(f"MLflow UI for {spec.backend_uri}")
        echo(f"starting on {spec.address} (Ctrl-C to stop) ...")
        wait_ready(proc, spec)
        echo(f"ready: {spec.address}")

    return child_server.serve_until_signalled(proc, spec, announce, _stop_signal)


def _stop_signal(received: int) -> int:
    """MLflow's CLI passes SIGINT and SIGTERM on to uvicorn; a hang-up stops it as SIGTERM."""
    return signal.SIGTERM if received == signal.SIGHUP else received

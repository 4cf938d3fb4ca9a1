"""`mg ui`: the MLflow UI (`mlflow server`) as a child process on the store `mg train` used.

The server runs in its own process group, so a Ctrl-C reaches it only through us: we forward
SIGINT/SIGTERM to MLflow's CLI (which passes it on to uvicorn), wait for it to exit, and kill
what is left of the group (uvicorn and its workers) after a grace period, so the port is
always freed.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from mg.errors import MgError

STOP_GRACE_S = 15.0


class UiError(MgError):
    """The UI server could not start, or stopped on its own."""


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
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

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


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now (the OS picks it)."""
    with socket.socket(_family(host), socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def port_in_use(host: str, port: int) -> bool:
    with socket.socket(_family(host), socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def start_server(spec: ServerSpec, log: IO[bytes] | int | None = None) -> subprocess.Popen:
    """Start `mlflow server` in a new session (its own process group); not yet ready."""
    if port_in_use(spec.host, spec.port):
        raise UiError(f"port {spec.port} on {spec.host} is in use: choose another with --port")
    env = dict(os.environ)
    # The GenAI job runner (huey consumers) is not needed to browse training runs.
    env.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
    return subprocess.Popen(
        spec.command(),
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT if log is not None else None,
        start_new_session=True,
    )


def wait_ready(proc: subprocess.Popen, spec: ServerSpec, timeout_s: float = 90.0) -> None:
    """Poll `/health` until the server answers; a server that exits first is an error."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise UiError(f"mlflow server on {spec.address} exited with code {proc.returncode}")
        if server_answers(spec.address):
            return
        time.sleep(0.2)
    raise UiError(f"mlflow server on {spec.address} did not answer within {timeout_s:.0f} s")


def server_answers(address: str, timeout_s: float = 2.0) -> bool:
    """Whether an HTTP server answers `GET /health` at `address` (any status: a proxy asking
    for credentials still answers)."""
    try:
        with urllib.request.urlopen(address.rstrip("/") + "/health", timeout=timeout_s):
            return True
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, OSError):
        return False


def stop_server(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> int:
    """Signal the server, wait, and kill what is left of its process group after the grace period.

    Only the `mlflow` process gets the signal: it forwards it to uvicorn, which would take a
    second one as "force quit" and print a traceback.
    """
    with suppress(ProcessLookupError):
        proc.send_signal(sig)
    try:
        proc.wait(timeout=STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        _signal_group(proc, signal.SIGKILL)
        proc.wait()
    _signal_group(proc, signal.SIGKILL)  # stray workers whose parent already exited
    return proc.returncode


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


@contextmanager
def running_server(spec: ServerSpec, log: IO[bytes] | int | None = None) -> Iterator[str]:
    """A ready server for the block's duration, stopped even when the block fails."""
    proc = start_server(spec, log)
    try:
        wait_ready(proc, spec)
        yield spec.address
    finally:
        stop_server(proc)


def serve_until_interrupted(spec: ServerSpec, echo: Callable[[str], None]) -> int:
    """`mg ui`: run the server until SIGINT/SIGTERM, forward the signal, wait; 0 on a clean stop."""
    proc = start_server(spec)
    stopping: list[int] = []

    def forward(signum: int, _frame: object) -> None:
        stopping.append(signum)
        if len(stopping) > 1:
            _signal_group(proc, signal.SIGKILL)  # a second Ctrl-C: no more waiting
        else:
            with suppress(ProcessLookupError):
                proc.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        _announce(proc, spec, echo, stopping)
        return _wait_for_exit(proc, spec, stopping)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if proc.poll() is None:
            stop_server(proc)
        _signal_group(proc, signal.SIGKILL)


def _announce(
    proc: subprocess.Popen, spec: ServerSpec, echo: Callable[[str], None], stopping: list[int]
) -> None:
    echo(f"MLflow UI for {spec.backend_uri}")
    echo(f"starting on {spec.address} (Ctrl-C to stop) ...")
    try:
        wait_ready(proc, spec)
    except UiError:
        if stopping:
            return  # interrupted while starting: not an error
        raise
    echo(f"ready: {spec.address}")


def _wait_for_exit(proc: subprocess.Popen, spec: ServerSpec, stopping: list[int]) -> int:
    deadline: float | None = None
    while proc.poll() is None:
        if stopping and deadline is None:
            deadline = time.monotonic() + STOP_GRACE_S
        if deadline is not None and time.monotonic() > deadline:
            _signal_group(proc, signal.SIGKILL)
        try:
            proc.wait(timeout=0.5)
        except subprocess.TimeoutExpired:
            continue
    if not stopping:
        raise UiError(f"mlflow server on {spec.address} exited with code {proc.returncode}")
    return 0

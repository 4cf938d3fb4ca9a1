"""`mg serve`: a logged model behind MLflow's scoring server (`mlflow models serve`).

The model is fetched once (a registered version, a run's model or a local MLflow model folder)
and served from that folder in the local Python environment (`--env-manager local`: no conda,
no virtualenv build), in its own process group (mg.tracking.child_server): Ctrl-C, SIGTERM and
SIGHUP stop it, uvicorn's workers included.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mg.errors import ModelLoadError
from mg.tracking import child_server
from mg.tracking.model_uri import ModelSource, fetch_model

MLMODEL = "MLmodel"
READY_PATH = "/ping"
EXAMPLE_REQUEST = {"inputs": [{"seed": 1, "steps": 64}]}


@dataclass(frozen=True)
class ServeSpec:
    """`mlflow models serve` of a model folder: where it listens, how many workers."""

    model_folder: Path
    host: str = "127.0.0.1"
    port: int = 5001
    workers: int = 1
    timeout_s: int = 60

    @property
    def address(self) -> str:
        return child_server.http_address(self.host, self.port)

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "mlflow", "models", "serve", "-m", str(self.model_folder)]
        cmd += ["--env-manager", "local", "--host", self.host, "--port", str(self.port)]
        return cmd + ["--workers", str(self.workers), "--timeout", str(self.timeout_s)]


def model_to_serve(uri: str, tracking_uri: str | None, scratch: Path) -> tuple[Path, ModelSource]:
    """The MLflow model folder a URI names, downloaded into `scratch` when remote; ModelLoadError
    when it is not a logged MLflow model (a bare mg folder cannot be served)."""
    folder, source = fetch_model(uri, tracking_uri, scratch)
    if not (folder / MLMODEL).is_file():
        raise ModelLoadError(
            f"{uri}: not a logged MLflow model (no {MLMODEL} file); serve what `mg train` logged: "
            "runs:/RUN_ID/model or models:/NAME@ALIAS"
        )
    return folder, source


def server_env() -> dict[str, str]:
    """Our environment, with this Python's scripts first on PATH: MLflow starts `uvicorn` by
    name, which a virtual environment used without activating it would not find."""
    scripts = str(Path(sys.executable).parent)
    return {**os.environ, "PATH": os.pathsep.join([scripts, os.environ.get("PATH", "")])}


def curl_example(address: str) -> str:
    body = json.dumps(EXAMPLE_REQUEST)
    return (
        f"curl -s {address}/invocations -H 'Content-Type: application/json' -d '{body}'"
        " | jq -r '.predictions[0].midi' | base64 -d > piece.mid"
    )


def serve_until_stopped(spec: ServeSpec, source: ModelSource, echo: Callable[[str], None]) -> int:
    """`mg serve`: run the scoring server until Ctrl-C, SIGTERM or SIGHUP; 0 on a clean stop."""
    proc = child_server.start(spec, env=server_env())

    def announce() -> None:
        echo(f"serving {source.uri} with mlflow models serve (local environment)")
        echo(f"starting on {spec.address} (Ctrl-C to stop) ...")
        child_server.wait_ready(proc, spec, READY_PATH, timeout_s=180.0)
        echo(f"ready: {spec.address}/invocations")
        echo(curl_example(spec.address))

    return child_server.serve_until_signalled(proc, spec, announce, _stop_signal)


def _stop_signal(received: int) -> int:
    """The MLflow CLI exits at once on SIGTERM; uvicorn then gets SIGTERM from the kernel (MLflow
    sets it as uvicorn's parent-death signal) and shuts down gracefully. A SIGINT instead would
    make the CLI print a traceback."""
    return signal.SIGTERM

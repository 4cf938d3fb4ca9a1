"""MLflow at the edges of training: where runs live, what a run records, how it ends.

Tracking URI: `--tracking-uri`, else MLFLOW_TRACKING_URI, else sqlite:///mlflow.db in the working
folder. Params are the flattened `RunConfig`; tags name the dataset (manifest hash and path),
the code (git commit) and the model (family, backbone). Checkpoints go to `checkpoints/slot-0`
and `checkpoints/slot-1` in turn, and `checkpoints/last.json` names the slot last written in
full, so a crash during an upload never damages the checkpoint a resume will read.
"""

from __future__ import annotations

import hashlib
import signal
import subprocess
import tempfile
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import mlflow
from mlflow.entities import RunStatus
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from mg.data.notes import Dataset
from mg.data.schema import MANIFEST
from mg.errors import MgError
from mg.training.config import RunConfig

CONFIG_ARTIFACT = "config/train_config.json"
POINTER = "checkpoints/last.json"


class TrackingError(MgError):
    """The tracking server or store cannot be used, or a run cannot be found or resumed."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, treated like Ctrl-C: the run ends KILLED."""


def resolve_tracking_uri(given: str | None, env: Mapping[str, str]) -> str:
    if given:
        return given
    if env.get("MLFLOW_TRACKING_URI"):
        return env["MLFLOW_TRACKING_URI"]
    return f"sqlite:///{Path.cwd() / 'mlflow.db'}"


def connect(uri: str) -> None:
    """Point MLflow at `uri` and prove it answers, in seconds, before any training starts."""
    if uri.startswith(("http://", "https://")):
        _check_http(uri)
    if uri.startswith("sqlite:///"):
        folder = Path(uri.removeprefix("sqlite:///")).parent
        if not folder.is_dir():
            raise TrackingError(f"tracking store {uri}: folder {folder} does not exist")
    mlflow.set_tracking_uri(uri)
    try:
        MlflowClient().search_experiments(max_results=1)
    except Exception as exc:  # any backend, any failure: one line before training
        raise TrackingError(f"tracking store {uri} is not usable: {first_line(exc)}") from None


def _check_http(uri: str) -> None:
    try:
        urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=5).close()
    except urllib.error.HTTPError:
        return  # the server answered
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise TrackingError(f"cannot reach the MLflow tracking server at {uri}: {reason}") from None


def first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def start_run(experiment: str | None, name: str | None = None) -> str:
    """Create the run (then, inside `run_guard`, `record_run` says what it is)."""
    if experiment:
        mlflow.set_experiment(experiment)
    return mlflow.start_run(run_name=name).info.run_id


def run_name(config: RunConfig) -> str:
    """What the run is, readable in the UI's list: `three-branch-lstm-tiny-s0`."""
    backbone = getattr(config.model, "backbone", None)
    parts = [config.family, backbone, config.preset, f"s{config.train.seed}"]
    return "-".join(str(part) for part in parts if part)


def record_run(config: RunConfig, dataset: Dataset) -> None:
    """Params, tags, the config and the dataset manifest."""
    mlflow.log_params(config.params())
    mlflow.set_tags(run_tags(config, dataset))
    mlflow.log_dict(config.to_json(), CONFIG_ARTIFACT)
    mlflow.log_artifact(str(dataset.root / MANIFEST), "dataset")


def run_tags(config: RunConfig, dataset: Dataset) -> dict[str, str]:
    manifest = (dataset.root / MANIFEST).read_bytes()
    tags = {
        "mg.dataset_manifest_sha256": hashlib.sha256(manifest).hexdigest(),
        "mg.dataset_path": str(dataset.root.resolve()),
        "mg.family": config.family,
        "mg.preset": config.preset,
        "mg.world_size": str(config.train.world_size),
    }
    backbone = getattr(config.model, "backbone", None)
    if backbone:
        tags["mg.backbone"] = str(backbone)
    commit = git_commit(Path(__file__).parent)
    if commit:
        tags["mg.git_commit"] = commit
    return tags


def git_commit(folder: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(folder), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def recorded_config(run_id: str) -> RunConfig:
    """The config a run recorded as its `config` artifact."""
    _get_run(run_id)
    try:
        return RunConfig.from_json(mlflow.artifacts.load_dict(_run_uri(run_id, CONFIG_ARTIFACT)))
    except (MlflowException, OSError, ValueError, KeyError) as exc:
        raise TrackingError(f"--resume {run_id}: the run has no readable config ({exc})") from None


def check_resumable(run_id: str) -> None:
    """A finished run has nothing left to do; RUNNING (a kill -9), FAILED and KILLED resume."""
    if _get_run(run_id).info.status == "FINISHED":
        raise TrackingError(f"--resume {run_id}: the run already finished; start a new run")


def _get_run(run_id: str):
    try:
        return MlflowClient().get_run(run_id)
    except MlflowException:
        raise TrackingError(
            f"--resume {run_id}: no such run in {mlflow.get_tracking_uri()}"
        ) from None


def reopen_run(run_id: str) -> str:
    """Take the run over (also one left RUNNING by a kill -9), in its own experiment."""
    mlflow.set_experiment(experiment_id=_get_run(run_id).info.experiment_id)
    return mlflow.start_run(run_id=run_id).info.run_id


def _run_uri(run_id: str, path: str) -> str:
    return f"runs:/{run_id}/{path}"


def log_epoch(metrics: dict[str, float], epoch: int) -> None:
    mlflow.log_metrics(metrics, step=epoch)


def upload_checkpoint(folder: Path, epoch: int, step: int) -> None:
    """Upload into the slot the pointer does not name, then move the pointer to it."""
    slot = f"slot-{epoch % 2}"
    mlflow.log_artifacts(str(folder), f"checkpoints/{slot}")
    mlflow.log_dict({"slot": slot, "epoch": epoch, "step": step}, POINTER)


def download_checkpoint(run_id: str, destination: Path) -> Path | None:
    """The run's last complete checkpoint folder, or None when it wrote none yet."""
    names = [a.path for a in MlflowClient().list_artifacts(run_id, "checkpoints")]
    if POINTER not in names:
        return None
    pointer = mlflow.artifacts.load_dict(_run_uri(run_id, POINTER))
    path = mlflow.artifacts.download_artifacts(
        run_id=run_id, artifact_path=f"checkpoints/{pointer['slot']}", dst_path=str(destination)
    )
    return Path(path)


def log_folder(folder: Path, artifact_path: str) -> None:
    mlflow.log_artifacts(str(folder), artifact_path)


def set_tags(tags: dict[str, str]) -> None:
    mlflow.set_tags(tags)


@contextmanager
def run_guard() -> Iterator[None]:
    """End the active run FINISHED, KILLED (Ctrl-C, SIGTERM) or FAILED (any error); never RUNNING."""
    previous = _trap_sigterm()
    try:
        yield
    except KeyboardInterrupt:
        mlflow.end_run(RunStatus.to_string(RunStatus.KILLED))
        raise
    except BaseException:
        mlflow.end_run(RunStatus.to_string(RunStatus.FAILED))
        raise
    else:
        mlflow.end_run(RunStatus.to_string(RunStatus.FINISHED))
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _trap_sigterm():
    if threading.current_thread() is not threading.main_thread():
        return None

    def terminate(signum, frame):
        raise Terminated()

    return signal.signal(signal.SIGTERM, terminate)


def scratch_folder() -> tempfile.TemporaryDirectory:
    return tempfile.TemporaryDirectory(prefix="mg-train-")

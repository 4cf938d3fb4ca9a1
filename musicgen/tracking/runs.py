"""MLflow at the edges of training: where runs live, what a run records, how it ends.

One style: a client bound to the store's URI (`connect` gives a `Store`), and a `Run` that
holds it with the run's id; nothing here sets MLflow's process-wide tracking URI or active run,
so two stores in one process (tests, a library caller) never see each other's runs.

Tracking URI: `--tracking-uri`, else MLFLOW_TRACKING_URI, else sqlite:///mlflow.db in the working
folder. Params are the flattened `RunConfig`; tags name the dataset (manifest hash and path),
the code (git commit) and the model (family, backbone). Checkpoints go to `checkpoints/slot-0`
and `checkpoints/slot-1` in turn, and `checkpoints/last.json` names the slot last written in
full, so a crash during an upload never damages the checkpoint a resume will read.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import signal
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from mlflow.entities import Metric, Param, RunStatus, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from mlflow.tracking.context.registry import resolve_tags

from mg.data.notes import Dataset
from mg.data.schema import MANIFEST
from mg.errors import MgError, first_line
from mg.training.config import RunConfig

CONFIG_ARTIFACT = "config/train_config.json"
POINTER = "checkpoints/last.json"
DEFAULT_EXPERIMENT = "Default"  # MLflow's own experiment 0
BATCH = 100  # params or tags per log_batch call (MLflow's limit)


class TrackingError(MgError):
    """The tracking server or store cannot be used, or a run cannot be found or resumed."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, treated like Ctrl-C: the run ends KILLED."""


@dataclass(frozen=True)
class Store:
    """A tracking store: its URI and a client bound to it (tracking and model registry)."""

    uri: str
    client: MlflowClient


def resolve_tracking_uri(given: str | None, env: Mapping[str, str]) -> str:
    if given:
        return given
    if env.get("MLFLOW_TRACKING_URI"):
        return env["MLFLOW_TRACKING_URI"]
    return f"sqlite:///{Path.cwd() / 'mlflow.db'}"


def connect(uri: str) -> Store:
    """A client bound to `uri`, proved to answer in seconds, before any training starts."""
    if uri.startswith(("http://", "https://")):
        _check_http(uri)
    folder = None
    if uri.startswith("sqlite:///"):
        folder = Path(uri.removeprefix("sqlite:///")).parent
        if not folder.is_dir():
            raise TrackingError(f"tracking store {uri}: folder {folder} does not exist")
    try:
        with _one_at_a_time(folder):
            client = MlflowClient(tracking_uri=uri, registry_uri=uri)
            client.search_experiments(max_results=1)
    except Exception as exc:  # any backend, any failure: one line before training
        raise TrackingError(f"tracking store {uri} is not usable: {first_line(exc)}") from None
    return Store(uri, client)


@contextmanager
def _one_at_a_time(folder: Path | None) -> Iterator[None]:
    """While the client is made and its first request creates or migrates a SQLite store's
    tables, hold a lock on its folder: two commands started together on a new store otherwise both run MLflow's
    migrations and one fails ("duplicate column name"). The lock is an flock on the folder
    itself, so nothing is written beside the user's database; the kernel drops it with the
    process."""
    if folder is None:
        yield
        return
    handle = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        os.close(handle)


def _check_http(uri: str) -> None:
    try:
        urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=5).close()
    except urllib.error.HTTPError:
        return  # the server answered
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise TrackingError(f"cannot reach the MLflow tracking server at {uri}: {reason}") from None


@dataclass(frozen=True)
class Run:
    """One run of a store: everything training writes to it goes through here."""

    store: Store
    run_id: str

    @property
    def client(self) -> MlflowClient:
        return self.store.client

    def record(self, config: RunConfig, dataset: Dataset) -> None:
        """Params, tags, the config and the dataset manifest."""
        self.log_params(config.params())
        self.set_tags(run_tags(config, dataset))
        self.client.log_dict(self.run_id, config.to_json(), CONFIG_ARTIFACT)
        self.client.log_artifact(self.run_id, str(dataset.root / MANIFEST), "dataset")

    def log_params(self, params: dict[str, object]) -> None:
        values = [Param(k, str(v)[:6000]) for k, v in sorted(params.items())]
        for i in range(0, len(values), BATCH):
            self.client.log_batch(self.run_id, params=values[i : i + BATCH])

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        stamp = int(time.time() * 1000)
        values = [Metric(k, float(v), stamp, step) for k, v in metrics.items()]
        self.client.log_batch(self.run_id, metrics=values)

    def set_tags(self, tags: dict[str, str]) -> None:
        values = [RunTag(k, str(v)) for k, v in tags.items()]
        for i in range(0, len(values), BATCH):
            self.client.log_batch(self.run_id, tags=values[i : i + BATCH])

    def log_folder(self, folder: Path, artifact_path: str) -> None:
        self.client.log_artifacts(self.run_id, str(folder), artifact_path)

    def log_file(self, path: Path, artifact_path: str | None = None) -> None:
        self.client.log_artifact(self.run_id, str(path), artifact_path)

    def upload_checkpoint(self, folder: Path, epoch: int, step: int) -> None:
        """Upload into the slot the pointer does not name, then move the pointer to it."""
        slot = f"slot-{epoch % 2}"
        self.client.log_artifacts(self.run_id, str(folder), f"checkpoints/{slot}")
        pointer = {"slot": slot, "epoch": epoch, "step": step}
        self.client.log_dict(self.run_id, pointer, POINTER)

    def end(self, status: str) -> None:
        self.client.set_terminated(self.run_id, status)


def start_run(store: Store, experiment: str | None, name: str | None = None) -> Run:
    """Create the run (then, inside `run_guard`, `Run.record` says what it is)."""
    experiment_id = experiment_id_of(store.client, experiment or DEFAULT_EXPERIMENT)
    run = store.client.create_run(experiment_id, run_name=name, tags=resolve_tags())
    return Run(store, run.info.run_id)


def experiment_id_of(client: MlflowClient, name: str) -> str:
    """The experiment called `name`, created when missing (also by a process racing us)."""
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    try:
        return client.create_experiment(name)
    except MlflowException:
        found = client.get_experiment_by_name(name)
        if found is None:
            raise
        return found.experiment_id


def run_name(config: RunConfig) -> str:
    """What the run is, readable in the UI's list: `three-branch-lstm-tiny-s0`."""
    backbone = getattr(config.model, "backbone", None)
    parts = [config.family, backbone, config.preset, f"s{config.train.seed}"]
    return "-".join(str(part) for part in parts if part)


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


def recorded_config(store: Store, run_id: str) -> RunConfig:
    """The config a run recorded as its `config` artifact."""
    _get_run(store, run_id)
    try:
        with tempfile.TemporaryDirectory(prefix="mg-config-") as scratch:
            path = store.client.download_artifacts(run_id, CONFIG_ARTIFACT, scratch)
            return RunConfig.from_json(json.loads(Path(path).read_text()))
    except (MlflowException, OSError, ValueError, KeyError) as exc:
        raise TrackingError(f"--resume {run_id}: the run has no readable config ({exc})") from None


def check_resumable(store: Store, run_id: str) -> None:
    """A finished run has nothing left to do; RUNNING (a kill -9), FAILED and KILLED resume."""
    if _get_run(store, run_id).info.status == "FINISHED":
        raise TrackingError(f"--resume {run_id}: the run already finished; start a new run")


def _get_run(store: Store, run_id: str):
    try:
        return store.client.get_run(run_id)
    except MlflowException:
        raise TrackingError(f"--resume {run_id}: no such run in {store.uri}") from None


def reopen_run(store: Store, run_id: str) -> Run:
    """Take the run over (also one left RUNNING by a kill -9): it is RUNNING again."""
    _get_run(store, run_id)
    store.client.update_run(run_id, status=RunStatus.to_string(RunStatus.RUNNING))
    return Run(store, run_id)


def download_checkpoint(store: Store, run_id: str, destination: Path) -> Path | None:
    """The run's last complete checkpoint folder, or None when it wrote none yet."""
    client = store.client
    names = [a.path for a in client.list_artifacts(run_id, "checkpoints")]
    if POINTER not in names:
        return None
    destination.mkdir(parents=True, exist_ok=True)
    pointer = json.loads(
        Path(client.download_artifacts(run_id, POINTER, str(destination))).read_text()
    )
    path = client.download_artifacts(run_id, f"checkpoints/{pointer['slot']}", str(destination))
    return Path(path)


@contextmanager
def run_guard(run: Run) -> Iterator[None]:
    """End the run FINISHED, KILLED (Ctrl-C, SIGTERM) or FAILED (any error); never RUNNING."""
    previous = _trap_sigterm()
    try:
        yield
    except KeyboardInterrupt:
        run.end(RunStatus.to_string(RunStatus.KILLED))
        raise
    except BaseException:
        run.end(RunStatus.to_string(RunStatus.FAILED))
        raise
    else:
        run.end(RunStatus.to_string(RunStatus.FINISHED))
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

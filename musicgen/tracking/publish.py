"""The end of a run in MLflow: the trained model logged as the run's pyfunc model, and a
registered version of it that takes the `champion` alias when it beats the holder.

Everything goes through the run's store client but one call: MLflow 3's `Model.log` (behind
`mlflow.pyfunc.log_model`) has no client or URI argument and resolves its store from the
process-wide tracking URI, so `process_tracking_uri` points that at the run's store for that
call alone and puts it back afterwards.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.models import Model
from mlflow.tracking import MlflowClient
from mlflow.tracking.context.registry import resolve_tags

from mg.tracking.pyfunc import ARTIFACT, CODE_FILE, MODEL_PATH
from mg.tracking.runs import Run

CHAMPION = "champion"


@dataclass(frozen=True)
class Registered:
    name: str
    version: str
    champion: bool  # this version now holds the `champion` alias


@dataclass(frozen=True)
class LoggedModel:
    uri: str  # models:/<model id>
    model_id: str


def log_model(run: Run, mg_folder: Path, scratch: Path) -> LoggedModel:
    """Log the mg model folder as the run's pyfunc model "model" (models from code)."""
    from mg import __version__

    staged = scratch / ARTIFACT  # MLflow keeps the folder's own name under artifacts/
    shutil.rmtree(staged, ignore_errors=True)
    shutil.copytree(mg_folder, staged)
    source = run.client.get_run(run.run_id)
    model = run.client.create_logged_model(
        source.info.experiment_id,
        name=MODEL_PATH,
        source_run_id=run.run_id,
        tags=resolve_tags(),
        params=dict(source.data.params),
    )  # here, in the run's experiment: Model.log would put it in the process's active one
    with process_tracking_uri(run.store.uri):
        info = Model.log(
            artifact_path=None,
            name=MODEL_PATH,
            flavor=mlflow.pyfunc,
            run_id=run.run_id,
            model_id=model.model_id,
            python_model=str(CODE_FILE),
            artifacts={ARTIFACT: str(staged)},
            pip_requirements=[f"mg-musicgen=={__version__}"],
        )
    return LoggedModel(info.model_uri, info.model_id)


@contextmanager
def process_tracking_uri(uri: str) -> Iterator[None]:
    """MLflow's process-wide tracking URI set to `uri` inside, as it was outside."""
    before = mlflow.get_tracking_uri() if mlflow.is_tracking_uri_set() else None
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(before)


def register(run: Run, name: str, model: LoggedModel, metric: str, value: float) -> Registered:
    """Register a version; alias `champion` when its `metric` beats the holder's.

    `latest` is MLflow's own: `models:/NAME@latest` always resolves to the newest version (the
    alias name is reserved, it cannot be set by hand).

    The version carries its metric as tags (`mg.metric`, `mg.metric_value`), so the next
    registration compares against the champion without reading its run.
    """
    client = run.client
    tags = {"mg.metric": metric, "mg.metric_value": repr(float(value)), "mg.run_id": run.run_id}
    _ensure_registered_model(client, name)
    source = client.get_logged_model(model.model_id).artifact_location
    version = client.create_model_version(
        name, source, run_id=run.run_id, tags=tags, model_id=model.model_id
    )
    better = value < champion_value(client, name, metric)
    if better:
        client.set_registered_model_alias(name, CHAMPION, version.version)
    return Registered(name, str(version.version), better)


def _ensure_registered_model(client: MlflowClient, name: str) -> None:
    try:
        client.get_registered_model(name)
    except MlflowException:
        try:
            client.create_registered_model(name)
        except MlflowException:
            client.get_registered_model(
                name
            )  # created meanwhile by another process, or a real error


def champion_value(client: MlflowClient, name: str, metric: str) -> float:
    """The champion's metric (lower is better); +inf when there is none or it has no such tag."""
    try:
        holder = client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        return float("inf")
    if holder.tags.get("mg.metric") != metric:
        return float("inf")
    return float(holder.tags.get("mg.metric_value", "inf"))

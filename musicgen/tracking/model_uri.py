"""From a `--model-uri` to a loaded model: `models:/NAME/VERSION`, `models:/NAME@ALIAS`,
`runs:/RUN_ID/PATH`, or a local folder.

A `file:` URI counts as a local folder. MLflow only copies files here (artifact downloads); the model itself is read by
`checkpoint.load_model` from `config.json` + `model.safetensors`, so nothing is ever unpickled.
Inside a logged MLflow pyfunc model the mg folder is the pyfunc artifact `mg_model`; its
place is read from the `MLmodel` file (YAML, safe-loaded), with `artifacts/mg_model/` and a
short search as fallbacks.
"""

from __future__ import annotations

import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

from mg.errors import ModelLoadError, first_line
from mg.models.saving import CONFIG_FILE, LoadedModel, load_model
from mg.tracking import model_cache

ARTIFACT_KEY = "mg_model"
_MODELS = re.compile(r"^models:/(?P<name>[^/@]+)(?:/(?P<version>[^/]+)|@(?P<alias>[^/]+))/?$")
_RUNS = re.compile(r"^runs:/(?P<run>[^/]+)/(?P<path>.+?)/?$")


@dataclass(frozen=True)
class ModelSource:
    """Where a model came from: the URI, a short name for output files, and its MLflow run."""

    uri: str
    name: str
    run_id: str | None = None
    tracking_uri: str | None = None


def open_model(
    uri: str, tracking_uri: str | None = None, device: str = "cpu"
) -> tuple[LoadedModel, ModelSource]:
    """Load the model a URI names; any problem is one ModelLoadError naming the URI."""
    with tempfile.TemporaryDirectory(prefix="mg-model-") as scratch:
        folder, source = fetch_model(uri, tracking_uri, Path(scratch))
        return load_model(model_folder(folder, uri), device), source


def fetch_model(uri: str, tracking_uri: str | None, scratch: Path) -> tuple[Path, ModelSource]:
    """The folder a URI names: downloaded into `scratch` for `models:/` and `runs:/`, the
    folder itself when local (an mg model folder, or a logged MLflow model holding one)."""
    if uri.startswith(("models:/", "runs:/")):
        return _download(uri, tracking_uri, scratch)
    folder = _local_path(uri)
    if not folder.exists():
        raise ModelLoadError(f"{uri}: no such model folder")
    if not folder.is_dir():
        raise ModelLoadError(f"{uri}: not an mg model (a file, not a model folder)")
    return folder, ModelSource(uri, _slug(folder.resolve().name))


def _local_path(uri: str) -> Path:
    """A folder path, or a `file:` URI of one; any other scheme is refused."""
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return Path(url2pathname(parsed.path))
    if "://" in uri or uri.startswith(("models:", "runs:")):
        raise ModelLoadError(
            f"{uri}: not a model URI; use models:/NAME/VERSION, models:/NAME@ALIAS, "
            "runs:/RUN_ID/PATH or a local folder"
        )
    return Path(uri).expanduser()


def model_folder(root: Path, uri: str) -> Path:
    """The folder holding config.json: `root` itself, or the mg folder inside a pyfunc model."""
    if (root / CONFIG_FILE).is_file():
        return root
    candidates = [_from_mlmodel(root), root / "artifacts" / ARTIFACT_KEY]
    candidates += sorted(p.parent for p in root.glob(f"*/*/{CONFIG_FILE}"))
    for candidate in candidates:
        if candidate is not None and (candidate / CONFIG_FILE).is_file():
            return candidate
    raise ModelLoadError(f"{uri}: not an mg model (no {CONFIG_FILE} in it or in its artifacts)")


def _from_mlmodel(root: Path) -> Path | None:
    """The `mg_model` artifact's folder as the MLmodel file records it."""
    import yaml

    path = root / "MLmodel"
    if not path.is_file():
        return None
    try:
        spec = yaml.safe_load(path.read_text())
        relative = spec["flavors"]["python_function"]["artifacts"][ARTIFACT_KEY]["path"]
    except (yaml.YAMLError, KeyError, TypeError):
        return None
    return root / str(relative)


def _download(uri: str, tracking_uri: str | None, scratch: Path) -> tuple[Path, ModelSource]:
    try:
        if uri.startswith("models:/"):
            return _download_registered(uri, tracking_uri, scratch)
        return _download_run(uri, tracking_uri, scratch)
    except OSError as exc:
        raise ModelLoadError(f"{uri}: cannot download the model: {exc}") from None
    except Exception as exc:
        # MLflow is imported only when it was needed (a cached model needs none of it)
        errors = sys.modules.get("mlflow.exceptions")
        if errors is None or not isinstance(exc, errors.MlflowException):
            raise
        raise ModelLoadError(f"{uri}: {first_line(exc.message, 'MLflow error')}") from None


def _download_registered(
    uri: str, tracking_uri: str | None, scratch: Path
) -> tuple[Path, ModelSource]:
    """One registry question (which version?), then the files: read in place from a local
    artifact store, else from the model cache, else downloaded once into it (model_cache)."""
    match = _MODELS.match(uri)
    if not match:
        raise ModelLoadError(f"{uri}: expected models:/NAME/VERSION or models:/NAME@ALIAS")
    name, alias, number = match["name"], match["alias"], match["version"]
    version = model_cache.sqlite_version(tracking_uri, name, alias, number)
    version = version or _registry_version(uri, tracking_uri, name, alias, number)
    label = f"{name}-{alias or number}" if alias or number == "latest" else f"{name}-v{number}"
    source = ModelSource(uri, _slug(label), version.run_id, tracking_uri)
    local = model_cache.local_folder(version.source)
    if local is not None:
        return local, source
    store, root = model_cache.store_uri(tracking_uri), model_cache.cache_dir()
    hit = model_cache.cached(root, store, version)
    if hit is not None:
        return hit, source
    location = _client(tracking_uri).get_model_version_download_uri(name, version.number)
    downloaded = _fetch(location, tracking_uri, scratch)
    return model_cache.keep(root, store, version, downloaded), source


def _registry_version(
    uri: str, tracking_uri: str | None, name: str, alias: str | None, number: str | None
) -> model_cache.Version:
    """The version an alias or number names, asked of the MLflow client (any store)."""
    client = _client(tracking_uri)
    if alias:
        version = client.get_model_version_by_alias(name, alias)
    elif number == "latest":
        version = max(client.search_model_versions(f"name = '{name}'"), key=_number, default=None)
        if version is None:
            raise ModelLoadError(f"{uri}: registered model {name!r} has no version")
    else:
        version = client.get_model_version(name, number)
    created = int(version.creation_timestamp or 0)
    return model_cache.Version(name, str(version.version), version.source, version.run_id, created)


def _download_run(uri: str, tracking_uri: str | None, scratch: Path) -> tuple[Path, ModelSource]:
    """A run's artifact folder, or (MLflow 3) the logged model of that name in the run."""
    match = _RUNS.match(uri)
    if not match:
        raise ModelLoadError(f"{uri}: expected runs:/RUN_ID/PATH")
    client = _client(tracking_uri)
    run = client.get_run(match["run"])  # a run that does not exist fails here, clearly
    source = ModelSource(uri, _slug(f"run-{run.info.run_id[:8]}"), run.info.run_id, tracking_uri)
    head, _, rest = match["path"].partition("/")
    logged = client.search_logged_models(
        experiment_ids=[run.info.experiment_id], filter_string=f"name = '{head}'"
    )
    for model in logged:
        if model.source_run_id == run.info.run_id:
            location = model.artifact_location.rstrip("/") + (f"/{rest}" if rest else "")
            return _fetch(location, tracking_uri, scratch), source
    return _fetch(f"runs:/{run.info.run_id}/{match['path']}", tracking_uri, scratch), source


def _number(version) -> int:
    return int(version.version)


def _fetch(artifact_uri: str, tracking_uri: str | None, scratch: Path) -> Path:
    from mlflow.artifacts import download_artifacts

    local = download_artifacts(
        artifact_uri=artifact_uri, dst_path=str(scratch), tracking_uri=tracking_uri
    )
    return Path(local)


def _client(tracking_uri: str | None):
    from mlflow import MlflowClient

    uri = model_cache.store_uri(tracking_uri)  # never MLflow's process-wide state
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _slug(text: str) -> str:
    """A name safe in a file name: letters, digits, '.', '_' and '-'."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.") or "model"

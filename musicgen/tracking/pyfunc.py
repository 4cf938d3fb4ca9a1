"""The trained model as an MLflow pyfunc that loads without unpickling anything.

It is an MLflow "models from code" model: the logged model holds the code file
`pyfunc_loader.py` (which only builds `MgMusicModel()`), and the mg model folder
(config.json + model.safetensors) as the pyfunc artifact `mg_model`, at
`artifacts/mg_model/` inside the model directory. No `python_model.pkl` is written, and
loading reads JSON and safetensors only.

`predict(model_input, params=None)` generates music:

- input: None, a dict, or a one-row pandas DataFrame of sampling options, all optional:
  `steps` (default: one segment of the model's grid), `num` (1), `seed` (0), `temperature`
  (1.0), `top_p` (1.0), and `primer` (notes [P, α, 3] uint8 for note families; ABC text for
  text families). `params` (a dict) overrides the input's values.
- output, note families: a numpy uint8 array [num, frames, α, 3] of note matrices (pressed,
  articulated, velocity 0..127) on the model's grid (`.unwrap_python_model().grid`), ready for
  `mg.representation.write_midi`; text families: a list of `num` ABC tunes (str).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import numpy as np

from mg.generation.sampling import SamplingOptions, generate_notes
from mg.models.saving import LoadedModel, load_model
from mg.representation.grid import Grid

ARTIFACT = "mg_model"
MODEL_PATH = "model"  # the name of the logged model in its run (runs:/RUN_ID/model)
CODE_FILE = Path(__file__).with_name("pyfunc_loader.py")
OPTION_TYPES = {"steps": int, "num": int, "seed": int, "temperature": float, "top_p": float}


class MgMusicModel(mlflow.pyfunc.PythonModel):
    """Generation from a logged mg model; see the module docstring for input and output."""

    loaded: LoadedModel | None = None
    # predict takes a dict or a DataFrame as it comes: MLflow's type-hint validation (which
    # would force a list input) stays off.
    _skip_type_hint_validation = True

    def load_context(self, context) -> None:
        self.loaded = load_model(context.artifacts[ARTIFACT])

    @property
    def grid(self) -> Grid | None:
        return self.loaded.grid if self.loaded else None

    def predict(self, context, model_input, params=None):
        values = {**_as_dict(model_input), **(params or {})}
        grid = self.loaded.grid
        steps = grid.segment_steps if grid else 256
        options = SamplingOptions(**{"steps": steps, **_options(values)})
        primer = values.get("primer")
        if self.loaded.family.inputs == "text":
            from mg.generation.text_sampling import generate_text

            return generate_text(self.loaded.model, options, primer)
        notes = None if primer is None else np.asarray(primer, dtype=np.uint8)
        return generate_notes(self.loaded.model, grid, options, notes)


def _as_dict(model_input: Any) -> dict[str, Any]:
    if model_input is None:
        return {}
    if isinstance(model_input, dict):
        return dict(model_input)
    if hasattr(model_input, "to_dict"):  # a pandas DataFrame: its first row
        rows = model_input.to_dict(orient="records")
        return dict(rows[0]) if rows else {}
    raise TypeError(
        f"predict takes a dict or a one-row DataFrame of options, not {type(model_input)}"
    )


def _options(values: dict[str, Any]) -> dict[str, Any]:
    return {k: cast(values[k]) for k, cast in OPTION_TYPES.items() if values.get(k) is not None}


def log_model(mg_folder: Path, scratch: Path) -> str:
    """Log the mg model folder as the run's pyfunc model "model"; returns its model URI."""
    staged = scratch / ARTIFACT  # MLflow keeps the folder's own name under artifacts/
    shutil.rmtree(staged, ignore_errors=True)
    shutil.copytree(mg_folder, staged)
    from mg import __version__

    info = mlflow.pyfunc.log_model(
        name=MODEL_PATH,
        python_model=str(CODE_FILE),
        artifacts={ARTIFACT: str(staged)},
        pip_requirements=[f"mg-musicgen=={__version__}"],
    )
    return info.model_uri


@dataclass(frozen=True)
class Registered:
    name: str
    version: str
    champion: bool  # this version now holds the `champion` alias


def register(name: str, model_uri: str, metric: str, value: float, run_id: str) -> Registered:
    """Register a version; alias `champion` when its `metric` beats the holder's.

    `latest` is MLflow's own: `models:/NAME@latest` always resolves to the newest version (the
    alias name is reserved, it cannot be set by hand).

    The version carries its metric as tags (`mg.metric`, `mg.metric_value`), so the next
    registration compares against the champion without reading its run.
    """
    from mlflow.tracking import MlflowClient

    tags = {"mg.metric": metric, "mg.metric_value": repr(float(value)), "mg.run_id": run_id}
    version = mlflow.register_model(model_uri, name, tags=tags)
    client = MlflowClient()
    better = value < champion_value(client, name, metric)
    if better:
        client.set_registered_model_alias(name, "champion", version.version)
    return Registered(name, str(version.version), better)


def champion_value(client, name: str, metric: str) -> float:
    """The champion's metric (lower is better); +inf when there is none or it has no such tag."""
    from mlflow.exceptions import MlflowException

    try:
        holder = client.get_model_version_by_alias(name, "champion")
    except MlflowException:
        return float("inf")
    if holder.tags.get("mg.metric") != metric:
        return float("inf")
    return float(holder.tags.get("mg.metric_value", "inf"))

"""The trained model as an MLflow pyfunc that loads without unpickling anything.

It is an MLflow "models from code" model: the logged model holds the code file
`pyfunc_loader.py` (which only builds `MgMusicModel()`), and the mg model folder
(config.json + model.safetensors) as the pyfunc artifact `mg_model`, at
`artifacts/mg_model/` inside the model directory. No `python_model.pkl` is written, and
loading reads JSON and safetensors only.

`predict(model_input, params=None)` generates music:

- input: None, a dict, or a one-row pandas DataFrame of sampling options, all optional:
  `steps` (default: one segment of the model's grid; 2048 characters for text families, a
  tune ending sooner at its blank line), `num` (1), `seed` (0), `temperature`
  (1.0), `top_p` (1.0), and `primer` (notes [P, α, 3] uint8 for note families; ABC text for
  text families). `params` (a dict) overrides the input's values.
- output, note families: a numpy uint8 array [num, frames, α, 3] of note matrices (pressed,
  articulated, velocity 0..127) on the model's grid (`.unwrap_python_model().grid`), ready for
  `mg.representation.write_midi`; text families: a list of `num` ABC tunes (str).
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import mlflow

from mg.generation.sampling import SamplingOptions
from mg.kinds import kind_of
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
        kind, grid = kind_of(self.loaded.family), self.loaded.grid
        defaults = asdict(kind.piece_options(grid, num=1, seed=0))
        options = SamplingOptions(**{**defaults, **_options(values)})
        primer = values.get("primer")
        primer = None if primer is None else kind.as_primer(primer)
        return kind.sample(self.loaded.model, grid, options, primer)


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

"""The trained model as an MLflow pyfunc that loads without unpickling anything.

It is an MLflow "models from code" model: the logged model holds the code file
`pyfunc_loader.py` (which only builds `MgMusicModel()`), and the mg model folder
(config.json + model.safetensors) as the pyfunc artifact `mg_model`, at
`artifacts/mg_model/` inside the model directory. No `python_model.pkl` is written, and
loading reads JSON and safetensors only.

`predict(model_input)` generates music, as `mg generate` does, and `mlflow models serve` (or
`mg serve`) answers it over HTTP:

- input: a list of requests (or one), each a dict of sampling options, all optional: `steps`
  (default: one segment of the model's grid; 2048 characters for text families, a tune ending
  sooner at its blank line), `num` (1), `seed` (0), `temperature` (1.0), `top_p` (0.9), the
  controls `key`, `pitch_range`, `max_polyphony`, `meter`, `keep_primer` (true) and `primer`
  (ABC text, or a MIDI file in base64); a pandas DataFrame is a request per row.
- output: a list of pieces, each a dict: `midi` (base64, the bytes `mg generate` writes for the
  same seed and options), `notes` (pitch, start/end in seconds and in steps, velocity, track),
  `options` (what was used, defaults filled in), `abc` (text families), `request`, `index`.

The types of both (mg.tracking.endpoint) are `predict`'s type hints, so MLflow logs them as the
model's signature.
"""

from __future__ import annotations

from pathlib import Path

import mlflow

from mg.models.saving import LoadedModel, load_model
from mg.representation.grid import Grid
from mg.tracking.answer import answer
from mg.tracking.endpoint import GenerateRequest, PieceRecord

ARTIFACT = "mg_model"
MODEL_PATH = "model"  # the name of the logged model in its run (runs:/RUN_ID/model)
CODE_FILE = Path(__file__).with_name("pyfunc_loader.py")


class MgMusicModel(mlflow.pyfunc.PythonModel):
    """Generation from a logged mg model; see the module docstring for input and output."""

    loaded: LoadedModel | None = None
    # The request is validated in `predict` against the very types its hints name (the MLflow
    # signature), each problem in one line: MLflow's own type-hint validation, whose messages
    # span lines and repeat the whole request, stays off.
    _skip_type_hint_validation = True

    def load_context(self, context) -> None:
        self.loaded = load_model(context.artifacts[ARTIFACT])

    @property
    def grid(self) -> Grid | None:  # None until loaded
        return self.loaded.grid if self.loaded else None

    def predict(
        self, context, model_input: list[GenerateRequest], params=None
    ) -> list[PieceRecord]:
        """Each request's pieces (see mg.tracking.endpoint); BadRequest, one line, when a
        request cannot be answered."""
        return answer(self.loaded, model_input)

    predict._is_pyfunc = True  # validated here: MLflow has no wrapper to add, nor to warn about

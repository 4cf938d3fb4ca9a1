"""The transformer trains through the same trainer as the recurrent families, registers, and
generates the same bytes for a seed from its registered, unpickling-free model."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from mg import zoo
from mg.generation.generate import GenerateOptions, generate
from mg.generation.sampling import SamplingOptions
from mg.models.saving import save_model
from mg.representation.grid import Grid
from mg.training.config import TrainRequest
from mg.training.train import train


def test_tiny_transformer_trains_registers_and_samples_byte_identically(
    train_data, in_store, tmp_path
):
    request = TrainRequest(
        data=train_data,
        family="transformer",
        preset="tiny",
        train_overrides={"epochs": 1, "max_steps": 4, "batch_size": 4, "samples": 1},
        experiment="trainer-tests-transformer",
        register="attention-tunes",
        tracking_uri=in_store,
    )
    result = train(request)
    run = MlflowClient().get_run(result.run_id)
    assert run.info.status == "FINISHED" and result.steps == 4
    assert run.data.params["model.family"] == "transformer"
    assert {"train/loss", "valid/nll_frame"} <= set(run.data.metrics)

    uri = f"models:/attention-tunes/{result.registered.version}"
    folders = [tmp_path / "a", tmp_path / "b"]
    for folder in folders:
        sampling = SamplingOptions(steps=40, num=2, seed=5)
        generate(uri, GenerateOptions(sampling, out=folder, tracking_uri=in_store))
    first, second = (sorted(f.glob("*.mid")) for f in folders)
    assert len(first) == 2 and [p.read_bytes() for p in first] == [p.read_bytes() for p in second]

    windowed = generate(
        uri,
        GenerateOptions(SamplingOptions(steps=40, num=1, seed=5), out=tmp_path / "w", window=8),
    )
    assert len(windowed.files) == 1 and windowed.files[0].stat().st_size > 0

    local = Path(mlflow.artifacts.download_artifacts(f"runs:/{result.run_id}/model"))
    config = json.loads(next(local.rglob("config.json")).read_text())
    assert config["family"] == "transformer"
    assert not list(local.rglob("*.pkl")) and not list(local.rglob("*.pt"))


def test_window_is_refused_for_a_model_without_one(tmp_path):
    family, grid = zoo.get("three-branch"), Grid()
    model = family.build(family.make_config("tiny", grid))
    folder = save_model(tmp_path / "recurrent", "three-branch", model, grid)
    options = GenerateOptions(SamplingOptions(steps=8), out=tmp_path / "out", window=8)
    with pytest.raises(ValueError, match="keeps no attention window"):
        generate(str(folder), options)

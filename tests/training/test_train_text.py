"""A text family (char-rnn) trains through the same trainer: its data, metrics, samples and
logged model follow from its input kind, not from its class."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from mg.training.config import TrainRequest
from mg.training.train import train

pytest.importorskip("mg.data.text", reason="char-rnn's text dataset is not in this tree")


def test_char_rnn_trains_registers_and_generates_abc(abc_data, in_store, tmp_path):
    request = TrainRequest(
        data=abc_data,
        family="char-rnn",
        preset="tiny",
        train_overrides={"epochs": 1, "max_steps": 3, "batch_size": 8, "samples": 1},
        experiment="trainer-tests-text",
        register="abc-tunes",
        tracking_uri=in_store,
    )
    result = train(request)
    run = MlflowClient().get_run(result.run_id)
    assert run.info.status == "FINISHED" and result.steps == 3
    assert {"train/loss", "valid/loss", "valid/nll_char"} <= set(run.data.metrics)
    assert run.data.tags["mg.selection_metric"] == "valid/loss"
    folder = Path(mlflow.artifacts.download_artifacts(run_id=result.run_id, dst_path=str(tmp_path)))
    assert (folder / "samples" / "sample-00.abc").read_text().startswith("X:")
    model = mlflow.pyfunc.load_model(f"models:/abc-tunes/{result.registered.version}")
    tunes = model.predict({"steps": 40, "num": 2, "seed": 1})
    assert len(tunes) == 2 and all(tune["abc"].startswith("X:") for tune in tunes)

"""`mg train` as a user runs it: what it prints, and one clear line (exit 1) for each bad input."""

from __future__ import annotations

import json
import shutil
import socket
import time
import uuid

import pytest
import torch
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from mg.cli.app import app
from mg.representation.grid import Grid
from tests.fixtures.training import build_train_dataset

runner = CliRunner()


def mg_train(*args: str):
    return runner.invoke(app, ["train", *args])


def one_error_line(result) -> str:
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mg: error: "), result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def finished(train_data, in_store):
    """`mg train` for real (a tiny model, two steps, one sample), registered."""
    name = f"cli-{uuid.uuid4().hex[:8]}"
    result = mg_train(
        "--data", str(train_data), "--preset", "tiny", "--epochs", "1", "--max-steps", "2",
        "--samples", "1", "--register", name, "--tracking-uri", in_store, "--experiment", "cli",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def finished_run(finished) -> str:
    """Its stdout."""
    return finished.stdout


def run_id_of(stdout: str) -> str:
    return stdout.split()[1].rstrip(":")


def test_train_prints_the_run_the_model_and_the_registered_version(finished_run, in_store):
    lines = finished_run.splitlines()
    assert lines[0].startswith("run ") and "1 epoch, 2 steps (--max-steps 2 reached)" in lines[0]
    assert "best valid/nll_frame" in lines[0]
    assert (
        lines[1].startswith("registered: models:/cli-")
        and "(aliases: latest, champion)" in lines[1]
    )
    name = lines[1].split("models:/")[1].split("/")[0]
    # one URI to use, the others named as the same model
    assert lines[2] == f"generate with: mg generate --model-uri models:/{name}@champion"
    assert f"runs:/{run_id_of(finished_run)}/model" in lines[3] and " models:/m-" in lines[3]
    run = MlflowClient().get_run(run_id_of(finished_run))
    assert run.info.status == "FINISHED" and run.data.params["train.max_steps"] == "2"


def test_validation_and_the_end_of_run_samples_are_announced(finished):
    """Both run long on a real split with nothing else on screen (issue 20): a line each."""
    lines = finished.stderr.splitlines()
    validating = next(i for i, x in enumerate(lines) if x.startswith("epoch 1: validating ("))
    validated = next(i for i, x in enumerate(lines) if x.startswith("epoch 1: validated in "))
    metrics = next(i for i, x in enumerate(lines) if x.startswith("epoch 1: train/loss"))
    sampling = lines.index("sampling 1 piece(s) from the best epoch (1)")
    assert validating < validated < metrics < sampling


def test_missing_dataset_folder(tmp_path, in_store):
    line = one_error_line(mg_train("--data", str(tmp_path / "nope"), "--tracking-uri", in_store))
    assert "nope" in line and "no such dataset folder" in line


def test_empty_dataset_folder(tmp_path, in_store):
    line = one_error_line(mg_train("--data", str(tmp_path), "--tracking-uri", in_store))
    assert str(tmp_path) in line and "manifest.json" in line


def test_a_dataset_of_the_old_schema_is_refused_with_re_ingest(tmp_path, train_data, in_store):
    copy = tmp_path / "v1"
    shutil.copytree(train_data, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    (copy / "manifest.json").write_text(json.dumps({**manifest, "schema_version": 1}))
    line = one_error_line(mg_train("--data", str(copy), "--tracking-uri", in_store))
    assert "schema version 1" in line and "re-ingest" in line


def test_unreachable_tracking_server_fails_in_seconds(train_data):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    start = time.monotonic()
    result = mg_train("--data", str(train_data), "--tracking-uri", f"http://127.0.0.1:{port}")
    line = one_error_line(result)
    assert f"cannot reach the MLflow tracking server at http://127.0.0.1:{port}" in line
    assert time.monotonic() - start < 15


def test_resume_on_a_dataset_of_another_grid(finished_run, train_corpus, in_store, tmp_path):
    other = build_train_dataset(train_corpus, tmp_path / "other", Grid(bars=2, low=36, high=95))
    run_id = run_id_of(finished_run)
    line = one_error_line(
        mg_train("--data", str(other), "--resume", run_id, "--tracking-uri", in_store)
    )
    assert f"does not match the grid of --resume {run_id}'s model" in line


def test_resume_of_a_finished_run_or_with_other_options(finished_run, train_data, in_store):
    run_id = run_id_of(finished_run)
    common = ("--data", str(train_data), "--resume", run_id, "--tracking-uri", in_store)
    assert "already finished" in one_error_line(mg_train(*common))
    line = one_error_line(mg_train(*common, "--hidden", "64", "--lr", "0.5"))
    assert "model.hidden=64 (run: 32)" in line and "train.lr=0.5 (run: 0.002)" in line
    assert "already finished" in one_error_line(mg_train(*common, "--set", "hidden=32"))
    assert "model.dropout=0.5 (run: 0.0)" in one_error_line(
        mg_train(*common, "--set", "dropout=0.5")
    )
    line = one_error_line(
        mg_train("--data", str(train_data), "--resume", "0" * 32, "--tracking-uri", in_store)
    )
    assert "no such run" in line


def test_bad_options_are_one_line(train_data, in_store):
    common = ("--data", str(train_data), "--tracking-uri", in_store, "--preset", "tiny")
    assert "--batch-size must be at least 1" in one_error_line(
        mg_train(*common, "--batch-size", "0")
    )
    line = one_error_line(mg_train(*common, "--backbone", "rnn"))
    assert "backbone 'rnn'" in line
    assert "unknown model family" in one_error_line(mg_train(*common, "--model", "nope"))
    if not torch.cuda.is_available():
        assert "no CUDA device" in one_error_line(mg_train(*common, "--device", "cuda"))


def test_set_gives_any_field_of_the_models_config(train_data, in_store):
    """--set KEY=VALUE reaches the config as the field's type and is recorded with the run;
    a bad pair is a usage error, an unknown field or a wrong type one line listing or naming it."""
    name = f"set-{uuid.uuid4().hex[:8]}"
    result = mg_train(
        "--data", str(train_data), "--preset", "tiny", "--epochs", "1", "--max-steps", "1",
        "--samples", "0", "--tracking-uri", in_store, "--experiment", name,
        "--set", "dropout=0.25", "--set", "layers=1",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    params = MlflowClient().get_run(run_id_of(result.stdout)).data.params
    assert params["model.dropout"] == "0.25" and params["model.layers"] == "1"

    common = ("--data", str(train_data), "--tracking-uri", in_store, "--preset", "tiny")
    assert mg_train(*common, "--set", "dropout").exit_code == 2  # not KEY=VALUE
    assert mg_train(*common, "--set", "dropout=0.1", "--set", "dropout=0.2").exit_code == 2
    assert mg_train(*common, "--hidden", "8", "--set", "hidden=16").exit_code == 2
    line = one_error_line(mg_train(*common, "--set", "dropuot=0.1"))
    assert "has no option dropuot" in line and "dropout" in line.split("its options:")[1]
    line = one_error_line(mg_train(*common, "--set", "layers=two"))
    assert "option layers: 'two' is not int" in line
    assert "dataset's grid" in one_error_line(mg_train(*common, "--set", "alpha=12"))

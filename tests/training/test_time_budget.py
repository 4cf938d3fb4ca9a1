"""`--time-budget`: a run stops at its budget, then validates, samples, logs and registers as
any run does; the bar's fraction and ETA follow whichever of steps and budget ends first."""

from __future__ import annotations

import io
import json
import uuid
from pathlib import Path

import mlflow
import pytest
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from mg.cli.app import app
from mg.cli.train_progress import RunProgress, clock_text
from mg.training.config import BUDGET_EPOCHS, TrainError, TrainRequest, parse_duration
from mg.training.train import train

BUDGET_S = 4.0


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90.0), ("90s", 90.0), ("20m", 1200.0), ("1.5h", 5400.0), (" 2M ", 120.0)],
)
def test_durations_read_in_seconds_minutes_and_hours(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "m", "20q", "-5m", "1h30m"])
def test_a_malformed_duration_names_the_option(text):
    with pytest.raises(TrainError, match="--time-budget"):
        parse_duration(text)


def test_a_malformed_budget_is_a_usage_error():
    result = CliRunner().invoke(app, ["train", "--data", "nowhere", "--time-budget", "20q"])
    assert result.exit_code == 2 and "--time-budget" in result.output


@pytest.fixture(scope="module")
def budgeted(train_data, in_store) -> dict:
    """A tiny model with a few seconds' budget and no epoch cap of its own, registered."""
    name = f"budget-{uuid.uuid4().hex[:8]}"
    request = TrainRequest(
        data=train_data,
        preset="tiny",
        train_overrides={"time_budget": BUDGET_S, "patience": 0, "samples": 1, "batch_size": 4},
        experiment="trainer-tests",
        register=name,
        tracking_uri=in_store,
    )
    return {"result": train(request), "name": name}


def test_the_budget_ends_the_run_which_still_validates_samples_and_registers(budgeted, tmp_path):
    result = budgeted["result"]
    assert result.budget_spent and not result.stopped_early
    assert 1 <= result.epochs < BUDGET_EPOCHS
    run = MlflowClient().get_run(result.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["train.time_budget"] == str(BUDGET_S)
    assert run.data.params["train.epochs"] == str(BUDGET_EPOCHS)
    assert run.data.tags["mg.time_budget_spent"] == "true"
    history = MlflowClient().get_metric_history(result.run_id, "valid/nll_frame")
    assert [m.step for m in history] == list(range(1, result.epochs + 1))
    folder = Path(mlflow.artifacts.download_artifacts(run_id=result.run_id, dst_path=str(tmp_path)))
    assert (folder / "samples" / "sample-00.mid").is_file()
    pointer = json.loads((folder / "checkpoints/last.json").read_text())
    trainer = json.loads(
        (folder / "checkpoints" / pointer["slot"] / "state/trainer.json").read_text()
    )
    assert trainer["loop"]["budget_spent"]
    # training and validation end within about a batch and a validation pass of the budget
    assert 0.75 * BUDGET_S < trainer["loop"]["seconds"] < BUDGET_S + 10
    assert result.registered is not None and result.registered.version == "1"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_bar_follows_the_steps_when_they_end_the_run_first():
    clock = Clock()
    progress = RunProgress(bar=True, stream=io.StringIO(), clock=clock)
    progress.run_start(planned_steps=100, step=0, budget_s=0.0, elapsed_s=0.0)
    progress.epoch_start(1, 50)
    for _ in range(25):
        clock.now += 0.4
        progress.batch_end(1.0, 1000.0)
    assert progress.fraction() == 0.25
    assert progress.eta() == pytest.approx(75 * 0.4)


def test_the_bar_follows_the_budget_when_it_ends_the_run_first():
    clock = Clock()
    progress = RunProgress(bar=True, stream=io.StringIO(), clock=clock)
    progress.run_start(planned_steps=10_000, step=40, budget_s=600.0, elapsed_s=120.0)
    progress.epoch_start(3, 5_000)
    for _ in range(10):
        clock.now += 3.0
        progress.batch_end(1.0, 1000.0)
    assert progress.fraction() == pytest.approx(150 / 600)
    assert progress.eta() == pytest.approx(450.0)
    assert "ETA 7:30" in progress.line()


def test_without_a_terminal_only_epoch_lines_are_written(capsys):
    stream = io.StringIO()
    progress = RunProgress(bar=False, stream=stream)
    progress.run_start(10, 0, 0.0, 0.0)
    progress.epoch_start(1, 10)
    progress.batch_end(1.0, 10.0)
    progress.epoch_end(1, {"valid/nll_frame": 2.5, "train/frames_per_s": 10_060.4})
    assert stream.getvalue() == ""
    assert capsys.readouterr().err == "epoch 1: valid/nll_frame 2.5000, train/frames_per_s 10,060\n"


def test_clock_text():
    assert [clock_text(s) for s in (0, 59.6, 61, 3600 * 2 + 5)] == [
        "0:00",
        "1:00",
        "1:01",
        "2:00:05",
    ]

"""Resume and determinism: `mg train` killed with SIGKILL after a checkpoint, then `--resume
RUN_ID`, ends with the same metrics, epoch by epoch, as an uninterrupted run of the same seed
(so two runs of one command and seed agree, here even across processes), and it ends the run
it took over."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from mg.training.config import TrainRequest
from mg.training.train import train
from tests.fixtures.training import cpu_env

OPTIONS = {"epochs": 3, "batch_size": 16, "seed": 5, "lr": 0.01, "samples": 0}
MG = Path(sys.executable).with_name("mg")


def command(data: Path, uri: str, experiment: str) -> list[str]:
    args = [str(MG), "train", "--data", str(data), "--preset", "tiny", "--backbone", "gru"]
    for name, value in OPTIONS.items():
        args += [f"--{name.replace('_', '-')}", str(value)]
    return args + ["--experiment", experiment, "--tracking-uri", uri]


def first_checkpoint(experiment: str, process: subprocess.Popen, timeout: float = 600) -> str:
    """The run id, once the run has uploaded its first checkpoint (a deadline, not a speed test:
    a 90-second one ran out with the start-up and first epoch on a machine at load 10-15)."""
    client, deadline = MlflowClient(), time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[1].decode()[-2000:]
        runs = mlflow.search_runs(experiment_names=[experiment], output_format="list")
        if runs:
            names = [a.path for a in client.list_artifacts(runs[0].info.run_id, "checkpoints")]
            if "checkpoints/last.json" in names:
                return runs[0].info.run_id
        time.sleep(0.1)
    raise AssertionError("no checkpoint within the timeout")


def history(run_id: str) -> dict[str, list[tuple[int, float]]]:
    """Each metric (but the wall-clock throughput) per epoch, as the run logged it."""
    client = MlflowClient()
    keys = [k for k in client.get_run(run_id).data.metrics if k != "train/frames_per_s"]
    return {
        k: sorted({(m.step, m.value) for m in client.get_metric_history(run_id, k)}) for k in keys
    }


def test_kill_9_then_resume_equals_an_uninterrupted_run_of_the_same_seed(
    train_data, in_store, tmp_path
):
    experiment = f"resume-{uuid.uuid4().hex[:8]}"
    process = subprocess.Popen(
        command(train_data, in_store, experiment),
        cwd=os.getcwd(),
        env=cpu_env(TMPDIR=str(tmp_path)),  # the killed run's scratch folder stays in tmp_path
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        run_id = first_checkpoint(experiment, process)
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.communicate()
    assert MlflowClient().get_run(run_id).info.status == "RUNNING"
    checkpoint = mlflow.artifacts.load_dict(f"runs:/{run_id}/checkpoints/last.json")
    assert checkpoint["epoch"] < OPTIONS["epochs"]

    resumed = train(TrainRequest(data=train_data, resume=run_id, tracking_uri=in_store))
    clean = train(
        TrainRequest(
            data=train_data,
            preset="tiny",
            model_overrides={"backbone": "gru"},
            train_overrides=OPTIONS,
            experiment=experiment,
            tracking_uri=in_store,
        )
    )
    assert resumed.run_id == run_id and resumed.epochs == clean.epochs == OPTIONS["epochs"]
    assert MlflowClient().get_run(run_id).info.status == "FINISHED"
    resumed_history, clean_history = history(run_id), history(clean.run_id)
    assert [step for step, _ in clean_history["valid/nll_frame"]] == [1, 2, 3]
    assert resumed_history.keys() == clean_history.keys()
    for key, values in clean_history.items():  # the same numbers; float32 sums of two processes
        steps = [step for step, _ in values]  # may differ in the last bits (the pitch network's
        assert [step for step, _ in resumed_history[key]] == steps  # oneDNN convolution)
        assert [v for _, v in resumed_history[key]] == pytest.approx(
            [v for _, v in values], rel=1e-6
        )

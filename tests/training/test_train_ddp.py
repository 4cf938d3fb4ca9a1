"""torchrun: two processes train one model (DDP over gloo, each on its shard of the train split);
rank 0 alone writes the MLflow run."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import mlflow
from mlflow.tracking import MlflowClient

from tests.fixtures.training import cpu_env

TORCHRUN = Path(sys.executable).with_name("torchrun")
MG = Path(sys.executable).with_name("mg")


def test_torchrun_two_processes_train_one_run(train_data, in_store):
    experiment = f"ddp-{uuid.uuid4().hex[:8]}"
    command = [
        str(TORCHRUN), "--standalone", "--nproc-per-node", "2", "--no-python", str(MG), "train",
        "--data", str(train_data), "--preset", "tiny", "--epochs", "1", "--max-steps", "3",
        "--samples", "0", "--experiment", experiment, "--tracking-uri", in_store,
    ]  # fmt: skip
    done = subprocess.run(command, cwd=os.getcwd(), env=cpu_env(), capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    runs = mlflow.search_runs(experiment_names=[experiment], output_format="list")
    assert len(runs) == 1  # rank 1 trained but wrote nothing
    run = MlflowClient().get_run(runs[0].info.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["train.world_size"] == "2" and run.data.tags["mg.world_size"] == "2"
    assert {"train/loss", "valid/nll_frame", "train/frames_per_s"} <= set(run.data.metrics)
    assert done.stdout.decode().count("run ") == 1  # the summary comes from rank 0 only

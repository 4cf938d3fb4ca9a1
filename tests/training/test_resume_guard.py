"""`--resume` against a second process and other data (issue 18): resuming a run that is still
training is refused, `mg train --resume RUN_ID` needs no `--data` (the run knows its dataset),
a `--data` with another manifest is refused, and a run killed with kill -9 resumes."""

from __future__ import annotations

import os
import signal
import subprocess
import uuid

import pytest
from mlflow.tracking import MlflowClient

from mg.errors import DatasetError
from mg.training.config import TrainRequest
from mg.training.resume_guard import RunBusyError
from mg.training.train import train
from tests.fixtures.training import cpu_env
from tests.training.test_train_resume import MG, command, first_checkpoint


def mg(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(MG), *args], env=cpu_env(), capture_output=True, text=True)


def test_a_running_run_is_not_resumed_and_a_killed_one_resumes_on_its_own_data(
    train_data, abc_data, in_store
):
    other_data = abc_data  # another dataset on the same grid: another manifest
    experiment = f"guard-{uuid.uuid4().hex[:8]}"
    args = command(train_data, in_store, experiment)
    args[args.index("--epochs") + 1] = "6"
    process = subprocess.Popen(args, env=cpu_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        run_id = first_checkpoint(experiment, process, timeout=300)
        with pytest.raises(RunBusyError, match=f"still training \\(pid {process.pid}\\)"):
            train(TrainRequest(data=None, resume=run_id, tracking_uri=in_store))
        assert process.poll() is None  # the running run was not disturbed
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.communicate()
    with pytest.raises(DatasetError, match=f"not the dataset run {run_id} trained on"):
        train(TrainRequest(data=other_data, resume=run_id, tracking_uri=in_store))
    wrong = mg("train", "--resume", run_id, "--data", str(other_data), "--tracking-uri", in_store)
    assert wrong.returncode == 1 and wrong.stderr.count("\n") == 1, wrong.stderr
    resumed = mg("train", "--resume", run_id, "--tracking-uri", in_store)  # no --data
    assert resumed.returncode == 0, resumed.stderr
    assert MlflowClient(in_store).get_run(run_id).info.status == "FINISHED"


def test_train_without_data_or_resume_is_a_usage_error():
    result = mg("train", "--preset", "tiny")
    assert result.returncode == 2 and "--data DIR is required" in result.stderr

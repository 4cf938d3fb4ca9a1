"""MLflow at the edges of a benchmark run: one run per model in experiment `benchmark-<dataset>`.

A client bound to an explicit tracking URI (None: MLFLOW_TRACKING_URI, else MLflow's default),
so nothing global changes; a run that fails or is interrupted is ended FAILED/KILLED, never
left RUNNING.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient


class Tracker:
    def __init__(self, tracking_uri: str | None, experiment: str) -> None:
        self.client = MlflowClient(tracking_uri=tracking_uri)
        found = self.client.get_experiment_by_name(experiment)
        self.experiment_id = (
            found.experiment_id if found else self.client.create_experiment(experiment)
        )

    @contextmanager
    def run(self, name: str, params: dict[str, Any]) -> Iterator[RunLog]:
        run = self.client.create_run(
            self.experiment_id, run_name=name, tags={"mg.benchmark": "polyphonic"}
        )
        run_id = run.info.run_id
        self._params(run_id, params)
        try:
            yield RunLog(self.client, run_id)
        except KeyboardInterrupt:
            self.client.set_terminated(run_id, "KILLED")
            raise
        except BaseException:
            self.client.set_terminated(run_id, "FAILED")
            raise
        self.client.set_terminated(run_id, "FINISHED")

    def log_result(self, result, params: dict[str, Any]) -> str:
        """A run with no epochs (the Markov floor): params and final figures only."""
        with self.run(result.label, params) as run:
            run.finish(result)
        return run.run_id

    def log_report(self, paths: list[Path]) -> str:
        """The table and plot as artifacts of a `report` run."""
        with self.run("report", {}) as run:
            for path in paths:
                self.client.log_artifact(run.run_id, str(path))
        return run.run_id

    def _params(self, run_id: str, params: dict[str, Any]) -> None:
        items = [Param(k, str(v)[:6000]) for k, v in sorted(params.items())]
        for i in range(0, len(items), 100):
            self.client.log_batch(run_id, params=items[i : i + 100])


class RunLog:
    def __init__(self, client: MlflowClient, run_id: str) -> None:
        self.client, self.run_id = client, run_id

    def log_epoch(
        self, epoch: int, train_nll: float, valid_nll: float, lr: float, seconds: float
    ) -> None:
        now = int(time.time() * 1000)
        values = {
            "train/nll_frame": train_nll,
            "valid/nll_frame": valid_nll,
            "lr": lr,
            "train/seconds": seconds,
        }
        metrics = [Metric(k, float(v), now, epoch) for k, v in values.items()]
        self.client.log_batch(self.run_id, metrics=metrics)

    def finish(self, result) -> None:
        now = int(time.time() * 1000)
        values = {
            "test/nll_frame": result.test_nll,
            "best/valid_nll_frame": result.valid_nll,
            "best/epoch": result.best_epoch,
            "parameters": result.parameters,
            "train_seconds": result.train_seconds,
        }
        self.client.log_batch(
            self.run_id, metrics=[Metric(k, float(v), now, 0) for k, v in values.items()]
        )

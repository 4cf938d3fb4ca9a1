"""MLflow at the edges of a benchmark run: one run per model in experiment `benchmark-<dataset>`.

The runs are `mg.tracking.runs` runs of a store client bound to the given URI (nothing global
changes): the trainer logs each model's epochs and checkpoints into its run, this module adds
the protocol's final figures; a run that fails or is interrupted ends FAILED/KILLED, never
RUNNING.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mg.tracking.runs import Run, connect, run_guard, start_run


class Tracker:
    def __init__(self, tracking_uri: str, experiment: str) -> None:
        self.store = connect(tracking_uri)
        self.experiment = experiment

    @contextmanager
    def run(self, name: str, params: dict[str, Any]) -> Iterator[Run]:
        run = start_run(self.store, self.experiment, name)
        with run_guard(run):
            run.set_tags({"mg.benchmark": "polyphonic"})
            run.log_params(params)
            yield run

    def log_result(self, result, params: dict[str, Any]) -> str:
        """A run with no epochs (the Markov floor): params and final figures only."""
        with self.run(result.label, params) as run:
            log_figures(run, result)
        return run.run_id

    def log_report(self, paths: list[Path]) -> str:
        """The table and plot as artifacts of a `report` run."""
        with self.run("report", {}) as run:
            for path in paths:
                run.log_file(path)
        return run.run_id


def log_figures(run: Run, result) -> None:
    """The protocol's figures of one model: test NLL (once), the best validation NLL and its
    epoch, the parameter count and the training time."""
    values = {
        "test/nll_frame": result.test_nll,
        "best/valid_nll_frame": result.valid_nll,
        "best/epoch": result.best_epoch,
        "parameters": result.parameters,
        "train_seconds": result.train_seconds,
    }
    run.log_metrics(values, 0)

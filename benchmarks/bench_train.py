"""Trainer overhead: time per epoch of `mg.training.train.train` against a bare torch loop, one run.

Same model (three-branch, `tiny` and a 128-unit variant, GRU), same data (200 Nottingham tunes
ingested on the default grid: 16-bar segments of 256 steps, 88 pitches), same batch size. The
bare loop holds every batch in memory as tensors and does forward, loss, backward, AdamW step,
then a no-grad pass over the valid split. The trainer does the same work plus what a tracked
run costs: streaming Parquet shards through the DataLoader, the LR schedule and gradient
clipping, the validation metrics, MLflow logging (SQLite store), and a checkpoint written and
uploaded every epoch. An epoch is timed from the end of one to the end of the next (the first,
warm-up epoch is left out), in wall time and in CPU time (this process plus its finished
children, the DataLoader workers): on a shared machine the wall clock carries the other users'
load, the CPU time much less of it. The two sides alternate so machine load hits both alike.
One torch thread on both sides (on a shared 2-core machine more threads only add contention).

    python -m benchmarks.run train
"""

from __future__ import annotations

import contextlib
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from benchmarks.run import save_section, shared_data
from mg.data.notes import Dataset, SegmentStream, to_batch
from mg.models import registry
from mg.representation.grid import Grid

FILES = 100
EPOCHS = 3  # per measured run: the first is warm-up, the next two are timed
REPEATS = 2
BATCH = 16
SIZES = {"tiny (hidden 32)": {"hidden": None}, "hidden 128": {"hidden": 128}}


def ingest_dataset(out: Path) -> Path:
    from mg.pipelines.ingest import ingest
    from mg.pipelines.options import IngestConfig

    paths = sorted(shared_data("nottingham", "MIDI").glob("*.mid"))
    chosen = paths[:: len(paths) // FILES][:FILES]
    config = IngestConfig(
        inputs=tuple(str(p) for p in chosen), out=str(out), grid=Grid(), transpose=(0, 0), workers=1
    )
    ingest(config)
    return out


def stamp() -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process and its reaped children)."""
    times = os.times()
    return (
        time.perf_counter(),
        times.user + times.system + times.children_user + times.children_system,
    )


def intervals(ends: list[tuple[float, float]]) -> list[tuple[float, float]]:
    return [(b[0] - a[0], b[1] - a[1]) for a, b in zip(ends, ends[1:], strict=False)]


class EpochClock:
    """The trainer's progress callbacks, used as a stopwatch of epoch ends."""

    def __init__(self) -> None:
        self.ends: list[tuple[float, float]] = []

    def epoch_start(self, epoch: int, batches: int) -> None:
        pass

    def batch_end(self, loss: float, frames_per_s: float) -> None:
        pass

    def epoch_end(self, epoch: int, metrics: dict[str, float]) -> None:
        self.ends.append(stamp())


def trainer_epochs(data: Path, store: Path, overrides: dict, workers: int) -> list[tuple]:
    from mg.training.config import TrainRequest
    from mg.training.train import train

    clock = EpochClock()
    request = TrainRequest(
        data=data,
        preset="tiny",
        model_overrides={"backbone": "gru", **overrides},
        train_overrides={"epochs": EPOCHS, "batch_size": BATCH, "samples": 0, "workers": workers},
        experiment="bench-train",
        tracking_uri=f"sqlite:///{store / 'mlflow.db'}",
    )
    train(request, progress=clock)
    return intervals(clock.ends)


def preloaded(dataset: Dataset, split: str) -> list:
    loader = DataLoader(SegmentStream(dataset, split), batch_size=BATCH)
    return [to_batch(collated) for collated in loader]


def bare_epochs(dataset: Dataset, overrides: dict) -> list[tuple]:
    family = registry.get("three-branch")
    config = family.make_config("tiny", dataset.grid, backbone="gru", **overrides)
    torch.manual_seed(0)
    model = family.build(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3)
    train_batches, valid_batches = preloaded(dataset, "train"), preloaded(dataset, "valid")
    ends = []
    for _ in range(EPOCHS):
        model.train()
        for batch in train_batches:
            loss, _ = model.loss(batch, model(batch))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            for batch in valid_batches:
                model.loss(batch, model(batch))
        ends.append(stamp())
    return intervals(ends)


def median(epochs: list[tuple[float, float]], which: int) -> float:
    return statistics.median(epoch[which] for epoch in epochs)


def measure(data: Path, store: Path) -> list[tuple[str, list, list, list]]:
    dataset = Dataset.open(data)
    rows = []
    for label, overrides in SIZES.items():
        given = {k: v for k, v in overrides.items() if v is not None}
        bare, ours, ours_workers = [], [], []
        for _ in range(REPEATS):
            bare += bare_epochs(dataset, given)
            ours += trainer_epochs(data, store, given, workers=0)
            ours_workers += trainer_epochs(data, store, given, workers=1)
        rows.append((label, bare, ours, ours_workers))
    return rows


def table(rows, dataset: Dataset, load: tuple[float, float]) -> str:
    train_segments = sum(1 for _ in SegmentStream(dataset, "train"))
    valid_segments = sum(1 for _ in SegmentStream(dataset, "valid"))
    lines = [
        "## train: trainer overhead per epoch",
        "",
        f"three-branch GRU, batch {BATCH}, {train_segments} train + {valid_segments} valid "
        f"segments of {dataset.grid.segment_steps} steps × {dataset.grid.alpha} pitches "
        f"({FILES} Nottingham tunes), CPU, one torch thread; median seconds per epoch "
        f"over {REPEATS} runs × {EPOCHS - 1} timed epochs (wall / CPU).",
        "",
        "| model | bare torch loop | mg trainer, --workers 0 | overhead wall / CPU "
        "| mg trainer, --workers 1 | overhead wall / CPU |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for label, bare, ours, workers in rows:
        cells = [label, _pair(bare)]
        for side in (ours, workers):
            cells += [_pair(side), _overhead(side, bare)]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "Overhead = what a tracked, resumable epoch costs beyond the bare loop: Parquet "
        "streaming, schedule + clipping, validation metrics, MLflow logging, checkpoint write + "
        "upload. Target: ≤ 15%.",
        "",
        f"Load average of the machine (all users) at start / end: {load[0]:.1f} / {load[1]:.1f} "
        f"on {os.cpu_count()} cores. When it exceeds the core count, wall times mostly measure "
        "the other users; read the CPU column then. --workers 1 moves Parquet decoding to a "
        "second process, which pays off on an idle multi-core machine and costs the extra "
        "CPU of passing batches between processes.",
    ]
    return "\n".join(lines)


def _pair(epochs) -> str:
    return f"{median(epochs, 0):.2f} s / {median(epochs, 1):.2f} s"


def _overhead(epochs, bare) -> str:
    wall = median(epochs, 0) / median(bare, 0) - 1
    cpu = median(epochs, 1) / median(bare, 1) - 1
    return f"{wall:+.0%} / {cpu:+.0%}"


def main() -> str:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with (
            tempfile.TemporaryDirectory(prefix="mg-bench-train-") as scratch,
            contextlib.chdir(scratch),  # MLflow puts artifacts under ./mlruns
        ):
            data = ingest_dataset(Path(scratch) / "dataset")
            start_load = os.getloadavg()[0]
            rows = measure(data, Path(scratch))
            load = (start_load, os.getloadavg()[0])
            return save_section("train", table(rows, Dataset.open(data), load))
    finally:
        torch.set_num_threads(threads)


if __name__ == "__main__":
    print(main())

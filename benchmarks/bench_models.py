"""Model zoo throughput, and whether the loader keeps up with training.

1. Training frames/s (forward + backward + optimiser step) of three-branch against its baseline
   pianoroll-rnn at the same hidden size and depth, each with LSTM and GRU.
2. The loader's frames/s (SegmentStream + DataLoader over real Nottingham shards, to NoteBatch)
   against what the `base` three-branch model consumes at the trainer's batch shape. Target:
   loader ≥ 5× the model.

    python -m benchmarks.run models
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq
import torch
from torch.utils.data import DataLoader

from benchmarks.run import save_section, shared_data
from mg import zoo
from mg.data.notes import Dataset, SegmentStream, to_batch
from mg.data.schema import SCHEMA_VERSION, SegmentRow, segments_table
from mg.models.protocol import NoteBatch
from mg.representation import context_matrix, position_index, read_file, segment_notes
from mg.representation.grid import Grid

SECONDS = 1.5  # per timing window; the best of ROUNDS windows is kept
ROUNDS = 3
THREADS = 1  # one core per run: on a shared machine OpenMP's spinning threads swamp the figures
HIDDEN, LAYERS = 256, 2  # the base presets of both note families
SHAPE = (8, 128)  # batch, steps for the family comparison
TRAINER_SHAPE = (16, 256)  # batch, steps the trainer feeds the base model (whole segments)


def random_batch(batch: int, steps: int, grid: Grid) -> NoteBatch:
    pressed = (torch.rand(batch, steps, grid.alpha) < 0.05).float()
    notes = torch.stack([pressed, pressed * 0.5, pressed * 0.6], dim=-1)
    context = torch.rand(batch, steps, grid.alpha, 3)
    return NoteBatch(notes, context, torch.arange(steps).remainder(grid.gamma).repeat(batch, 1))


def train_rate(name: str, backbone: str, shape: tuple[int, int], grid: Grid) -> float:
    """Frames per second of forward + backward + Adam step."""
    family = zoo.get(name)
    config = family.make_config("base", grid, backbone=backbone, hidden=HIDDEN, layers=LAYERS)
    model = family.build(config).train()
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    batch = random_batch(*shape, grid)

    def step() -> None:
        loss, _ = model.loss(batch, model(batch))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()

    step()
    best = 0.0
    for _ in range(ROUNDS):  # the best window: other processes only ever slow a window down
        steps, started = 0, time.perf_counter()
        while steps < 2 or time.perf_counter() - started < SECONDS:
            step()
            steps += 1
        best = max(best, steps * shape[0] * shape[1] / (time.perf_counter() - started))
    return best


def build_dataset(root: Path, grid: Grid, files: int = 120, shards: int = 4) -> int:
    """Real Nottingham tunes as schema-v1 shards (as ingest writes them); returns the rows."""
    rows = []
    paths = sorted(shared_data("nottingham", "MIDI").glob("*.mid"))
    for path in paths[:: max(1, len(paths) // files)][:files]:
        piece = read_file(path, grid).pieces[0]
        notes = segment_notes(piece.notes, grid).notes
        context = segment_notes(context_matrix(piece.notes, grid.steps_per_beat), grid).notes
        position = position_index(grid.segment_steps, grid)
        rows += [
            SegmentRow(n, c, position, piece.piece_id, path.name, 0, i, 0, None)
            for i, (n, c) in enumerate(zip(notes, context, strict=True))
        ]
    (root / "train").mkdir(parents=True)
    for shard in range(shards):
        table = segments_table(rows[shard::shards], grid)
        pq.write_table(table, root / "train" / f"part-{shard:05d}.parquet", row_group_size=32)
    manifest = {"schema_version": SCHEMA_VERSION, "grid": grid.to_dict()}
    manifest["counts"] = {"train": {"segments": len(rows)}}
    (root / "manifest.json").write_text(json.dumps(manifest))
    return len(rows)


def loader_rate(dataset: Dataset, workers: int, batch_size: int) -> float:
    """Frames per second delivered as NoteBatch, over two shuffled epochs (worker start-up included)."""
    stream = SegmentStream(dataset, "train", shuffle_buffer=64)
    loader = DataLoader(stream, batch_size=batch_size, num_workers=workers)
    frames, started = 0, time.perf_counter()
    for epoch in range(2):
        stream.set_epoch(epoch)
        for collated in loader:
            batch = to_batch(collated)
            frames += batch.notes.shape[0] * batch.notes.shape[1]
    return frames / (time.perf_counter() - started)


def family_table(grid: Grid) -> str:
    rates = {
        (name, backbone): train_rate(name, backbone, SHAPE, grid)
        for backbone in ("lstm", "gru")
        for name in ("pianoroll-rnn", "three-branch")
    }
    lines = [
        f"Training throughput (best of {ROUNDS} windows of {SECONDS} s), hidden {HIDDEN} × {LAYERS} layers, batch {SHAPE[0]} × {SHAPE[1]} steps",
        "",
        "| family | backbone | frames/s | vs pianoroll-rnn (same backbone) | GRU vs LSTM |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for (name, backbone), rate in rates.items():
        versus = rate / rates[("pianoroll-rnn", backbone)]
        gru = rates[(name, "gru")] / rates[(name, "lstm")]
        lines.append(f"| {name} | {backbone} | {rate:,.0f} | {versus:.2f}× | {gru:.2f}× |")
    return "\n".join(lines)


def loader_table(grid: Grid) -> str:
    consumed = train_rate("three-branch", "lstm", TRAINER_SHAPE, grid)
    with tempfile.TemporaryDirectory(prefix="mg-bench-models-") as tmp:
        segments = build_dataset(Path(tmp) / "dataset", grid)
        dataset = Dataset.open(Path(tmp) / "dataset")
        rates = {w: loader_rate(dataset, w, TRAINER_SHAPE[0]) for w in (0, 2)}
    lines = [
        f"Loader vs model: {segments} real Nottingham segments of {grid.segment_steps} steps, "
        f"batch {TRAINER_SHAPE[0]}, shuffle buffer 64, two epochs",
        "",
        "| what | frames/s | vs base three-branch (LSTM) training |",
        "| --- | ---: | ---: |",
        f"| base three-branch (LSTM) consumes | {consumed:,.0f} | 1.00× |",
    ]
    for workers, rate in rates.items():
        lines.append(
            f"| SegmentStream + DataLoader, {workers} workers | {rate:,.0f} | {rate / consumed:.1f}× |"
        )
    return "\n".join(lines)


def main() -> str:
    grid = Grid()
    load = os.getloadavg()[0]
    threads = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    try:
        return _measure(grid, load)
    finally:
        torch.set_num_threads(threads)


def _measure(grid: Grid, load: float) -> str:
    markdown = "\n\n".join(
        [
            "## Models: zoo throughput and loader headroom",
            family_table(grid),
            loader_table(grid),
            f"torch {torch.__version__} on CPU, {THREADS} thread per model (with 2 threads on this "
            f"shared machine OpenMP's spinning made the same runs several times slower); load "
            f"average {load:.1f} at the start. Target: the loader delivers at least 5× the "
            f"frames the base model consumes.",
        ]
    )
    return save_section("models", markdown)


if __name__ == "__main__":
    print(main())

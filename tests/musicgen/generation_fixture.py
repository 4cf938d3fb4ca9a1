"""A tiny three-branch model trained for real on Nottingham tunes, for the generation tests,
and a real SQLite MLflow store that holds it as a logged, registered model.

The dataset is built the way ingest builds one (representation → segments → schema v1 Parquet
+ manifest) without Beam, on a small grid (4-bar segments, 60 pitches) so training takes
seconds; the model is trained by a short loop over the model protocol and saved with
`checkpoint.save_model`. Everything is cached under the session's temporary folder, so the
test modules that import this share one training run and one store.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq
import torch
from torch.utils.data import DataLoader

from mg.data.notes import Dataset, SegmentStream, to_batch
from mg.data.schema import SCHEMA_VERSION, SPLITS, SegmentRow, segments_table
from mg.models import registry
from mg.models.protocol import NoteBatch
from mg.models.saving import save_model
from mg.representation import (
    context_matrix,
    kernel_spec,
    position_index,
    read_file,
    segment_notes,
)
from mg.representation.grid import Grid

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "nottingham"
MIDI_FILES = sorted((DATA / "MIDI").glob("*.mid"))[::250]  # 13 tunes across the collection
ABC_FILE = DATA / "ABC_cleaned" / "ashover.abc"
GRID = Grid(bars=4, low=36, high=95)
TRAIN_STEPS = 40
CROP = 48
MODEL_NAME = "tune"


def split_of(index: int) -> str:
    return {0: "valid", 1: "test"}.get(index % 5, "train")


def piece_rows(piece, source: str, grid: Grid) -> list[SegmentRow]:
    notes = segment_notes(piece.notes, grid).notes
    context = segment_notes(context_matrix(piece.notes, grid.steps_per_beat), grid).notes
    position = position_index(grid.segment_steps, grid)
    return [
        SegmentRow(n, c, position, piece.piece_id, source, 0, i, 0, None)
        for i, (n, c) in enumerate(zip(notes, context, strict=True))
    ]


def build_dataset(root: Path, grid: Grid) -> Path:
    rows: dict[str, list[SegmentRow]] = {split: [] for split in SPLITS}
    for index, path in enumerate(MIDI_FILES):
        for piece in read_file(path, grid, source=path.name).pieces:
            rows[split_of(index)] += piece_rows(piece, path.name, grid)
    for split, split_rows in rows.items():
        (root / split).mkdir(parents=True)
        table = segments_table(split_rows, grid)
        pq.write_table(table, root / split / "part-00000.parquet", row_group_size=8)
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "grid": grid.to_dict(),
        "kernel": kernel_spec(grid),
        "splits": {s: {"segments": len(r)} for s, r in rows.items()},
    }
    (root / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return root


def train_tiny(dataset_root: Path, folder: Path, steps: int = TRAIN_STEPS) -> Path:
    """A few optimiser steps of the `tiny` preset on random crops: enough to leave the random
    start (short crops keep it to seconds; the model is recurrent, any length trains it)."""
    torch.manual_seed(0)
    dataset = Dataset.open(dataset_root)
    family = registry.get("three-branch")
    model = family.build(family.make_config("tiny", dataset.grid))
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    loader = DataLoader(SegmentStream(dataset, "train", shuffle_buffer=32), batch_size=8)
    batches = [to_batch(collated) for collated in loader]
    for step in range(steps):
        batch = _crop(batches[step % len(batches)], CROP)
        loss, _ = model.loss(batch, model(batch))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return save_model(folder, family.name, model.eval(), dataset.grid)


def _crop(batch: NoteBatch, length: int) -> NoteBatch:
    start = int(torch.randint(0, batch.notes.shape[1] - length + 1, ()))
    window = slice(start, start + length)
    return NoteBatch(batch.notes[:, window], batch.context[:, window], batch.position[:, window])


def dataset_and_model(base: Path) -> tuple[Path, Path]:
    """(dataset folder, model folder), built once per session under `base`."""
    dataset, model = base / "nottingham-dataset", base / "tiny-three-branch"
    if not (dataset / "manifest.json").is_file():
        build_dataset(dataset, GRID)
    if not (model / "model.safetensors").is_file():
        train_tiny(dataset, model)
    return dataset, model


@dataclass(frozen=True)
class Store:
    """A SQLite MLflow store holding a model that `mg train`'s library trained, logged and
    registered as MODEL_NAME (alias `champion`), with its valid metrics as the trainer logged them."""

    uri: str
    run_id: str
    name: str
    valid: dict[str, float]  # valid/nll_frame, valid/nll_articulation, valid/velocity_mae


def mlflow_store(base: Path, dataset: Path) -> Store:
    """One epoch of the trainer on `dataset`; built once per session under `base`."""
    folder = base / "mlflow"
    record = folder / "store.json"
    if record.is_file():
        return Store(**json.loads(record.read_text()))
    import mlflow
    from mlflow.tracking._tracking_service.utils import _use_tracking_uri

    from mg.training.config import TrainRequest
    from mg.training.train import train

    folder.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    request = TrainRequest(
        data=dataset,
        family="three-branch",
        preset="tiny",
        train_overrides={"epochs": 1, "max_steps": 2, "batch_size": 8, "samples": 0},
        experiment="generate",
        register=MODEL_NAME,
        tracking_uri=uri,
    )
    with _use_tracking_uri(uri):  # the trainer sets MLflow's global URI; give it back
        # made here, so that the artifacts land in the temporary folder, not in ./mlruns
        mlflow.create_experiment("generate", (folder / "artifacts").as_uri())
        result = train(request)
    valid = {k: v for k, v in result.metrics.items() if k.startswith("valid/")}
    store = Store(uri, result.run_id, MODEL_NAME, valid)
    record.write_text(json.dumps(store.__dict__))
    return store

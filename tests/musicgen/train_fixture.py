"""A real ingested dataset for the trainer tests: Nottingham MIDI tunes as schema-v1 Parquet.

Built the way ingest builds one (representation → segments → Parquet shards + manifest.json)
without Beam, on a small grid (4-bar segments, 60 pitches) so a `tiny` model trains an epoch in
about a second. Splits come from a hash of `piece_id`. The train split is two shards of small
row groups, so two torchrun processes each get their share.
"""

from __future__ import annotations

import json
import os
import shutil
import zlib
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import torch

from musicgen.grid import Grid
from musicgen.representation import (
    context_matrix,
    kernel_spec,
    position_index,
    read_file,
    segment_notes,
)
from musicgen.schema import SCHEMA_VERSION, SPLITS, SegmentRow, segments_table

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "nottingham" / "MIDI"
GRID = Grid(bars=4, low=36, high=95)
FILES = 20


def split_of(piece_id: str) -> str:
    bucket = zlib.crc32(piece_id.encode()) % 10
    return {0: "valid", 1: "valid", 2: "test"}.get(bucket, "train")


def piece_rows(piece, source: str, grid: Grid) -> list[SegmentRow]:
    notes = segment_notes(piece.notes, grid).notes
    context = segment_notes(context_matrix(piece.notes, grid.steps_per_beat), grid).notes
    position = position_index(grid.segment_steps, grid)
    return [
        SegmentRow(n, c, position, piece.piece_id, source, 0, i, 0, None)
        for i, (n, c) in enumerate(zip(notes, context, strict=True))
    ]


def build_train_dataset(root: Path, grid: Grid = GRID, files: int = FILES) -> Path:
    """Write the dataset into `root` (kept when it is already there)."""
    if (root / "manifest.json").is_file():
        return root
    staging = root.with_name(root.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    rows: dict[str, list[SegmentRow]] = {split: [] for split in SPLITS}
    pieces: dict[str, int] = dict.fromkeys(SPLITS, 0)
    paths = sorted(DATA.glob("*.mid"))
    assert paths, f"the shared corpus is missing: {DATA}"
    for path in paths[:: len(paths) // files][:files]:
        for piece in read_file(path, grid, source=path.name).pieces:
            split = split_of(piece.piece_id)
            rows[split] += piece_rows(piece, path.name, grid)
            pieces[split] += 1
    for split, split_rows in rows.items():
        (staging / split).mkdir(parents=True)
        halves = [split_rows[::2], split_rows[1::2]] if split == "train" else [split_rows]
        for index, part in enumerate(halves):
            table = segments_table(part, grid)
            pq.write_table(table, staging / split / f"part-{index:05d}.parquet", row_group_size=4)
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "grid": grid.to_dict(),
        "kernel": kernel_spec(grid),
        "counts": {s: {"segments": len(rows[s]), "pieces": pieces[s]} for s in SPLITS},
        "rejected": {},
    }
    (staging / "manifest.json").write_text(json.dumps(manifest, indent=2))
    assert rows["train"] and rows["valid"], manifest["counts"]
    staging.rename(root)
    return root


def session_folder(tmp_path_factory) -> Path:
    """One folder per test session shared by every trainer test module (built once)."""
    folder = tmp_path_factory.getbasetemp() / "mg-train"
    folder.mkdir(exist_ok=True)
    return folder


@pytest.fixture(scope="session")
def train_data(tmp_path_factory) -> Path:
    return build_train_dataset(session_folder(tmp_path_factory) / "dataset")


@pytest.fixture(scope="session")
def mlflow_store(tmp_path_factory) -> str:
    """A real SQLite MLflow store; creating its tables is slow, so the session shares one."""
    from musicgen import tracking

    uri = f"sqlite:///{session_folder(tmp_path_factory) / 'mlflow.db'}"
    tracking.connect(uri)
    return uri


@pytest.fixture(scope="module")
def in_store(mlflow_store: str, tmp_path_factory) -> Iterator[str]:
    """Run in the store's folder (MLflow puts new experiments' artifacts under ./mlruns) on one
    CPU thread (two threads on a loaded 2-core machine are slower, and subprocesses use one)."""
    threads = torch.get_num_threads()
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(session_folder(tmp_path_factory))
        torch.set_num_threads(1)
        yield mlflow_store
    torch.set_num_threads(threads)


def cpu_env(**extra: str) -> dict[str, str]:
    """The environment of an `mg` subprocess: one CPU thread (as in-process runs), no bar."""
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "CI": "1", **extra}

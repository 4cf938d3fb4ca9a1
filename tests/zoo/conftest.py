"""A small real dataset for the zoo tests: folk tunes as MIDI and one ABC songbook.

Built the way ingest builds one (representation → segments → schema v1 Parquet + manifest),
without Beam, so the zoo tests stay fast; splits come from a hash of `piece_id`, and the ABC
tunes are also stored transposed, as ingest does, so the text dataset must skip those rows.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from mg.data.schema import SCHEMA_VERSION, SegmentRow, segments_table
from mg.representation import (
    context_matrix,
    kernel_spec,
    position_index,
    read_file,
    segment_notes,
)
from mg.representation.grid import Grid
from mg.representation.transpose import shift_pitches

ABC_TRANSPOSES = (0, 2)


def piece_rows(piece, source: str, transpose: int, grid: Grid) -> list[SegmentRow]:
    notes = shift_pitches(piece.notes, transpose)
    context = context_matrix(notes, grid.steps_per_beat)
    note_segments = segment_notes(notes, grid).notes
    context_segments = segment_notes(context, grid).notes
    position = position_index(grid.segment_steps, grid)
    return [
        SegmentRow(n, c, position, piece.piece_id, source, piece.tune, i, transpose, piece.abc)
        for i, (n, c) in enumerate(zip(note_segments, context_segments, strict=True))
    ]


def split_of(piece_id: str) -> str:
    return "valid" if zlib.crc32(piece_id.encode()) % 5 == 0 else "train"


def build_dataset(
    root: Path, grid: Grid, files: list[Path], row_group_size: int = 16, shards: int = 2
) -> Path:
    rows: dict[str, list[SegmentRow]] = {"train": [], "valid": [], "test": []}
    pieces = {"train": 0, "valid": 0, "test": 0}
    for path in files:
        transposes = ABC_TRANSPOSES if path.suffix == ".abc" else (0,)
        for piece in read_file(path, grid, source=path.name).pieces:
            split = split_of(piece.piece_id)
            pieces[split] += 1
            for semitones in transposes:
                rows[split] += piece_rows(piece, path.name, semitones, grid)
    for split, split_rows in rows.items():
        (root / split).mkdir(parents=True)
        for shard in range(shards if split_rows else 0):
            table = segments_table(split_rows[shard::shards], grid)
            pq.write_table(table, root / split / f"part-{shard:05d}.parquet", row_group_size)
    counts = {s: {"segments": len(rows[s]), "pieces": pieces[s]} for s in rows}
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "grid": grid.to_dict(),
        "kernel": kernel_spec(grid),
        "splits": counts,
    }
    (root / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return root


@pytest.fixture(scope="session")
def abc_file(folk_book) -> Path:
    """One songbook of 50 tunes."""
    return folk_book


@pytest.fixture(scope="session")
def folk_dataset(folk_midi, abc_file, tmp_path_factory) -> Path:
    midi = sorted(folk_midi.glob("*.mid"))[::3]  # 17 tunes across the book
    root = tmp_path_factory.mktemp("folk") / "dataset"
    return build_dataset(root, Grid(), [*midi, abc_file])

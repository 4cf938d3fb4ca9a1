"""SegmentStream over real Nottingham shards: exactly-once across workers and ranks, shuffling,
bounded memory, and one clear DatasetError for every kind of bad folder."""

from __future__ import annotations

import hashlib
import json
import tracemalloc
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from torch.utils.data import DataLoader

from mg.data.notes import Dataset, SegmentStream, music_mask, to_batch
from mg.data.schema import SCHEMA_VERSION, SegmentRow, segments_table
from mg.errors import DatasetError
from mg.representation import (
    context_matrix,
    kernel_spec,
    position_codes,
    position_index,
    read_file,
    segment_notes,
)
from mg.representation.grid import Grid

GRID = Grid(bars=4)  # 64-step segments: more rows from few files
SHARDS, ROW_GROUP = 3, 5


def rows_of(path: Path) -> list[SegmentRow]:
    piece = read_file(path, GRID).pieces[0]
    notes = segment_notes(piece.notes, GRID).notes
    context = segment_notes(context_matrix(piece.notes, GRID.steps_per_beat), GRID).notes
    position = position_index(GRID.segment_steps, GRID)
    return [
        SegmentRow(n, c, position, piece.piece_id, path.name, 0, i, 0, None)
        for i, (n, c) in enumerate(zip(notes, context, strict=True))
    ]


@pytest.fixture(scope="module")
def dataset_root(folk_midi, tmp_path_factory) -> Path:
    """Three train shards of five-row groups from 24 real tunes, and a manifest."""
    root = tmp_path_factory.mktemp("data") / "dataset"
    rows = [row for path in sorted(folk_midi.glob("*.mid"))[:24] for row in rows_of(path)]
    (root / "train").mkdir(parents=True)
    for shard in range(SHARDS):
        table = segments_table(rows[shard::SHARDS], GRID)
        pq.write_table(table, root / "train" / f"part-{shard}.parquet", row_group_size=ROW_GROUP)
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "grid": GRID.to_dict(),
        "kernel": kernel_spec(GRID),
    }
    manifest["splits"] = {"train": {"segments": len(rows)}}
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root


def stored_segments(root: Path) -> Counter:
    """Digest of every stored segment, read with pyarrow alone (not through our code)."""
    digests = Counter()
    for path in sorted((root / "train").glob("*.parquet")):
        table = pq.read_table(path, columns=["notes"])
        shape = json.loads(table.schema.field("notes").metadata[b"mg.shape"])
        for value in table["notes"].to_pylist():  # a row's bytes, C order
            notes = np.frombuffer(value, np.uint8).reshape(shape)
            digests[digest(notes.astype(np.float32) / np.float32([1, 1, 127]))] += 1
    return digests


def digest(notes) -> str:
    array = np.asarray(notes, dtype=np.float32)
    return hashlib.blake2b(array.tobytes(), digest_size=8).hexdigest()


def streamed(stream: SegmentStream, workers: int) -> Counter:
    loader = DataLoader(stream, batch_size=4, num_workers=workers)
    return Counter(digest(notes.numpy()) for batch in loader for notes in batch["notes"])


def test_two_workers_read_every_segment_exactly_once(dataset_root):
    dataset = Dataset.open(dataset_root)
    assert len(dataset.units("train")) > 2 * 2  # enough units for every worker to get several
    assert streamed(SegmentStream(dataset, "train"), workers=2) == stored_segments(dataset_root)


def test_two_ranks_with_two_workers_each_split_without_overlap_or_loss(dataset_root):
    dataset = Dataset.open(dataset_root)
    shares = [
        streamed(SegmentStream(dataset, "train", rank=rank, world_size=2), workers=2)
        for rank in (0, 1)
    ]
    assert shares[0] and shares[1]
    assert shares[0] + shares[1] == stored_segments(dataset_root)  # a duplicate would count twice


def test_shuffle_buffer_reorders_reproducibly_and_per_epoch(dataset_root):
    dataset = Dataset.open(dataset_root)

    def order(seed: int, epoch: int) -> list[str]:
        stream = SegmentStream(dataset, "train", shuffle_buffer=8, seed=seed)
        stream.set_epoch(epoch)
        return [digest(row["notes"].numpy()) for row in stream]

    plain = [digest(row["notes"].numpy()) for row in SegmentStream(dataset, "train")]
    first = order(seed=1, epoch=0)
    assert sorted(first) == sorted(plain) and first != plain
    assert order(seed=1, epoch=0) == first
    assert order(seed=1, epoch=1) != first


def test_stream_holds_a_row_group_and_the_buffer_never_the_dataset(dataset_root):
    dataset = Dataset.open(dataset_root)
    whole = (
        sum(stored_segments(dataset_root).values()) * GRID.segment_steps * GRID.alpha * 3 * 4 * 2
    )
    tracemalloc.start()
    try:
        for _ in SegmentStream(dataset, "train", shuffle_buffer=4):
            pass
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < whole / 2  # reading every row first peaks above `whole`


def test_rows_become_float_tensors_of_the_protocol(dataset_root):
    dataset = Dataset.open(dataset_root)
    batch = to_batch(next(iter(DataLoader(SegmentStream(dataset, "train"), batch_size=3))))
    steps = GRID.segment_steps
    assert batch.notes.shape == (3, steps, GRID.alpha, 3) and batch.notes.dtype == torch.float32
    assert batch.context.shape == batch.notes.shape and batch.context.dtype == torch.float32
    assert batch.position.dtype == torch.long and batch.position.shape == (3, steps, 3)
    assert 0 < batch.notes[..., 2].max() <= 1 and batch.context.max() <= 1
    expected = torch.from_numpy(position_codes(None, GRID, steps).astype(np.int64))
    assert torch.equal(batch.position[0], expected)


def test_other_grid_is_refused_before_any_work(dataset_root):
    dataset = Dataset.open(dataset_root)
    dataset.check_grid(Grid(bars=4, max_steps=100))  # the length caps do not change tensors
    with pytest.raises(DatasetError, match="does not match the model"):
        dataset.check_grid(Grid())
    config = type("Config", (), {"alpha": 60, "gamma": GRID.gamma})()
    with pytest.raises(DatasetError, match="alpha=88, the model's config alpha=60"):
        dataset.check_config(config)


def copy_dataset(root: Path, target: Path) -> Path:
    (target / "train").mkdir(parents=True)
    for path in (root / "train").glob("*.parquet"):
        (target / "train" / path.name).write_bytes(path.read_bytes())
    (target / "manifest.json").write_text((root / "manifest.json").read_text())
    return target


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("missing", "no such dataset folder"),
        ("empty", "no manifest.json"),
        ("no_manifest", "no manifest.json"),
        ("schema", f"schema version 99, this mg reads {SCHEMA_VERSION}; re-ingest"),
        ("not_json", "not valid JSON"),
        ("no_shards", "no Parquet shards"),
    ],
)
def test_bad_folders_are_one_clear_dataset_error(dataset_root, tmp_path, damage, message):
    root = copy_dataset(dataset_root, tmp_path / "copy")
    manifest = root / "manifest.json"
    if damage == "missing":
        root = tmp_path / "nowhere"
    elif damage == "empty":
        root = tmp_path / "empty"
        root.mkdir()
    elif damage == "no_manifest":
        manifest.unlink()
    elif damage == "schema":
        manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "schema_version": 99}))
    elif damage == "not_json":
        manifest.write_text("{not json")
    else:
        for path in (root / "train").glob("*.parquet"):
            path.unlink()
    with pytest.raises(DatasetError, match=message):
        Dataset.open(root)


def test_a_manifest_without_this_kernel_is_refused(dataset_root, tmp_path):
    root = copy_dataset(dataset_root, tmp_path / "copy")
    manifest = json.loads((root / "manifest.json").read_text())
    manifest["kernel"]["weights"][0][0] = 5
    (root / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(DatasetError, match="another context kernel"):
        Dataset.open(root)
    del manifest["kernel"]
    (root / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(DatasetError, match="records no context kernel"):
        Dataset.open(root)


def test_shard_of_another_grid_is_named(dataset_root, tmp_path):
    root = copy_dataset(dataset_root, tmp_path / "copy")
    pq.write_table(segments_table([], Grid(bars=2)), root / "train" / "part-z.parquet")
    with pytest.raises(DatasetError, match="part-z.parquet: shard grid differs"):
        SegmentStream(Dataset.open(root), "train")


def test_the_silence_before_the_first_note_and_after_the_last_is_not_scored(dataset_root):
    """Every frame from a segment's first note to the release of its last counts, rests inside
    included; the padding of a last segment and the bar before a pickup do not."""
    dataset = Dataset.open(dataset_root)
    rows = DataLoader(SegmentStream(dataset, "train"), batch_size=64)
    batches = [to_batch(collated) for collated in rows]
    notes = torch.cat([b.notes for b in batches]).numpy()
    mask = torch.cat([b.mask for b in batches]).numpy()
    leading = trailing = inner_rests = 0
    for row, kept in zip(notes, mask, strict=True):
        sounding = np.flatnonzero(row[..., 0].any(-1))
        expected = np.zeros(len(row), dtype=bool)
        expected[sounding.min() : sounding.max() + 2] = True
        assert (kept == expected).all()
        leading += sounding.min() > 0
        trailing += sounding.max() + 2 < len(row)
        inner_rests += (~row[sounding.min() : sounding.max(), :, 0].any(-1)).sum()
    assert leading and trailing and inner_rests  # the fixture corpus has all three
    assert music_mask(torch.from_numpy(notes)).numpy().tolist() == mask.tolist()

"""Streaming datasets over an ingested folder: Parquet shards in, float tensors out.

Shards are read one row group at a time, so memory holds a row group and the shuffle buffer,
never the dataset. Work units (shard, row group) are dealt round-robin across distributed
ranks and then across DataLoader workers, so every segment is seen exactly once per epoch.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import torch
from torch.utils.data import IterableDataset, get_worker_info

from musicgen.errors import DatasetError
from musicgen.grid import Grid
from musicgen.protocol import NoteBatch
from musicgen.schema import SPLITS, TENSOR_COLUMNS, manifest_grid, read_manifest, table_arrays


@dataclass(frozen=True)
class Dataset:
    """An ingested dataset folder: its manifest, grid and shards per split."""

    root: Path
    manifest: dict
    grid: Grid

    @classmethod
    def open(cls, root: str | Path) -> Dataset:
        root = Path(root)
        if not root.is_dir():
            raise DatasetError(f"{root}: no such dataset folder")
        manifest = read_manifest(root)
        return cls(root, manifest, manifest_grid(manifest))

    def shards(self, split: str) -> list[Path]:
        if split not in SPLITS:
            raise DatasetError(f"unknown split {split!r}; splits: {', '.join(SPLITS)}")
        return sorted((self.root / split).glob("*.parquet"))

    def segments(self, split: str) -> int:
        return int(self.manifest.get("counts", {}).get(split, {}).get("segments", 0))

    def check_grid(self, grid: Grid) -> None:
        """A model trained on one grid cannot read another: say so before any work starts."""
        if not self.grid.same_tensors(grid):
            raise DatasetError(
                f"{self.root}: dataset grid {self.grid.to_dict()} does not match the model's {grid.to_dict()}"
            )


class SegmentStream(IterableDataset):
    """Segments of one split as dicts of tensors: notes/context [T, α, 3] float, position [T] long."""

    def __init__(
        self,
        dataset: Dataset,
        split: str,
        shuffle_buffer: int = 0,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        super().__init__()
        self.dataset, self.split = dataset, split
        self.shuffle_buffer, self.seed = shuffle_buffer, seed
        self.rank, self.world_size = rank, world_size
        self.epoch = 0
        self.units = [
            (path, group)
            for path in dataset.shards(split)
            for group in range(pq.ParquetFile(path).num_row_groups)
        ]

    def set_epoch(self, epoch: int) -> None:
        """Reshuffle differently (and reproducibly) each epoch."""
        self.epoch = epoch

    def my_units(self, worker: int = 0, workers: int = 1) -> list[tuple[Path, int]]:
        """The (shard, row group) units this rank's worker reads."""
        slot, slots = self.rank * workers + worker, self.world_size * workers
        return self.units[slot::slots]

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info else (0, 1)
        rng = random.Random(hash((self.seed, self.epoch, self.rank, worker)))
        units = self.my_units(worker, workers)
        if self.shuffle_buffer:
            units = rng.sample(units, len(units))
        rows = (row for unit in units for row in _read_unit(*unit))
        yield from _shuffled(rows, self.shuffle_buffer, rng) if self.shuffle_buffer else rows


def _read_unit(path: Path, group: int) -> Iterator[dict[str, torch.Tensor]]:
    table = pq.ParquetFile(path).read_row_group(group, columns=list(TENSOR_COLUMNS))
    arrays = table_arrays(table)
    notes = arrays["notes"].astype(np.float32)
    notes[..., 2] /= 127.0
    context = arrays["context"].astype(np.float32)
    for i in range(len(notes)):
        yield {
            "notes": torch.from_numpy(notes[i]),
            "context": torch.from_numpy(context[i]),
            "position": torch.from_numpy(arrays["position"][i].astype(np.int64)),
        }


def _shuffled(rows: Iterator, size: int, rng: random.Random) -> Iterator:
    buffer = []
    for row in rows:
        buffer.append(row)
        if len(buffer) >= size:
            yield buffer.pop(rng.randrange(len(buffer)))
    rng.shuffle(buffer)
    yield from buffer


def to_batch(collated: dict[str, torch.Tensor]) -> NoteBatch:
    """The DataLoader's collated dict -> the protocol's NoteBatch."""
    return NoteBatch(collated["notes"], collated["context"], collated["position"])

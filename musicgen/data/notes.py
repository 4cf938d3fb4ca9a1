"""Streaming datasets over an ingested folder: Parquet shards in, float tensors out.

Shards are read one row group at a time, so memory holds a row group and the shuffle buffer,
never the dataset. Work units (shard, row group) are dealt round-robin across distributed
ranks and then across DataLoader workers, so every segment is seen exactly once per epoch.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from torch.utils.data import IterableDataset, get_worker_info

from mg.data.schema import (
    SCHEMA_VERSION,
    SPLITS,
    TENSOR_COLUMNS,
    manifest_grid,
    read_manifest,
    table_arrays,
)
from mg.errors import DatasetError, first_line
from mg.models.protocol import NoteBatch, model_notes
from mg.representation.context import kernel_spec
from mg.representation.grid import Grid

Unit = tuple[Path, int]  # (shard, row group)


@dataclass(frozen=True)
class Dataset:
    """An ingested dataset folder: its manifest, grid and shards per split."""

    root: Path
    manifest: dict
    grid: Grid

    @classmethod
    def open(cls, root: str | Path) -> Dataset:
        """Check the folder (exists, manifest of our schema version, some shards) and open it."""
        root = Path(root)
        if not root.is_dir():
            raise DatasetError(f"{root}: no such dataset folder")
        try:
            manifest = read_manifest(root)
            grid = manifest_grid(manifest)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DatasetError(f"{root}: manifest.json is not valid JSON ({exc})") from None
        except (KeyError, TypeError, ValueError) as exc:
            raise DatasetError(f"{root}: manifest.json has no valid grid ({exc})") from None
        check_kernel(root, manifest, grid)
        dataset = cls(root, manifest, grid)
        if not any(dataset.shards(split) for split in SPLITS):
            raise DatasetError(f"{root}: no Parquet shards in {', '.join(SPLITS)}")
        return dataset

    def shards(self, split: str) -> list[Path]:
        if split not in SPLITS:
            raise DatasetError(f"unknown split {split!r}; splits: {', '.join(SPLITS)}")
        return sorted((self.root / split).glob("*.parquet"))

    def segments(self, split: str) -> int:
        return int(self.manifest.get("splits", {}).get(split, {}).get("segments", 0))

    def check_grid(self, grid: Grid) -> None:
        """A model trained on one grid cannot read another: say so before any work starts."""
        if not self.grid.same_tensors(grid):
            raise DatasetError(
                f"{self.root}: dataset grid {self.grid.to_dict()} does not match the model's {grid.to_dict()}"
            )

    def check_config(self, config: Any) -> None:
        """The same check against a model config's `alpha` (pitches) and `gamma` (rows of P_t)."""
        wanted = {"alpha": self.grid.alpha, "gamma": self.grid.position_width}
        for name, value in wanted.items():
            have = getattr(config, name, value)
            if have != value:
                raise DatasetError(
                    f"{self.root}: dataset grid has {name}={value}, the model's config {name}={have}"
                )

    def units(self, split: str) -> list[Unit]:
        """Every (shard, row group) of a split, each shard checked against the manifest."""
        return [unit for path in self.shards(split) for unit in _shard_units(path, self.grid)]


def check_kernel(root: Path, manifest: dict, grid: Grid) -> None:
    """The manifest's context kernel must be the one this mg computes for its grid: the stored
    context would otherwise mean something else than what generation computes."""
    recorded = manifest.get("kernel")
    if recorded is None:
        raise DatasetError(f"{root}: manifest.json records no context kernel")
    if recorded != kernel_spec(grid):
        raise DatasetError(
            f"{root}: manifest.json records another context kernel than this mg's for its grid "
            f"({recorded}); ingest the corpus again"
        )


def _shard_units(path: Path, grid: Grid) -> list[Unit]:
    shard = open_shard(path, grid)
    return [(path, group) for group in range(shard.num_row_groups)]


def parquet_file(path: Path) -> pq.ParquetFile:
    """A shard opened for reading with every page's checksum verified (ingest writes them): the
    one way `mg` opens a shard, so a damaged one is always the DatasetError naming it."""
    try:
        return pq.ParquetFile(path, page_checksum_verification=True)
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise DatasetError(f"{path}: not a readable Parquet shard ({first_line(exc)})") from None


def read_row_group(shard: pq.ParquetFile, path: Path, group: int, columns: Sequence[str]):
    """`columns` of one row group of a shard opened by `parquet_file` (a pyarrow Table); a page
    that fails its checksum or does not decode is a DatasetError naming the shard."""
    try:
        return shard.read_row_group(group, columns=list(columns))
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise DatasetError(
            f"{path}: row group {group} cannot be read ({first_line(exc)}); the shard is "
            "damaged: ingest the corpus again"
        ) from None


def row_groups(path: Path, columns: Sequence[str]) -> Iterator:
    """`columns` of every row group of a shard in order, one pyarrow Table at a time."""
    shard = parquet_file(path)
    for group in range(shard.num_row_groups):
        yield read_row_group(shard, path, group, columns)


def shard_rows(path: Path, group: int | None = None) -> int:
    """Rows of a shard (or of one of its row groups), from its footer."""
    metadata = parquet_file(path).metadata
    return (metadata if group is None else metadata.row_group(group)).num_rows


def open_shard(path: Path, grid: Grid) -> pq.ParquetFile:
    """A shard, checked readable and of our schema version and of `grid` (DatasetError if not)."""
    shard = parquet_file(path)
    metadata = shard.schema_arrow.metadata or {}
    version = metadata.get(b"mg.schema_version")
    if version is not None and version.decode() != str(SCHEMA_VERSION):
        raise DatasetError(
            f"{path}: shard schema version {version.decode()}, this mg reads {SCHEMA_VERSION}; "
            "re-ingest the corpus with `mg ingest`"
        )
    shard_grid = metadata.get(b"mg.grid")
    if shard_grid is not None and not Grid.from_dict(json.loads(shard_grid)).same_tensors(grid):
        raise DatasetError(f"{path}: shard grid differs from the manifest's {grid.to_dict()}")
    return shard


def deal(units: list, rank: int, world_size: int, worker: int, workers: int) -> list:
    """This rank's worker's share: round-robin over world_size × workers slots, no overlap."""
    slot, slots = rank * workers + worker, world_size * workers
    return units[slot::slots]


def worker_slot() -> tuple[int, int]:
    """(this DataLoader worker's id, number of workers); (0, 1) in the main process."""
    info = get_worker_info()
    return (info.id, info.num_workers) if info else (0, 1)


def distributed_slot(rank: int | None, world_size: int | None) -> tuple[int, int]:
    """Explicit rank and world size, else torch.distributed's when initialised, else (0, 1)."""
    if rank is not None and world_size is not None:
        if not 0 <= rank < world_size:
            raise ValueError(f"need 0 <= rank < world_size, got rank {rank} of {world_size}")
        return rank, world_size
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class SegmentStream(IterableDataset):
    """Segments of one split as dicts of tensors: notes/context [T, α, 3] float, position [T] long.

    rank/world_size default to torch.distributed's when it is initialised.
    """

    def __init__(
        self,
        dataset: Dataset,
        split: str,
        shuffle_buffer: int = 0,
        seed: int = 0,
        rank: int | None = None,
        world_size: int | None = None,
    ) -> None:
        super().__init__()
        self.dataset, self.split = dataset, split
        self.shuffle_buffer, self.seed = shuffle_buffer, seed
        self.rank, self.world_size = distributed_slot(rank, world_size)
        self.epoch = 0
        self.units = dataset.units(split)

    def set_epoch(self, epoch: int) -> None:
        """Reshuffle differently (and reproducibly) each epoch."""
        self.epoch = epoch

    def my_units(self, worker: int = 0, workers: int = 1) -> list[Unit]:
        """The (shard, row group) units this rank's worker reads."""
        return deal(self.units, self.rank, self.world_size, worker, workers)

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        worker, workers = worker_slot()
        rng = random.Random(hash((self.seed, self.epoch, self.rank, worker)))
        units = self.my_units(worker, workers)
        if self.shuffle_buffer:
            units = rng.sample(units, len(units))
        rows = (row for unit in units for row in _read_unit(*unit))
        yield from shuffled(rows, self.shuffle_buffer, rng)


def _read_unit(path: Path, group: int) -> Iterator[dict[str, torch.Tensor]]:
    arrays = table_arrays(read_row_group(parquet_file(path), path, group, TENSOR_COLUMNS))
    notes = model_notes(arrays["notes"])
    context = arrays["context"].astype(np.float32)
    position = arrays["position"].astype(np.int64)
    for i in range(len(notes)):
        yield {
            "notes": torch.from_numpy(notes[i]),
            "context": torch.from_numpy(context[i]),
            "position": torch.from_numpy(position[i]),
        }


def shuffled(rows: Iterable, size: int, rng: random.Random) -> Iterator:
    """A shuffle buffer of `size` items (0 or 1: the order as it comes)."""
    if size <= 1:
        yield from rows
        return
    buffer = []
    for row in rows:
        buffer.append(row)
        if len(buffer) >= size:
            pick = rng.randrange(len(buffer))
            buffer[pick], buffer[-1] = buffer[-1], buffer[pick]
            yield buffer.pop()
    rng.shuffle(buffer)
    yield from buffer


def to_batch(collated: dict[str, torch.Tensor]) -> NoteBatch:
    """The DataLoader's collated dict -> the protocol's NoteBatch, its mask from `music_mask`."""
    notes = collated["notes"]
    return NoteBatch(notes, collated["context"], collated["position"], music_mask(notes))


def music_mask(notes: torch.Tensor) -> torch.Tensor:
    """[B, T] bool: the frames of each segment from its first sounding frame to the one after its
    last (the release of the last note); the silence before and after is not scored.

    A piece's last segment is padded with silence to T steps (mg.representation.segment), and
    short pieces are mostly padding: folk tunes of 16-32 bars in 16-bar segments left a fifth
    of all frames silent after the music; a first segment starts at a bar line, before its
    pickup. Scored, that silence taught a model that silence lasts, and its samples fell silent
    for bars at a time. The first note is still scored (predicted from the silence before it),
    and rests inside the music are scored as music; a final rest inside a longer piece is lost,
    which costs little (the next segment starts at a bar line inside it).
    """
    sounding = notes[..., 0].amax(-1) > 0  # [B, T]
    steps = torch.arange(1, notes.shape[1] + 1, device=notes.device)
    last = (sounding * steps).amax(-1, keepdim=True)  # 1 + index of the last sounding frame
    first = torch.where(sounding, steps, notes.shape[1] + 1).amin(-1, keepdim=True)
    return (steps >= first) & (steps <= last + 1)

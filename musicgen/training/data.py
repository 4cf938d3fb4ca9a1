"""The data side of training for each input kind ("notes", "text"; see `mg.kinds`).

For each kind: how to load a split into protocol batches, how many time steps a batch holds,
and which validation metrics it reports (sums of numerator and denominator per batch, so the
split's metric is exact whatever the batch sizes). The trainer reaches these through
`mg.kinds.kind_of(family)` and never looks inside a batch.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from mg.data.notes import Dataset, SegmentStream, open_shard, shard_rows, to_batch
from mg.errors import DatasetError
from mg.models.heads import FrameDistribution
from mg.models.protocol import VELOCITY_MAX, NoteBatch
from mg.training.config import TrainConfig

Sums = dict[str, tuple[float, float]]  # metric -> (numerator, denominator) for one batch


@dataclass
class SplitLoader:
    """Batches of one split for one process, and how many an epoch yields (exact for notes;
    an estimate for text, whose tunes are dealt to processes by hash: the bar and the LR
    schedule use it, and torchrun ranks stop together at the first rank that runs out)."""

    loader: DataLoader
    convert: Callable[[Any], Any]
    batches: int
    stream: Any

    def epoch(self, epoch: int) -> Iterator[Any]:
        if hasattr(self.stream, "set_epoch"):
            self.stream.set_epoch(epoch)
        for collated in self.loader:
            yield self.convert(collated)


def check_dataset(dataset: Dataset) -> None:
    """Refuse an empty train or valid split, and shards that are unreadable or of another grid."""
    for split in ("train", "valid"):
        rows = sum(_shard_rows(path, dataset) for path in dataset.shards(split))
        if rows == 0:
            raise DatasetError(
                f"{dataset.root}: the {split} split has no segments; ingest more music "
                "(training needs both a train and a valid split)"
            )


def _shard_rows(path: Path, dataset: Dataset) -> int:
    return open_shard(path, dataset.grid).metadata.num_rows


def note_loader(
    dataset: Dataset, split: str, config: TrainConfig, rank: int, world: int, pin: bool
) -> SplitLoader:
    shuffle = config.shuffle_buffer if split == "train" else 0
    stream = SegmentStream(dataset, split, shuffle, config.seed, rank, world)
    workers = config.workers
    batches = sum(
        math.ceil(_unit_rows(stream.my_units(w, max(1, workers))) / config.batch_size)
        for w in range(max(1, workers))
    )
    loader = DataLoader(stream, batch_size=config.batch_size, num_workers=workers, pin_memory=pin)
    return SplitLoader(loader, to_batch, batches, stream)


def _unit_rows(units) -> int:
    return sum(shard_rows(path, group) for path, group in units)


def note_frames(batch: NoteBatch) -> int:
    return batch.notes.shape[0] * batch.notes.shape[1]


def note_sums(batch: NoteBatch, output: FrameDistribution, loss, parts) -> Sums:
    """valid/nll_frame (nats per frame, pressed), nll_articulation, velocity_mae (MIDI units)."""
    targets = batch.notes[:, 1:]
    weight = (
        torch.ones(targets.shape[:2], device=targets.device)
        if batch.mask is None
        else batch.mask[:, 1:].to(targets.dtype)
    )
    frames = float(weight.sum())
    pressed = targets[..., 0] * weight[..., None]
    velocity = output.time_slice(slice(None, -1)).conditionals(targets).velocity
    error = (velocity.float() - targets[..., 2]).abs() * VELOCITY_MAX
    return {
        "loss": (float(loss) * frames, frames),
        "nll_frame": (float(parts["nll_pressed"]) * frames, frames),
        "nll_articulation": (float(parts["nll_articulated"]) * frames, frames),
        "velocity_mae": (float((error * pressed).sum()), float(pressed.sum())),
    }


def text_loader(
    dataset: Dataset, split: str, config: TrainConfig, rank: int, world: int, pin: bool
) -> SplitLoader:
    """ABC text of the split's tunes in character chunks (mg.data.text)."""
    from mg.data.text import TextStream, text_stats, to_text_batch

    stats = text_stats(dataset, split)
    if stats.tunes == 0:
        raise DatasetError(
            f"{dataset.root}: the {split} split holds no ABC tunes; text families train on ABC sources"
        )
    shuffle = config.shuffle_buffer if split == "train" else 0
    stream = TextStream(
        dataset, split, shuffle_buffer=shuffle, seed=config.seed, rank=rank, world_size=world
    )
    chunks = math.ceil(stats.characters / (stream.length - 1) / world)
    batches = math.ceil(chunks / config.batch_size)  # an estimate: tunes are dealt by hash
    loader = DataLoader(
        stream, batch_size=config.batch_size, num_workers=config.workers, pin_memory=pin
    )
    return SplitLoader(loader, to_text_batch, batches, stream)


def text_frames(batch) -> int:
    return int(batch.tokens.numel())


def text_sums(batch, output, loss, parts) -> Sums:
    """valid/loss and each named part, weighted by the predicted characters."""
    if batch.mask is None:
        count = float(batch.tokens[:, 1:].numel())
    else:
        count = float(batch.mask[:, 1:].sum())
    sums = {"loss": (float(loss) * count, count)}
    sums.update({name: (float(value) * count, count) for name, value in parts.items()})
    return sums

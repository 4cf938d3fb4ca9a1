"""The text dataset of `char-rnn`: the distinct ABC tunes of a split, as fixed-length character ids.

Every segment row of an ABC tune carries the tune's whole text, once per segment and once per
transposition, so the stream keeps rows with `transpose == 0` and one text per `piece_id`.
Pieces are dealt to ranks and DataLoader workers by a hash of `piece_id` (each worker reads
only the small `piece_id`, `transpose` and `abc` columns, one row group at a time), so a tune
is read exactly once per epoch however ingest spread its rows over shards.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow.compute as pc
import torch
from torch.utils.data import IterableDataset

from mg.data.notes import Dataset, distributed_slot, row_groups, shuffled, worker_slot
from mg.data.vocabulary import Vocabulary, normalise
from mg.errors import DatasetError
from mg.models.protocol import TextBatch

TUNE_SEPARATOR = "\n"  # tunes end with a newline; one more makes the blank line ABC expects
TEXT_COLUMNS = ("piece_id", "transpose", "abc")


def tune_texts(
    dataset: Dataset, split: str, slot: int = 0, slots: int = 1
) -> Iterator[tuple[str, str]]:
    """(piece_id, abc) of each distinct ABC tune of the split whose piece hashes to `slot`."""
    seen: set[str] = set()
    for path in dataset.shards(split):
        for table in row_groups(path, TEXT_COLUMNS):
            keep = pc.and_(pc.equal(table["transpose"], 0), pc.is_valid(table["abc"]))
            rows = table.filter(keep)
            for piece_id, text in zip(
                rows["piece_id"].to_pylist(), rows["abc"].to_pylist(), strict=True
            ):
                if piece_id not in seen and _slot_of(piece_id, slots) == slot:
                    seen.add(piece_id)
                    yield piece_id, text


def _slot_of(piece_id: str, slots: int) -> int:
    return zlib.crc32(piece_id.encode()) % slots


@dataclass(frozen=True)
class TextStats:
    tunes: int
    characters: int
    unknown: int  # characters outside the vocabulary, read as id 0


def text_stats(dataset: Dataset, split: str, vocabulary: Vocabulary | None = None) -> TextStats:
    """Count the split's distinct tunes, characters and out-of-vocabulary characters."""
    vocabulary = vocabulary or Vocabulary()
    tunes = characters = unknown = 0
    for _, text in tune_texts(dataset, split):
        tunes += 1
        characters += len(normalise(text)) + len(TUNE_SEPARATOR)
        unknown += vocabulary.unknown(text)
    return TextStats(tunes, characters, unknown)


class TextStream(IterableDataset):
    """Chunks of `length` character ids: {"tokens": long [length], "mask": bool [length]}.

    Each worker joins its tunes (in a shuffled order when `shuffle_buffer` > 1) into one
    character stream and cuts it into chunks that overlap by one character (a chunk's first
    character is only an input, so it ends the chunk before as a target); the last, shorter
    chunk is padded and masked. Every character but the stream's first is a target exactly
    once. rank/world_size default to torch.distributed's when it is initialised.
    """

    def __init__(
        self,
        dataset: Dataset,
        split: str,
        length: int = 256,
        vocabulary: Vocabulary | None = None,
        shuffle_buffer: int = 0,
        seed: int = 0,
        rank: int | None = None,
        world_size: int | None = None,
    ) -> None:
        super().__init__()
        if length < 2:
            raise ValueError(f"chunk length must be at least 2, got {length}")
        if not dataset.shards(split):
            raise DatasetError(f"{dataset.root}: split {split!r} has no shards")
        self.dataset, self.split, self.length = dataset, split, length
        self.vocabulary = vocabulary or Vocabulary()
        self.shuffle_buffer, self.seed = shuffle_buffer, seed
        self.rank, self.world_size = distributed_slot(rank, world_size)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        worker, workers = worker_slot()
        slot, slots = self.rank * workers + worker, self.world_size * workers
        rng = random.Random(hash((self.seed, self.epoch, self.rank, worker)))
        tunes = (text for _, text in tune_texts(self.dataset, self.split, slot, slots))
        ordered = shuffled(tunes, self.shuffle_buffer, rng)
        yield from shuffled(self._chunks(ordered), self.shuffle_buffer, rng)

    def _chunks(self, texts: Iterator[str]) -> Iterator[dict[str, torch.Tensor]]:
        pending = np.zeros(0, dtype=np.int64)
        for text in texts:
            ids = self.vocabulary.encode(text + TUNE_SEPARATOR)
            pending = np.concatenate([pending, ids])
            while len(pending) >= self.length:
                yield _chunk(pending[: self.length], self.length)
                pending = pending[self.length - 1 :]  # the last id starts the next chunk
        if len(pending) > 1:
            yield _chunk(pending, self.length)


def _chunk(ids: np.ndarray, length: int) -> dict[str, torch.Tensor]:
    tokens = torch.zeros(length, dtype=torch.long)
    tokens[: len(ids)] = torch.from_numpy(ids.copy())
    mask = torch.zeros(length, dtype=torch.bool)
    mask[: len(ids)] = True
    return {"tokens": tokens, "mask": mask}


def to_text_batch(collated: dict[str, torch.Tensor]) -> TextBatch:
    """The DataLoader's collated dict -> the protocol's TextBatch."""
    return TextBatch(collated["tokens"], collated["mask"])

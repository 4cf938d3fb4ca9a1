"""Long pieces in chunks: truncated back-propagation through time with the state carried.

A batch of whole pieces takes one sequential step per frame of its longest piece, so pieces of
hundreds or thousands of frames make batches of one piece. In chunks, a group of similar-length
pieces (padded alike, as a whole-piece batch is) is cut along time into chunks of `chunk`
frames, one optimiser step each: the model reads a chunk from the state the group's previous
chunk left (detached: gradients stop at the chunk's start) and the group's first chunk from
the initial state, so the state is reset between pieces and a piece's loss never depends on
the piece before it. Each chunk holds one frame more than the model reads, the first frame of
the next chunk, as its last target: every frame of a piece is scored once, as in a whole-piece
batch (the loss summed over a group's chunks is the whole-piece loss, to rounding).

Only the training split is chunked; validation and test stay on whole pieces, the first frame
predicted from the initial state (the published protocol).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from mg.models.protocol import CarriesState, NoteBatch


@dataclass
class ChunkBatch(NoteBatch):
    """Frames p..q of a group of pieces: the model reads p..q-1, frames p+1..q are scored;
    `fresh`: p is the group's first frame (the initial state), else the next chunk of the
    group the previous batch belonged to."""

    fresh: bool = True

    def to(self, device: torch.device | str) -> ChunkBatch:
        moved = super().to(device)
        return ChunkBatch(moved.notes, moved.context, moved.position, moved.mask, self.fresh)

    def inputs(self) -> NoteBatch:
        """The frames the model reads (all but the last)."""
        mask = None if self.mask is None else self.mask[:, :-1]
        return NoteBatch(self.notes[:, :-1], self.context[:, :-1], self.position[:, :-1], mask)


def check_chunk(chunk: int) -> int:
    """A chunk length: 0 (whole pieces) or at least 2 frames."""
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 0 or chunk == 1:
        raise ValueError(
            f"--chunk {chunk!r}: give the frames per chunk (2 or more; 128 is the default) or 0 "
            "for whole pieces"
        )
    return chunk


def chunk_steps(frames: int, chunk: int) -> int:
    """Chunks (optimiser steps) of a group whose longest piece has `frames` real frames."""
    return -(-frames // chunk)


def split_chunks(batch: NoteBatch, chunk: int) -> Iterator[ChunkBatch]:
    """A collated group (silent first frame included) as chunks of `chunk` read frames, each
    with the next chunk's first frame as its last target."""
    steps = batch.notes.shape[1]
    for start in range(0, steps - 1, chunk):
        part = slice(start, min(start + chunk, steps - 1) + 1)
        mask = None if batch.mask is None else batch.mask[:, part]
        yield ChunkBatch(
            batch.notes[:, part], batch.context[:, part], batch.position[:, part], mask, start == 0
        )


def carries_state(model: nn.Module) -> bool:
    return isinstance(model, CarriesState)


def detach(state: Any) -> Any:
    """The state with its tensors cut from the graph (tuples, lists and None kept)."""
    if isinstance(state, torch.Tensor):
        return state.detach()
    if isinstance(state, tuple | list):
        return type(state)(detach(part) for part in state)
    return state


class StateCarrier(nn.Module):
    """What the training loop calls for chunks (the model's parameters, no more): each chunk
    from the state the previous one left, or from the initial state on a group's first chunk.
    Its output has one step per frame of the chunk, as `forward`'s has: the last one (which
    no loss reads) repeats the step before it."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        if not carries_state(model):
            raise ValueError(f"{type(model).__name__} carries no recurrent state across chunks")
        self.model = model
        self.state: Any = None

    def forward(self, chunk: ChunkBatch):
        inputs = chunk.inputs()
        output, state = self.model.forward_from(None if chunk.fresh else self.state, inputs)
        self.state = detach(state)
        steps = inputs.notes.shape[1]
        index = torch.arange(steps + 1, device=chunk.notes.device).clamp_max(steps - 1)
        return output.time_slice(index)
